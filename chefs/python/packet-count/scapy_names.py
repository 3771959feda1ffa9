"""scapy 2.4.5's names for a packet's layers, from the kitchen's decoded
layers: the rules of docs/scapy-layer-names.md (the Rust reference is
chefs/rust/dissect/src/lib.rs). Never raises on hostile bytes."""

from typing import Iterator, Optional

from netdumplings_chef import LayerKind as K, Packet

SIMPLE_NAMES = {
    K.ETHERNET: "Ethernet",
    K.LINUX_SLL: "cooked linux",
    K.LOOPBACK: "Loopback",
    K.VLAN: "802.1Q",
    K.QINQ: "802_1AD",
    K.ARP: "ARP",
    K.IPV4: "IP",
    K.TCP: "TCP",
    K.UDP: "UDP",
    K.PADDING: "Padding",
}

IPV6_EXTENSION_NAMES = {
    0: "IPv6 Extension Header - Hop-by-Hop Options Header",
    43: "IPv6 Option Header Routing",
    60: "IPv6 Extension Header - Destination Options Header",
    51: "AH",
}

ICMPV6_NAMES = {
    1: "ICMPv6 Destination Unreachable",
    2: "ICMPv6 Packet Too Big",
    3: "ICMPv6 Time Exceeded",
    4: "ICMPv6 Parameter Problem",
    128: "ICMPv6 Echo Request",
    129: "ICMPv6 Echo Reply",
    130: "MLDv2 - Multicast Listener Query",
    131: "MLD - Multicast Listener Report",
    132: "MLD - Multicast Listener Done",
    133: "ICMPv6 Neighbor Discovery - Router Solicitation",
    134: "ICMPv6 Neighbor Discovery - Router Advertisement",
    135: "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
    136: "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
    137: "ICMPv6 Neighbor Discovery - Redirect",
    143: "MLDv2 - Multicast Listener Report",
}

STP_LEN = 35
"""Length of scapy's `STP` layer (a configuration BPDU)."""


def byte(b: bytes, i: int) -> Optional[int]:
    return b[i] if i < len(b) else None


def layer_names(packet: Packet) -> Iterator[str]:
    """scapy's name of every layer of the packet, outermost first."""
    ipv6_next = transport = icmp_type = link_8023_len = None
    for kind, b in packet.layers():
        if kind in SIMPLE_NAMES:
            yield SIMPLE_NAMES[kind]
            if kind in (K.TCP, K.UDP):
                transport = kind
        elif kind == K.IEEE8023:
            yield "802.3"
            if len(b) >= 14:
                link_8023_len = int.from_bytes(b[12:14], "big")
        elif kind == K.IPV6:
            yield "IPv6"
            ipv6_next = byte(b, 6)
        elif kind == K.IPV6_EXTENSION:
            yield IPV6_EXTENSION_NAMES.get(ipv6_next, "IPv6 Extension Header")
            ipv6_next = byte(b, 0)
        elif kind == K.IPV6_FRAGMENT:
            yield "IPv6 Extension Header - Fragmentation header"
            ipv6_next = byte(b, 0)
        elif kind == K.ICMPV4:
            yield "ICMP"
            transport, icmp_type = kind, byte(b, 0)
        elif kind == K.ICMPV6:
            transport = kind
            yield ICMPV6_NAMES.get(byte(b, 0), "ICMPv6 Unknown")
        elif kind == K.PAYLOAD:
            yield from payload_names(packet, b, transport, icmp_type, link_8023_len)


