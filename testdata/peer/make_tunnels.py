#!/usr/bin/env python3
"""Captures of tunnels, ICMP errors, lenient DNS and application layers (scapy 2.4.5).

    cd testdata/peer && ../../.peer/venv/bin/python make_tunnels.py
    ../../.peer/venv/bin/python ../pcaps/tools/run_chefs.py FILE...   # the oracle

scapy.contrib's MPLS and Geneve are loaded to build those two (the peer's
chefs do not load them: to the peer their payload is Raw). Files in PENDING
go to ../peer-pending: the kitchen does not yet match the peer on them, so
they are not under test (see ../peer-pending/README.md).
"""
import struct
from scapy.all import *
from scapy.contrib.mpls import MPLS
from scapy.contrib.geneve import GENEVE

T0 = 1700000000
E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
def q(name, qid=1):
    return UDP(sport=40000 + qid, dport=53) / DNS(id=qid, rd=1, qd=DNSQR(qname=name))
def a(name, qid, addr):
    return UDP(sport=53, dport=40000 + qid) / DNS(id=qid, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=addr))
V4 = dict(src="10.0.0.1", dst="10.0.0.53")
O4 = dict(src="192.0.2.1", dst="192.0.2.2")
ARPQ = ARP(op=1, hwsrc="02:00:00:00:00:01", psrc="10.0.0.1", pdst="10.0.0.2")

FILES = {
 "vxlan.pcap": [Ether(**E)/IP(**O4)/UDP(sport=50000, dport=4789)/VXLAN(vni=42)/Ether(**E)/IP(**V4)/q("vxlan.example.com"),
                Ether(**E)/IP(**O4)/UDP(sport=50001, dport=4789)/VXLAN(vni=42)/Ether(**E)/ARPQ],
 "geneve.pcap": [Ether(**E)/IP(**O4)/UDP(sport=50000, dport=6081)/GENEVE(vni=7, proto=0x6558)/Ether(**E)/IP(**V4)/q("geneve.example.com")],
 "gre.pcap": [Ether(**E)/IP(**O4)/GRE(proto=0x0800)/IP(**V4)/q("gre.example.com"),
              Ether(**E)/IP(**O4)/GRE(proto=0x6558)/Ether(**E)/ARPQ],
 "gre-in-vlan.pcap": [Ether(**E)/Dot1Q(vlan=10)/IP(**O4)/GRE(proto=0x0800)/IP(**V4)/q("grevlan.example.com")],
 "pppoe.pcap": [Ether(**E, type=0x8863)/PPPoED(code=0x09),
                Ether(**E)/PPPoE(sessionid=1)/PPP(proto=0x0021)/IP(**V4)/q("pppoe.example.com")],
 "ip-in-ip.pcap": [Ether(**E)/IP(**O4)/IP(**V4)/q("ipip.example.com"),
                   Ether(**E)/IP(**O4)/IPv6(src="2001:db8::1", dst="2001:db8::53")/q("6in4.example.com"),
                   Ether(**E)/IPv6(src="2001:db8:1::1", dst="2001:db8:1::2")/IP(**V4)/q("4in6.example.com")],
 "teredo.pcap": [Ether(**E)/IP(**O4)/UDP(sport=3544, dport=50000)/IPv6(src="2001::1", dst="2001:db8::53")/q("teredo.example.com")],
 "mpls.pcap": [Ether(**E)/MPLS(label=16, s=1, ttl=64)/IP(**V4)/q("mpls.example.com")],
 "icmp-error-dns.pcap": [Ether(**E)/IP(src="10.0.0.53", dst="10.0.0.1")/ICMP(type=3, code=3)/IPerror(**V4)/UDPerror(sport=40001, dport=53)/DNS(id=1, rd=1, qd=DNSQR(qname="quoted.example.com")),
                         Ether(**E)/IPv6(src="2001:db8::53", dst="2001:db8::1")/ICMPv6DestUnreach(code=4)/IPerror6(src="2001:db8::1", dst="2001:db8::53")/UDPerror(sport=40002, dport=53)/DNS(id=2, rd=1, qd=DNSQR(qname="quoted6.example.com"))],
 "dns-corrupt-additionals.pcap": [Ether(**E)/IP(**V4)/UDP(sport=40001, dport=53)/Raw(raw(DNS(id=1, rd=1, qd=DNSQR(qname="okquestion.example.com"), arcount=1)) + b"\xc0\x40\x00\x01\x00"),
                                  Ether(**E)/IP(**V4)/UDP(sport=40002, dport=53)/Raw(raw(DNS(id=2, rd=1, qd=DNSQR(qname="forward.example.com"), ancount=1)) + b"\xc0\x30\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x01\x02\x03\x04")],
 "dhcp.pcap": [Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")/IP(src="0.0.0.0", dst="255.255.255.255")/UDP(sport=68, dport=67)/BOOTP(chaddr=b"\x02\x00\x00\x00\x00\x01", xid=1)/DHCP(options=[("message-type", "discover"), ("hostname", "box"), "end"])],
 "dhcpv6.pcap": [Ether(**E)/IPv6(src="fe80::1", dst="ff02::1:2")/UDP(sport=546, dport=547)/DHCP6_Solicit(trid=1)/DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:01"))/DHCP6OptElapsedTime()],
 "nbns.pcap": [Ether(**E)/IP(src="10.0.0.1", dst="10.0.0.255")/UDP(sport=137, dport=137)/NBNSQueryRequest(QUESTION_NAME="WORKGROUP")],
 "ntp.pcap": [Ether(**E)/IP(src="10.0.0.1", dst="10.0.0.123")/UDP(sport=123, dport=123)/NTP(version=4, ref=0, orig=0, recv=0, sent=T0 + 2208988800)],
}
PENDING = {"dns-corrupt-additionals.pcap"}

for name, pkts in FILES.items():
    for i, p in enumerate(pkts):
        p.time = T0 + i
    path = "../peer-pending/" + name if name in PENDING else name
    wrpcap(path, pkts)
    print("wrote", path)
