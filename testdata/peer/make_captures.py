#!/usr/bin/env python3
"""Write the captures of testdata/peer with scapy 2.4.5 (the Python peer's venv).

    cd testdata/peer && ../../.peer/venv/bin/python make_captures.py
    ../../.peer/venv/bin/python ../pcaps/tools/run_chefs.py *.pcap *.pcapng   # the oracle

Packets are built with scapy; the file formats scapy 2.4.5 cannot write
(pcapng, big-endian pcap) are packed here by hand, field by field, after
the pcap-ng draft (draft-ietf-opsawg-pcapng) and libpcap's savefile format.
Deterministic: fixed addresses, names and timestamps, so a rerun writes the
same bytes.
"""
import struct

from scapy.all import (ARP, DNS, DNSQR, DNSRR, IP, UDP, Ether, IPv6, Raw,
                       CookedLinux, raw)

T0 = 1700000000  # 2023-11-14, whole seconds: every resolution can say it exactly


def dns_query(name, qid, v6=False):
    ip = IPv6(src="2001:db8::1", dst="2001:db8::53") if v6 else IP(src="10.0.0.1", dst="10.0.0.53")
    return ip / UDP(sport=40000 + qid, dport=53) / DNS(id=qid, rd=1, qd=DNSQR(qname=name))


def dns_answer(name, qid, addr):
    return (IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=40000 + qid)
            / DNS(id=qid, qr=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=addr)))


def arp_request(src_ip, dst_ip):
    return ARP(op=1, hwsrc="02:00:00:00:00:01", psrc=src_ip, pdst=dst_ip)


ETH = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def on_ethernet(p):
    return Ether(**ETH) / p


def on_sll(p):
    # Linux cooked v1: packet type 0 (to us), ARPHRD_ETHER, 6-byte address.
    return CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00") / p


# ---- pcapng, packed by hand -------------------------------------------------

def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def block(kind, body, e):
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack(e + "II", kind, n) + body + struct.pack(e + "I", n)


def option(code, value, e):
    return struct.pack(e + "HH", code, len(value)) + pad4(value)


def shb(e):
    # Byte-order magic, version 1.0, section length unknown (-1).
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(link_type, tsresol, name, e):
    opts = option(2, name.encode(), e) + option(9, bytes([tsresol]), e) + option(0, b"", e)
    return block(1, struct.pack(e + "HHI", link_type, 0, 65535) + opts, e)


def epb(iface, units_per_s, t_ms, data, e):
    # Integer arithmetic: a float of nanoseconds since 1970 is off by ~100 ns.
    ts = t_ms * units_per_s // 1000
    body = struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data
    return block(6, body, e)


def three_link_types():
    """Ethernet (1, microseconds), Linux SLL (113, nanoseconds) and raw IP
    (101, milliseconds) in one section, packets interleaved: what
    `dumpcap -i eth0 -i any -i tun0` writes."""
    e = "<"
    ifaces = [(1, 6, "eth0", on_ethernet), (113, 9, "any", on_sll), (101, 3, "tun0", lambda p: p)]
    out = shb(e) + b"".join(idb(lt, res, name, e) for lt, res, name, _ in ifaces)
    packets = [
        (0, dns_query("eth.example.com", 1)),
        (1, dns_query("sll.example.com", 2)),
        (2, dns_query("raw.example.com", 3)),
        (0, arp_request("10.0.0.1", "10.0.0.2")),
        (1, arp_request("10.0.0.1", "10.0.0.3")),
        (2, dns_answer("raw.example.com", 3, "192.0.2.3")),
        (1, dns_query("v6.sll.example.com", 4, v6=True)),
        (0, dns_answer("eth.example.com", 1, "192.0.2.1")),
        (2, dns_query("raw2.example.com", 5)),
    ]
    for i, (k, p) in enumerate(packets):
        lt, res, _, frame = ifaces[k]
        # Whole milliseconds: exact in all three resolutions.
        out += epb(k, 10 ** res, T0 * 1000 + i * 250, raw(frame(p)), e)
    return out


def big_endian_pcapng():
    """A big-endian section (as a SPARC or PowerPC host writes), one Ethernet interface."""
    e = ">"
    out = shb(e) + idb(1, 6, "eth0", e)
    for i, p in enumerate([dns_query("big.example.com", 6), arp_request("10.0.0.1", "10.0.0.9"),
                           dns_answer("big.example.com", 6, "192.0.2.6")]):
        out += epb(0, 10 ** 6, (T0 + i) * 1000, raw(on_ethernet(p)), e)
    return out


def big_endian_pcap():
    """Classic pcap written big-endian (magic a1b2c3d4 read as bytes), microseconds."""
    out = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, p in enumerate([dns_query("bigpcap.example.com", 7), arp_request("10.0.0.1", "10.0.0.7"),
                           dns_query("bigpcap6.example.com", 8, v6=True)]):
        data = raw(on_ethernet(p))
        out += struct.pack(">IIII", T0 + i, 500000, len(data), len(data)) + data
    return out


FILES = {
    "pcapng-three-link-types.pcapng": three_link_types,
    "pcapng-big-endian.pcapng": big_endian_pcapng,
    "pcap-big-endian.pcap": big_endian_pcap,
}

if __name__ == "__main__":
    for name, make in FILES.items():
        with open(name, "wb") as f:
            f.write(make())
        print("wrote", name)
