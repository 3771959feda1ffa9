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

use etherparse::{
    EtherType, IpNumber, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice,
};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
}

impl LayerKind {
    /// Every kind, in WIT order.
    pub const ALL: [LayerKind; 17] = [
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
    ];

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
    let mut d = Decoder {
        base: data,
        layers,
        summary: Summary::default(),
    };
    d.link(link);
    d.summary
}

struct Decoder<'a, 'l> {
    base: &'a [u8],
    layers: &'l mut Vec<Layer>,
    summary: Summary,
}

impl<'a> Decoder<'a, '_> {
    /// Offset of `part` (a sub-slice of `base`) from the start of `base`.
    fn off(&self, part: &[u8]) -> usize {
        (part.as_ptr() as usize)
            .saturating_sub(self.base.as_ptr() as usize)
            .min(self.base.len())
    }

    fn push(&mut self, kind: LayerKind, offset: usize, length: usize) {
        let offset = offset.min(self.base.len());
        let length = length.min(self.base.len() - offset);
        self.layers.push(Layer {
            kind,
            offset: offset as u32,
            length: length as u32,
        });
    }

    fn push_slice(&mut self, kind: LayerKind, part: &[u8]) {
        let off = self.off(part);
        self.push(kind, off, part.len());
    }

    /// Whatever is left from `offset` on, as one `payload` layer.
    fn rest_as_payload(&mut self, offset: usize) {
        if offset < self.base.len() {
            self.push(LayerKind::Payload, offset, self.base.len() - offset);
        }
    }

    fn link(&mut self, link: LinkType) {
        let data = self.base;
        match link {
            LinkType::Ethernet => self.ethernet(),
            LinkType::LinuxSll => {
                // 16-byte header; protocol type (an EtherType for Ethernet-like
                // devices) in the last two bytes.
                let Some(proto) = be16(data, 14) else {
                    return self.rest_as_payload(0);
                };
                self.push(LayerKind::LinuxSll, 0, 16);
                self.ether_type(EtherType(proto), 16);
            }
            LinkType::LinuxSll2 => {
                // 20-byte header; protocol type first.
                let Some(proto) = be16(data, 0).filter(|_| data.len() >= 20) else {
                    return self.rest_as_payload(0);
                };
                self.push(LayerKind::LinuxSll, 0, 20);
                self.ether_type(EtherType(proto), 20);
            }
            LinkType::Null | LinkType::Loop => {
                if data.len() < 4 {
                    return self.rest_as_payload(0);
                }
                self.push(LayerKind::Loopback, 0, 4);
                self.ip(4);
            }
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => self.ip(0),
            LinkType::Unknown(_) => self.rest_as_payload(0),
        }
    }

    fn ethernet(&mut self) {
        let data = self.base;
        let Some(type_or_len) = be16(data, 12) else {
            return self.rest_as_payload(0);
        };
        if type_or_len < 0x0600 {
            // IEEE 802.3: a length field, then (usually) LLC. Bytes beyond
            // the length are padding.
            self.push(LayerKind::Ieee8023, 0, 14);
            let end = (14 + type_or_len as usize).min(data.len());
            if end > 14 {
                self.push(LayerKind::Payload, 14, end - 14);
            }
            if end < data.len() {
                self.push(LayerKind::Padding, end, data.len() - end);
            }
            return;
        }
        match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => self.sliced(&p, 0, None),
            Err(_) => self.rest_as_payload(0),
        }
    }

    fn ether_type(&mut self, ether_type: EtherType, offset: usize) {
        let Some(rest) = self.base.get(offset..) else {
            return;
        };
        let p = LaxSlicedPacket::from_ether_type(ether_type, rest);
        self.sliced(&p, offset, Some(ether_type.0));
    }

    fn ip(&mut self, offset: usize) {
        let Some(rest) = self.base.get(offset..) else {
            return;
        };
        match LaxSlicedPacket::from_ip(rest) {
            Ok(p) => self.sliced(&p, offset, None),
            Err(_) => self.rest_as_payload(offset),
        }
    }

    /// Turns etherparse's view into layers. `start` is where the sliced part
    /// begins; `ether_type` is the EtherType of what starts there, when the
    /// caller knows it (Linux SLL), else it is read from the last link header.
    fn sliced(&mut self, p: &LaxSlicedPacket<'a>, start: usize, ether_type: Option<u16>) {
        // The end of the last thing decoded; bytes after it are payload or padding.
        let mut end = start;
        if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
            let hdr = eth.header_slice();
            self.push_slice(LayerKind::Ethernet, hdr);
            end = self.off(hdr) + hdr.len();
        }
        for ext in &p.link_exts {
            if let LaxLinkExtSlice::Vlan(v) = ext {
                let hdr = v.header_slice();
                let off = self.off(hdr);
                // The TPID is the EtherType just before the tag.
                let tpid = off.checked_sub(2).and_then(|o| be16(self.base, o));
                let kind = match tpid {
                    Some(0x88a8) | Some(0x9100) => LayerKind::Qinq,
                    _ => LayerKind::Vlan,
                };
                self.push(kind, off, hdr.len());
                end = off + hdr.len();
            }
        }
        let datagram_end;
        // Where the transport says its payload ends (UDP length), if it does.
        let mut payload_end = None;
        match &p.net {
            Some(LaxNetSlice::Arp(arp)) => {
                let s = arp.slice();
                self.push_slice(LayerKind::Arp, s);
                end = self.off(s) + s.len();
                datagram_end = Some(end);
            }
            Some(LaxNetSlice::Ipv4(ip)) => {
                let hdr = ip.header();
                let hs = hdr.slice();
                let off = self.off(hs);
                self.push(LayerKind::Ipv4, off, hs.len());
                end = off + hs.len();
                self.summary.src_addr = Some(v4(hdr.source()));
                self.summary.dst_addr = Some(v4(hdr.destination()));
                let frag = u32::from(hdr.fragments_offset().value()) * 8;
                if hdr.more_fragments() || frag != 0 {
                    self.summary.fragment_offset = Some(frag);
                }
                datagram_end = Some(off + hdr.total_len() as usize);
                (end, payload_end) =
                    self.transport(p, ip.payload().ip_number, ip.payload().payload, end, frag);
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let hdr = ip.header();
                let hs = hdr.slice();
                let off = self.off(hs);
                self.push(LayerKind::Ipv6, off, hs.len());
                end = off + hs.len();
                self.summary.src_addr = Some(v6(hdr.source()));
                self.summary.dst_addr = Some(v6(hdr.destination()));
                datagram_end = Some(end + hdr.payload_length() as usize);
                let (after_ext, frag) = self.ipv6_extensions(hdr.next_header().0, end);
                end = after_ext;
                (end, payload_end) = self.transport(
                    p,
                    ip.payload().ip_number,
                    ip.payload().payload,
                    end,
                    frag.unwrap_or(0),
                );
            }
            None => {
                // The EtherType field is the last two bytes of the last link header.
                let et = if end > start {
                    end.checked_sub(2).and_then(|o| be16(self.base, o))
                } else {
                    ether_type
                };
                if et == Some(0x0806) && self.base.len() >= end + 8 {
                    // An ARP packet cut short (or with lengths that point past
                    // the frame): etherparse refuses it, but it is ARP; chefs
                    // read what is there.
                    self.push(LayerKind::Arp, end, self.base.len() - end);
                } else {
                    // Unknown EtherType: everything after the link headers.
                    self.rest_as_payload(end);
                }
                return;
            }
        }
        // Split what is left: inside the datagram (payload) and after it (padding).
        let total = self.base.len();
        let dgram_end = datagram_end.unwrap_or(total).clamp(end, total);
        let payload_end = payload_end.unwrap_or(dgram_end).clamp(end, dgram_end);
        if payload_end > end {
            self.push(LayerKind::Payload, end, payload_end - end);
        }
        // Bytes after the UDP datagram but inside the IP one, and bytes after
        // the IP datagram: both are padding (scapy's `Padding`).
        if total > payload_end {
            self.push(LayerKind::Padding, payload_end, total - payload_end);
        }
    }

    /// Walks IPv6 extension headers starting at `offset` with the given first
    /// next-header value. Returns where they end and, for a fragment, its offset.
    fn ipv6_extensions(&mut self, mut next: u8, mut offset: usize) -> (usize, Option<u32>) {
        let mut frag = None;
        // Bounded: each header is at least 8 bytes, and so is every step.
        for _ in 0..32 {
            let len = match next {
                0 | 43 | 60 => self.base.get(offset + 1).map(|l| (*l as usize + 1) * 8),
                51 => self.base.get(offset + 1).map(|l| (*l as usize + 2) * 4),
                44 => Some(8),
                _ => None,
            };
            let Some(len) = len else { break };
            if offset + len > self.base.len() {
                break;
            }
            if next == 44 {
                let fo = be16(self.base, offset + 2)
                    .map(|v| u32::from(v & 0xfff8))
                    .unwrap_or(0);
                let more = be16(self.base, offset + 2)
                    .map(|v| v & 1 == 1)
                    .unwrap_or(false);
                if more || fo != 0 {
                    frag = Some(fo);
                    self.summary.fragment_offset = Some(fo);
                }
                self.push(LayerKind::Ipv6Fragment, offset, len);
            } else {
                self.push(LayerKind::Ipv6Extension, offset, len);
            }
            next = self.base[offset];
            offset += len;
        }
        (offset, frag)
    }

    /// Reports the transport header (from etherparse, or decoded here for a
    /// first fragment, which etherparse leaves alone). Returns where it ends
    /// and, for UDP, where its length field says the payload ends.
    fn transport(
        &mut self,
        p: &LaxSlicedPacket<'a>,
        ip_number: IpNumber,
        ip_payload: &'a [u8],
        end: usize,
        frag_offset: u32,
    ) -> (usize, Option<usize>) {
        let mut end = end.max(self.off(ip_payload));
        let mut payload_end = None;
        if frag_offset != 0 {
            return (end, None); // a later fragment: no transport header in it
        }
        let owned;
        let t = match &p.transport {
            Some(t) => t,
            None => {
                owned = match ip_number {
                    IpNumber::TCP => etherparse::TcpSlice::from_slice(ip_payload)
                        .ok()
                        .map(TransportSlice::Tcp),
                    IpNumber::UDP => etherparse::UdpSlice::from_slice_lax(ip_payload)
                        .ok()
                        .map(TransportSlice::Udp),
                    _ => None,
                };
                match &owned {
                    Some(t) => t,
                    None => return (end, None),
                }
            }
        };
        match t {
            TransportSlice::Tcp(tcp) => {
                let h = tcp.header_slice();
                self.push_slice(LayerKind::Tcp, h);
                end = self.off(h) + h.len();
                self.summary.src_port = Some(tcp.source_port());
                self.summary.dst_port = Some(tcp.destination_port());
            }
            TransportSlice::Udp(udp) => {
                let h = udp.header_slice();
                self.push_slice(LayerKind::Udp, h);
                let off = self.off(h);
                end = off + h.len();
                self.summary.src_port = Some(udp.source_port());
                self.summary.dst_port = Some(udp.destination_port());
                // A first fragment's UDP length covers the whole datagram,
                // not this fragment: only trust it for unfragmented packets.
                let len = udp.length() as usize;
                if len >= 8 && self.summary.fragment_offset.is_none() {
                    payload_end = Some(off + len);
                }
            }
            TransportSlice::Icmpv4(icmp) => {
                let s = icmp.slice();
                let off = self.off(s);
                self.push(LayerKind::Icmpv4, off, s.len().min(8));
                end = off + s.len().min(8);
            }
            TransportSlice::Icmpv6(icmp) => {
                let s = icmp.slice();
                let off = self.off(s);
                self.push(LayerKind::Icmpv6, off, s.len().min(8));
                end = off + s.len().min(8);
            }
        }
        (end, payload_end)
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the fuzzer (`just fuzz decode`) found or was seeded with as
    /// hostile, replayed here as the fuzz target does: no panic, every
    /// layer within the captured bytes.
    #[test]
    fn fuzz_regressions() {
        const LINKS: [u16; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147];
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/decode");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/decode") {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            let Some((&pick, data)) = input.split_first() else {
                continue;
            };
            let mut layers = Vec::new();
            decode(
                LinkType::from_linktype(LINKS[pick as usize % LINKS.len()]),
                data,
                &mut layers,
            );
            for l in &layers {
                assert!(l.offset as usize + l.length as usize <= data.len(), "{l:?}");
            }
            n += 1;
        }
        assert!(n >= 10, "only {n} regression inputs");
    }

    fn kinds(link: LinkType, data: &[u8]) -> (Vec<LayerKind>, Summary) {
        let mut layers = Vec::new();
        let s = decode(link, data, &mut layers);
        for l in &layers {
            assert!(
                (l.offset + l.length) as usize <= data.len(),
                "layer {l:?} out of bounds"
            );
        }
        (layers.iter().map(|l| l.kind).collect(), s)
    }

    fn udp_packet(payload: &[u8]) -> Vec<u8> {
        let builder =
            etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5353, 53);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ethernet_ipv4_udp_payload_padding() {
        let mut pkt = udp_packet(&[0xaa; 4]);
        pkt.extend_from_slice(&[0; 10]); // Ethernet padding
        let (k, s) = kinds(LinkType::Ethernet, &pkt);
        use LayerKind::*;
        assert_eq!(k, vec![Ethernet, Ipv4, Udp, Payload, Padding]);
        assert_eq!(s.src_port, Some(5353));
        assert_eq!(s.dst_port, Some(53));
        assert_eq!(s.src_addr, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        assert_eq!(s.fragment_offset, None);
    }

    #[test]
    fn never_panics_on_any_prefix_or_garbage() {
        let pkt = udp_packet(b"hello world");
        for link in [0u16, 1, 12, 101, 108, 113, 228, 229, 276, 9999] {
            let link = LinkType::from_linktype(link);
            for n in 0..=pkt.len() {
                kinds(link, &pkt[..n]);
            }
            let mut x: u32 = 12345;
            for _ in 0..2000 {
                let len = (x % 200) as usize;
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1103515245).wrapping_add(12345);
                        (x >> 16) as u8
                    })
                    .collect();
                kinds(link, &data);
            }
        }
    }

    #[test]
    fn linux_sll_and_raw_ip() {
        let pkt = udp_packet(b"x");
        let ip = &pkt[14..];
        let (k, _) = kinds(LinkType::Raw, ip);
        assert_eq!(k, vec![LayerKind::Ipv4, LayerKind::Udp, LayerKind::Payload]);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        let (k, _) = kinds(LinkType::LinuxSll, &sll);
        assert_eq!(
            k,
            vec![
                LayerKind::LinuxSll,
                LayerKind::Ipv4,
                LayerKind::Udp,
                LayerKind::Payload
            ]
        );
    }

    #[test]
    fn ieee8023_length_frame() {
        let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 5];
        f.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 9, 9]);
        let (k, _) = kinds(LinkType::Ethernet, &f);
        assert_eq!(
            k,
            vec![LayerKind::Ieee8023, LayerKind::Payload, LayerKind::Padding]
        );
    }
}