def payload_names(packet, b, transport, icmp_type, link_8023_len) -> Iterator[str]:
    if not b:
        return
    if packet.fragment_offset:  # a non-first fragment (None or 0 otherwise)
        yield "Raw"
        return
    if transport in (K.UDP, K.TCP):
        message = dns_message(packet)
        if message is not None and valid_dns(message):
            yield "DNS"
            # Over TCP, bytes after the length-prefixed message are Raw.
            if transport == K.TCP and len(b) > len(message) + 2:
                yield "Raw"
            return
        ports = (packet.src_port, packet.dst_port)
        if transport == K.UDP and 5355 in ports:
            # scapy's LLMNR: query or response by the QR bit.
            response = len(b) > 2 and b[2] & 0x80
            yield f"Link Local Multicast Node Resolution - {'Response' if response else 'Query'}"
        elif transport == K.UDP and 123 in ports:
            yield "NTPHeader"
        else:
            yield "Raw"
    elif transport == K.ICMPV4 and icmp_type in (3, 4, 5, 11, 12):
        # An ICMP error quotes the offending IP header and 8 bytes of it.
        ihl = (b[0] & 0x0F) * 4
        if b[0] >> 4 != 4 or ihl < 20 or len(b) < 20:
            yield "Raw"
            return
        yield "IP in ICMP"
        rest = b[ihl:]
        if len(rest) >= 8:
            quoted = {17: "UDP in ICMP", 6: "TCP in ICMP", 1: "ICMP in ICMP"}.get(b[9])
            if quoted:
                yield quoted
        if len(rest) > 8:
            yield "Raw"
    elif transport == K.ICMPV6:
        return  # the message body belongs to the ICMPv6 layer
    elif transport is None and link_8023_len is not None:
        yield "LLC"
        if b[:2] == b"\x42\x42":
            yield "Spanning Tree Protocol"
            if len(b) > 3 + STP_LEN:
                yield "Raw"
        elif len(b) > 3:
            yield "Raw"
    else:
        yield "Raw"


def dns_message(packet: Packet) -> Optional[bytes]:
    """The DNS message the packet carries where scapy would look for one:
    UDP port 53 or 5353, or TCP port 53 after its 2-byte length prefix."""
    if packet.fragment_offset:
        return None
    ports = (packet.src_port, packet.dst_port)
    payload = packet.layer(K.PAYLOAD)
    if None in ports or payload is None:
        return None
    if packet.has(K.UDP) and (53 in ports or 5353 in ports):
        return payload
    if packet.has(K.TCP) and 53 in ports and len(payload) >= 2:
        length = int.from_bytes(payload[:2], "big")
        if len(payload) >= 2 + length:
            return payload[2 : 2 + length]
    return None


# Question types simple-dns (the Rust chefs' DNS parser) accepts.
QTYPES = frozenset(
    [*range(1, 19), *range(20, 24), 28, 29, 33, 35, 36, 37, 41, 43, *range(45, 50)]
    + [63, 64, 65, 108, 109, *range(251, 256), 257]
)
CLASSES = frozenset([1, 2, 3, 4, 254])
OPT = 41
MAX_NAME_LENGTH = 255


class Malformed(Exception):
    pass


def valid_dns(m: bytes) -> bool:
    """Whether the message parses as DNS (docs/scapy-layer-names.md, "Valid DNS")."""
    if len(m) < 12 or m[3] & 0x40:  # too short, or the reserved Z bit set
        return False
    qd, an, ns, ar = (int.from_bytes(m[i : i + 2], "big") for i in (4, 6, 8, 10))
    try:
        at = 12
        for _ in range(qd):
            at = skip_name(m, at)
            qtype, qclass = u16(m, at), u16(m, at + 2)
            at += 4
            if qtype not in QTYPES or qclass & 0x7FFF not in CLASSES | {255}:
                return False
        for _ in range(an + ns + ar):
            at = skip_name(m, at)
            rtype, rclass, rdlength = u16(m, at), u16(m, at + 2), u16(m, at + 8)
            at += 10 + rdlength
            if at > len(m):
                return False
            if rtype != OPT and rclass & 0x7FFF not in CLASSES:
                return True  # simple-dns refuses the class; the questions parsed
        return True
    except Malformed:
        return False


def u16(m: bytes, at: int) -> int:
    if at + 2 > len(m):
        raise Malformed
    return (m[at] << 8) | m[at + 1]


def skip_name(m: bytes, at: int) -> int:
    """Checks the name at `at`; returns where the record continues after it."""
    name_len, resume = 0, None
    while True:
        if at >= len(m):
            raise Malformed
        length = m[at]
        if length == 0:
            return at + 1 if resume is None else resume
        if length & 0xC0 == 0xC0:
            if at + 1 >= len(m):
                raise Malformed
            target = ((length & 0x3F) << 8) | m[at + 1]
            if target >= at:  # only backwards, so it cannot loop
                raise Malformed
            if resume is None:
                resume = at + 2
            at = target
            continue
        name_len += 1 + length
        if name_len >= MAX_NAME_LENGTH or length > 63 or at + 1 + length > len(m):
            raise Malformed
        at += 1 + length
