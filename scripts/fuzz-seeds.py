#!/usr/bin/env python3
"""Seeds the fuzz corpora from the test captures (no dependencies).

fuzz/corpus/decode/: every packet of every classic pcap in testdata/pcaps
and testdata/peer (tunnels, DHCP, NBNS, ...), prefixed with the byte that makes the decode target pick the capture's
link type. fuzz/corpus/dns/: the UDP port 53/5353 payloads among them
(Ethernet/IPv4/IPv6, no options walking beyond IHL). fuzz/corpus/hub_message/:
the Python chefs' reference dumplings and the hellos. fuzz/corpus/replay/:
the small capture files themselves (under 64 KiB), of testdata/pcaps and
testdata/peer.

Usage: fuzz-seeds.py PCAPS_DIR FUZZ_DIR
"""
import hashlib
import json
import os
import struct
import sys

LINKS = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147]


def records(path):
    data = open(path, "rb").read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    elif magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    else:
        return None, []
    link = struct.unpack(end + "I", data[20:24])[0] & 0xFFFF
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        if off + 16 + caplen > len(data):
            break
        out.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return link, out


def udp_payload(link, pkt):
    """The UDP payload if port 53/5353 (Ethernet or raw IP only)."""
    if link == 1:
        if len(pkt) < 14:
            return None
        ethertype, ip = struct.unpack(">H", pkt[12:14])[0], pkt[14:]
        while ethertype in (0x8100, 0x88A8) and len(ip) >= 4:
            ethertype, ip = struct.unpack(">H", ip[2:4])[0], ip[4:]
    elif link in (12, 14, 101, 228, 229):
        ip = pkt
        ethertype = 0x0800 if ip[:1] and ip[0] >> 4 == 4 else 0x86DD
    else:
        return None
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
        udp = ip[(ip[0] & 0xF) * 4:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport = struct.unpack(">HH", udp[:4])
    return udp[8:] if {sport, dport} & {53, 5353} else None


def put(directory, blob):
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(blob)


def main(shared, fuzz):
    counts = {"decode": 0, "dns": 0, "hub_message": 0, "replay": 0}
    peer = os.path.join(shared, "..", "peer")
    for d in (shared, peer):
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if name.endswith((".pcap", ".pcapng")) and os.path.getsize(path) < 65536:
                put(os.path.join(fuzz, "corpus", "replay"), open(path, "rb").read())
                counts["replay"] += 1
    classic = [os.path.join(d, n) for d in (shared, peer) for n in sorted(os.listdir(d))]
    for path in classic:
        if not os.path.isfile(path):
            continue
        link, pkts = records(path)
        if link is None:
            continue
        pick = LINKS.index(link) if link in LINKS else len(LINKS) - 1
        for p in pkts[:200]:  # enough variety; the QUIC bulk capture has thousands
            put(os.path.join(fuzz, "corpus", "decode"), bytes([pick]) + p)
            counts["decode"] += 1
            dns = udp_payload(link, p)
            if dns:
                put(os.path.join(fuzz, "corpus", "dns"), dns)
                counts["dns"] += 1
    ref = os.path.join(shared, "python_ref")
    for root, _, files in os.walk(ref):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            try:
                doc = json.load(open(os.path.join(root, f)))
            except ValueError:
                continue
            items = doc if isinstance(doc, list) else [doc]
            for d in items[:50]:
                put(os.path.join(fuzz, "corpus", "hub_message"), json.dumps(d).encode())
                counts["hub_message"] += 1
    for hello in ({"kitchen_name": "k", "interface": "all", "filter": "tcp", "chefs": [],
                   "poke_interval": 5}, {"eater_name": "e"}):
        put(os.path.join(fuzz, "corpus", "hub_message"), json.dumps(hello).encode())
    print("fuzz seeds:", ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
