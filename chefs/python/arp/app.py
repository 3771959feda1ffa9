"""ARPChef: one dumpling per ARP packet, as netdumplings' ARPChef.

Payload: {operation, src_hw, src_ip, dst_hw, dst_ip, time, notes}. notes is
set on replies only: "source device is new" the first time an IP is seen in
a reply, "source device has new IP address" when a later reply maps it to
another MAC. As the Rust ARPChef: `time` is the capture time, and addresses
of unusual lengths are hex strings."""

import json

from netdumplings_chef import Chef, LayerKind, serve


def hw(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def proto(b: bytes) -> str:
    return ".".join(map(str, b)) if len(b) == 4 else hw(b)


class ARPChef(Chef):
    name = "ARPChef"

    def __init__(self):
        self.ip_mac = {}  # IP -> MAC, learned from replies

    def packet(self, packet):
        arp = packet.layer(LayerKind.ARP)
        if arp is None or len(arp) < 8:
            return None
        hlen, plen, op = arp[4], arp[5], int.from_bytes(arp[6:8], "big")
        # Like scapy, a packet cut short gives short (even empty) addresses.
        fields, at = [], 8
        for n in (hlen, plen, hlen, plen):
            fields.append(arp[at : at + n])
            at += n
        sha, spa, tha, tpa = fields
        src_hw, src_ip = hw(sha), proto(spa)
        notes = None
        if op == 2:
            known = self.ip_mac.get(src_ip)
            if known is None:
                notes = "source device is new"
            elif known != src_hw:
                notes = "source device has new IP address"
            self.ip_mac[src_ip] = src_hw
        return {
            "operation": {1: "request", 2: "reply"}.get(op, op),
            "src_hw": src_hw,
            "src_ip": src_ip,
            "dst_hw": hw(tha),
            "dst_ip": proto(tpa),
            "time": packet.timestamp,
            "notes": notes,
        }

    def export_state(self):
        return json.dumps(self.ip_mac).encode()

    def import_state(self, state):
        self.ip_mac = json.loads(state)


Handlers = serve(ARPChef)
