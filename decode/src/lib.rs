//! Native packet decoding: raw captured bytes -> the layer summary chefs get.
//!
//! The heavy lifting (Ethernet, VLAN, ARP, IPv4, IPv6, TCP, UDP, ICMP) is
//! etherparse's lax slicer, which tolerates length fields that point past the
//! captured bytes and reports what it could decode. Around it this module
//! adds what etherparse leaves to the caller: link types other than Ethernet
//! (Linux SLL v1/v2, loopback, raw IP), IEEE 802.3 length frames, the
//! transport header of *first* IP fragments, IPv6 extension-header walking,
//! and the split of trailing bytes into `payload` (inside the IP datagram)
//! and `padding` (after it).
//!
//! Invariant: [`decode`] never panics and every layer it reports lies within
//! the captured bytes (`offset + length <= data.len()`). Every slice access
//! below uses `get`, and offsets come from pointer differences of sub-slices
//! etherparse returned for the same buffer. `fuzz/` (`just fuzz decode`)
//! checks both on arbitrary bytes.
//!
//! Its own crate (not a module of `nd-runtime`) so it can be fuzzed and
//! reused without wasmtime; [`LayerKind`] mirrors the WIT `layer-kind` enum
//! case for case (a test in `nd-runtime` compares the two).

#![forbid(unsafe_code)]

mod decoder;
#[cfg(test)]
mod tests;
mod tunnel;

pub use tunnel::MAX_TUNNEL_DEPTH;

use std::net::IpAddr;

use decoder::Decoder;

/// What a decoded layer is; the discriminant is the case's position in the
/// WIT `layer-kind` enum (`wit/chef.wit`), which is what batches carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LayerKind {
    /// Ethernet II header (14 bytes), EtherType >= 0x0600.
    Ethernet = 0,
    /// IEEE 802.3 header with a length field (EtherType < 0x0600).
    Ieee8023 = 1,
    /// Linux "cooked" capture header (v1 16 bytes, v2 20 bytes).
    LinuxSll = 2,
    /// BSD/Linux loopback header (4 bytes).
    Loopback = 3,
    /// IEEE 802.1Q VLAN tag.
    Vlan = 4,
    /// IEEE 802.1ad service tag (QinQ outer tag).
    Qinq = 5,
    /// ARP packet.
    Arp = 6,
    /// IPv4 header including options.
    Ipv4 = 7,
    /// IPv6 fixed header.
    Ipv6 = 8,
    /// An IPv6 extension header other than a fragment header.
    Ipv6Extension = 9,
    /// IPv6 fragment header.
    Ipv6Fragment = 10,
    /// TCP header including options.
    Tcp = 11,
    /// UDP header.
    Udp = 12,
    /// ICMPv4 header.
    Icmpv4 = 13,
    /// ICMPv6 header.
    Icmpv6 = 14,
    /// Bytes above the last decoded header.
    Payload = 15,
    /// Bytes after the end of the IP datagram (or ARP packet).
    Padding = 16,
    /// VXLAN header (8 bytes); an Ethernet frame (or IP) follows.
    Vxlan = 17,
    /// GRE header (4 to 16 bytes); what its protocol type says follows.
    Gre = 18,
    /// PPPoE discovery header (6 bytes); tags follow.
    PppoeDiscovery = 19,
    /// PPPoE session header (6 bytes); PPP follows.
    PppoeSession = 20,
    /// PPP protocol field (1 or 2 bytes); IPv4 or IPv6 follows.
    Ppp = 21,
    /// The IPv4 header an ICMP error quotes.
    QuotedIpv4 = 22,
    /// The IPv6 header an ICMP(v6) error quotes.
    QuotedIpv6 = 23,
    /// The TCP header (or its first bytes) an ICMP error quotes.
    QuotedTcp = 24,
    /// The UDP header an ICMP error quotes.
    QuotedUdp = 25,
    /// The ICMPv4 header an ICMP error quotes.
    QuotedIcmpv4 = 26,
    /// The ICMPv6 header an ICMPv6 error quotes.
    QuotedIcmpv6 = 27,
}

