//! Tunnels: packets carried inside packets. Each tunnel header is a layer,
//! and the packet inside is decoded into more layers of the same packet
//! (so a chef looking for DNS or ARP finds the inner one), as scapy 2.4.5
//! dissects them (its `bind_layers` rules, quoted at each case).
//!
//! Not decoded (their bytes stay one `payload` layer): Geneve, Teredo and
//! MPLS (scapy 2.4.5 does not dissect them by default either), GRE version 1
//! (PPTP) and GRE with source routing.

use etherparse::EtherType;

use crate::decoder::{be16, Decoder};
use crate::LayerKind;

/// How many tunnels deep the decoder goes; the packet inside the last one
/// is one `payload` layer. Real traffic nests two or three deep (VXLAN in
/// GRE in PPPoE); the bound keeps a crafted packet of nested headers from
/// costing more than a few passes, and the layer list short.
pub const MAX_TUNNEL_DEPTH: usize = 4;

/// UDP ports scapy 2.4.5 dissects as VXLAN: as destination 4789 (RFC 7348),
/// 4790 (VXLAN-GPE), 6633 (NSH), 8472 (Linux), 48879 (Cisco ACI).
const VXLAN_DST_PORTS: [u16; 5] = [4789, 4790, 6633, 8472, 48879];
/// ... and as source port (not 48879).
const VXLAN_SRC_PORTS: [u16; 4] = [4789, 4790, 6633, 8472];

/// VXLAN header length (RFC 7348; also VXLAN-GPE's).
const VXLAN_LEN: usize = 8;
/// The VXLAN-GPE "next protocol present" flag.
const VXLAN_NEXT_PROTOCOL: u8 = 0x04;
/// PPPoE header length (RFC 2516).
const PPPOE_LEN: usize = 6;
/// GRE's fixed part: flags and version, protocol type (RFC 2784).
const GRE_LEN: usize = 4;
/// GRE protocol type of bridged Ethernet (transparent Ethernet bridging).
const GRE_ETHERNET: u16 = 0x6558;

/// A tunnel the decoder opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tunnel {
    /// An IP datagram in IPv4 or IPv6 (protocol 4 or 41: IP-in-IP, 6in4, 4in6, 6in6).
    Ip,
    /// GRE (IP protocol 47).
    Gre,
    /// VXLAN (UDP, see [`VXLAN_DST_PORTS`]).
    Vxlan,
    /// PPPoE discovery (EtherType 0x8863).
    PppoeDiscovery,
    /// PPPoE session (EtherType 0x8864), carrying PPP.
    PppoeSession,
    /// The datagram an ICMP or ICMPv6 error quotes (RFC 792, RFC 4443).
    Quote,
}

impl Tunnel {
    /// `bind_layers(IP, IP, frag=0, proto=4)`, `(IP, IPv6, proto=41)`,
    /// `(IPv6, IP, nh=4)`, `(IP, GRE, frag=0, proto=47)`, ... (the caller
    /// has ruled out later fragments).
    pub(crate) fn for_ip_number(n: u8) -> Option<Tunnel> {
        match n {
            4 | 41 => Some(Tunnel::Ip),
            47 => Some(Tunnel::Gre),
            _ => None,
        }
    }

    /// `bind_layers(UDP, VXLAN, dport=4789)` and the other ports.
    pub(crate) fn for_udp_ports(src: u16, dst: u16) -> Option<Tunnel> {
        (VXLAN_DST_PORTS.contains(&dst) || VXLAN_SRC_PORTS.contains(&src)).then_some(Tunnel::Vxlan)
    }

    /// `bind_layers(Ether, PPPoED, type=0x8863)`, `(Ether, PPPoE, type=0x8864)`.
    pub(crate) fn for_ether_type(et: u16) -> Option<Tunnel> {
        match et {
            0x8863 => Some(Tunnel::PppoeDiscovery),
            0x8864 => Some(Tunnel::PppoeSession),
            _ => None,
        }
    }
}