impl LayerKind {
    /// Every kind, in WIT order.
    pub const ALL: [LayerKind; 28] = [
        LayerKind::Ethernet,
        LayerKind::Ieee8023,
        LayerKind::LinuxSll,
        LayerKind::Loopback,
        LayerKind::Vlan,
        LayerKind::Qinq,
        LayerKind::Arp,
        LayerKind::Ipv4,
        LayerKind::Ipv6,
        LayerKind::Ipv6Extension,
        LayerKind::Ipv6Fragment,
        LayerKind::Tcp,
        LayerKind::Udp,
        LayerKind::Icmpv4,
        LayerKind::Icmpv6,
        LayerKind::Payload,
        LayerKind::Padding,
        LayerKind::Vxlan,
        LayerKind::Gre,
        LayerKind::PppoeDiscovery,
        LayerKind::PppoeSession,
        LayerKind::Ppp,
        LayerKind::QuotedIpv4,
        LayerKind::QuotedIpv6,
        LayerKind::QuotedTcp,
        LayerKind::QuotedUdp,
        LayerKind::QuotedIcmpv4,
        LayerKind::QuotedIcmpv6,
    ];

    /// The `quoted-*` kind of an IP or transport kind (what it is inside
    /// the datagram an ICMP error quotes).
    pub fn quoted(self) -> Option<LayerKind> {
        Some(match self {
            LayerKind::Ipv4 => LayerKind::QuotedIpv4,
            LayerKind::Ipv6 => LayerKind::QuotedIpv6,
            LayerKind::Tcp => LayerKind::QuotedTcp,
            LayerKind::Udp => LayerKind::QuotedUdp,
            LayerKind::Icmpv4 => LayerKind::QuotedIcmpv4,
            LayerKind::Icmpv6 => LayerKind::QuotedIcmpv6,
            _ => return None,
        })
    }

    /// The kind with WIT position `n`, if there is one.
    pub fn from_number(n: u8) -> Option<LayerKind> {
        LayerKind::ALL.get(n as usize).copied()
    }
}

/// One decoded layer: what it is and where its bytes are in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// What the layer is.
    pub kind: LayerKind,
    /// Offset of its first byte from the start of the packet.
    pub offset: u32,
    /// Its captured length.
    pub length: u32,
}

/// Link types the kitchen decodes (LINKTYPE_* numbers from libpcap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// 0: BSD loopback, 4-byte address family in host byte order.
    Null,
    /// 1: Ethernet (with 802.1Q/802.1ad tags and 802.3 length frames).
    Ethernet,
    /// 12, 14, 101: raw IP (version nibble decides).
    Raw,
    /// 108: OpenBSD loopback, address family in network byte order.
    Loop,
    /// 113: Linux cooked capture v1.
    LinuxSll,
    /// 228: raw IPv4.
    Ipv4,
    /// 229: raw IPv6.
    Ipv6,
    /// 276: Linux cooked capture v2.
    LinuxSll2,
    /// Anything else: the whole packet is reported as one `payload` layer.
    Unknown(u16),
}

impl LinkType {
    /// Maps a LINKTYPE number.
    pub fn from_linktype(n: u16) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }
}

/// What the decoder found besides the layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Source address of the (last) IP header.
    pub src_addr: Option<IpAddr>,
    /// Destination address of the (last) IP header.
    pub dst_addr: Option<IpAddr>,
    /// TCP/UDP source port.
    pub src_port: Option<u16>,
    /// TCP/UDP destination port.
    pub dst_port: Option<u16>,
    /// IP fragment offset in bytes, for fragments.
    pub fragment_offset: Option<u32>,
}

/// Decodes `data` captured on `link`, appending its layers to `layers`.
pub fn decode(link: LinkType, data: &[u8], layers: &mut Vec<Layer>) -> Summary {
    let mut d = Decoder::new(data, layers);
    d.link(link);
    d.summary
}