impl<'a> Decoder<'a, '_> {
    /// Runs `f` with the packet cut at `end` (the end of the outer payload
    /// the inner packet lives in), then restores it.
    pub(crate) fn inner(&mut self, end: usize, f: impl FnOnce(&mut Self)) {
        let outer = self.base;
        self.base = outer.get(..end).unwrap_or(outer);
        f(self);
        self.base = outer;
    }

    /// Decodes the tunnel `t` whose header starts at `at`.
    pub(crate) fn tunnel(&mut self, t: Tunnel, at: usize) {
        // Nothing is opened inside a quoted datagram (it is a few bytes of
        // someone else's packet).
        if self.depth >= MAX_TUNNEL_DEPTH || self.quoted {
            return self.rest_as_payload(at);
        }
        self.depth += 1;
        match t {
            Tunnel::Ip => self.ip(at),
            Tunnel::Gre => self.gre(at),
            Tunnel::Vxlan => self.vxlan(at),
            Tunnel::PppoeDiscovery => self.pppoe(at, false),
            Tunnel::PppoeSession => self.pppoe(at, true),
            Tunnel::Quote => self.quote(at),
        }
        self.depth -= 1;
    }

    /// VXLAN (RFC 7348) and VXLAN-GPE: 8 bytes, then Ethernet, or what the
    /// GPE next-protocol byte says (`bind_bottom_up(VXLAN, IP,
    /// NextProtocol=1)`, IPv6 for 2, Ethernet for 0, 3 or none).
    fn vxlan(&mut self, at: usize) {
        let Some(header) = self.base.get(at..at + VXLAN_LEN) else {
            return self.rest_as_payload(at);
        };
        let next = match header[0] & VXLAN_NEXT_PROTOCOL != 0 {
            true => Some(header[3]),
            false => None,
        };
        self.push(LayerKind::Vxlan, at, VXLAN_LEN);
        let inner = at + VXLAN_LEN;
        match next {
            None | Some(0) | Some(3) => self.ethernet(inner),
            Some(1) | Some(2) => self.ip(inner),
            Some(_) => self.rest_as_payload(inner),
        }
    }

    /// GRE (RFC 2784/2890): 4 bytes, plus 4 for each of checksum (or
    /// routing), key and sequence number; then what the protocol type says
    /// (an EtherType; 0x6558 is an Ethernet frame).
    fn gre(&mut self, at: usize) {
        let (Some(flags), Some(proto)) = (be16(self.base, at), be16(self.base, at + 2)) else {
            return self.rest_as_payload(at);
        };
        // scapy: version 1 is GRE_PPTP, a different header.
        if flags & 0x0007 == 1 {
            return self.rest_as_payload(at);
        }
        let (checksum, routing) = (flags & 0x8000 != 0, flags & 0x4000 != 0);
        let (key, seq) = (flags & 0x2000 != 0, flags & 0x1000 != 0);
        let len = GRE_LEN
            + 4 * usize::from(checksum || routing)
            + 4 * usize::from(key)
            + 4 * usize::from(seq);
        if at + len > self.base.len() {
            return self.rest_as_payload(at);
        }
        self.push(LayerKind::Gre, at, len);
        let inner = at + len;
        if routing {
            // Source route entries follow (scapy's GRErouting): not decoded.
            return self.rest_as_payload(inner);
        }
        match proto {
            GRE_ETHERNET => self.ethernet(inner),
            et => self.ether_type(EtherType(et), inner),
        }
    }

    /// PPPoE (RFC 2516): 6 bytes. Discovery carries tags (left as
    /// payload); a session packet with code 0 carries PPP (`bind_layers(
    /// PPPoE, PPP, code=0)`): a 1- or 2-byte protocol, then IPv4 (0x0021)
    /// or IPv6 (0x0057); other protocols (LCP, IPCP, ...) are payload.
    fn pppoe(&mut self, at: usize, session: bool) {
        let Some(header) = self.base.get(at..at + PPPOE_LEN) else {
            return self.rest_as_payload(at);
        };
        let code = header[1];
        let kind = match session {
            true => LayerKind::PppoeSession,
            false => LayerKind::PppoeDiscovery,
        };
        self.push(kind, at, PPPOE_LEN);
        let ppp = at + PPPOE_LEN;
        let proto = match self.base.get(ppp) {
            // 0xff would be an HDLC address byte (scapy's HDLC), not a protocol.
            Some(0xff) | None => None,
            // Protocol field compression (RFC 1661 6.5): an odd first byte
            // is the whole protocol number (scapy writes IPv4 as 0x21).
            Some(&b) if b & 1 == 1 => Some((u16::from(b), 1)),
            Some(_) => be16(self.base, ppp).map(|p| (p, 2)),
        };
        let (true, 0, Some((proto, len))) = (session, code, proto) else {
            return self.rest_as_payload(ppp);
        };
        self.push(LayerKind::Ppp, ppp, len);
        match proto {
            0x0021 | 0x0057 => self.ip(ppp + len),
            _ => self.rest_as_payload(ppp + len),
        }
    }

    /// The datagram an ICMP error quotes: its IP header and as much of its
    /// transport header and payload as the error carries, as `quoted-*`
    /// layers (a chef counting UDP or DNS must not count the quote as the
    /// packet's own). Only a quote that starts with a plausible IP header
    /// (version 4 with a header length of at least 20 bytes, or version 6
    /// with its 40 bytes) is decoded; anything else stays payload.
    ///
    /// The packet's addresses and fragment offset stay the outer ones; its
    /// ports become the quoted transport's only when the packet has no
    /// transport of its own (an ICMP error never has), so a chef that wants
    /// DNS ports is handed an error about a DNS datagram.
    fn quote(&mut self, at: usize) {
        let plausible = match self.base.get(at).map(|b| (b >> 4, (b & 0x0f) as usize * 4)) {
            Some((4, ihl)) => ihl >= 20 && self.base.len() >= at + ihl,
            Some((6, _)) => self.base.len() >= at + 40,
            _ => false,
        };
        if !plausible {
            return self.rest_as_payload(at);
        }
        let outer = self.summary.clone();
        self.quoted = true;
        self.ip(at);
        self.quoted = false;
        let quoted_ports = (self.summary.src_port, self.summary.dst_port);
        self.summary = outer;
        if self.summary.src_port.is_none() {
            (self.summary.src_port, self.summary.dst_port) = quoted_ports;
        }
    }
}
