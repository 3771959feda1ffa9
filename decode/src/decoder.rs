//! The walk from captured bytes to layers: link headers, etherparse's
//! slicing, IPv6 extension headers, transports, payload and padding. Tunnels
//! (`crate::tunnel`) re-enter it for the packet inside.

use etherparse::{
    EtherType, IpNumber, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice,
};

use crate::tunnel::Tunnel;
use crate::{Layer, LayerKind, LinkType, Summary};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One packet's decoding.
///
/// `base` is the packet's bytes *as far as the current (innermost) datagram
/// goes*: a tunnel shortens it to the end of the outer datagram's payload
/// while the inner packet is decoded ([`Decoder::inner`]), so the inner
/// packet's "rest" and "padding" stop there, and restores it after. It
/// always starts at the packet's first byte, so offsets computed from it are
/// offsets in the packet.
pub(crate) struct Decoder<'a, 'l> {
    pub(crate) base: &'a [u8],
    layers: &'l mut Vec<Layer>,
    pub(crate) summary: Summary,
    /// Tunnels entered so far (bounded by `MAX_TUNNEL_DEPTH`).
    pub(crate) depth: usize,
    /// Decoding the datagram an ICMP error quotes: IP and transport layers
    /// get their `quoted-*` kinds (`crate::tunnel`'s `quote`).
    pub(crate) quoted: bool,
}

impl<'a, 'l> Decoder<'a, 'l> {
    pub(crate) fn new(data: &'a [u8], layers: &'l mut Vec<Layer>) -> Self {
        Decoder {
            base: data,
            layers,
            summary: Summary::default(),
            depth: 0,
            quoted: false,
        }
    }
}

impl<'a> Decoder<'a, '_> {
    /// Offset of `part` (a sub-slice of `base`) from the start of `base`.
    fn off(&self, part: &[u8]) -> usize {
        (part.as_ptr() as usize)
            .saturating_sub(self.base.as_ptr() as usize)
            .min(self.base.len())
    }

    pub(crate) fn push(&mut self, kind: LayerKind, offset: usize, length: usize) {
        let kind = match (self.quoted, kind.quoted()) {
            (false, _) => kind,
            (true, Some(quoted)) => quoted,
            // A quoted datagram's IPv6 extension headers are not layers:
            // an `ipv6-fragment` layer means the packet is a fragment.
            (true, None) if matches!(kind, LayerKind::Ipv6Extension | LayerKind::Ipv6Fragment) => {
                return
            }
            (true, None) => kind,
        };
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
    pub(crate) fn rest_as_payload(&mut self, offset: usize) {
        if offset < self.base.len() {
            self.push(LayerKind::Payload, offset, self.base.len() - offset);
        }
    }

    pub(crate) fn link(&mut self, link: LinkType) {
        let data = self.base;
        match link {
            LinkType::Ethernet => self.ethernet(0),
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

    /// An Ethernet frame starting at `at` (0, or inside a tunnel).
    pub(crate) fn ethernet(&mut self, at: usize) {
        let data = self.base;
        let Some(type_or_len) = be16(data, at + 12) else {
            return self.rest_as_payload(at);
        };
        if type_or_len < 0x0600 {
            // IEEE 802.3: a length field, then (usually) LLC. Bytes beyond
            // the length are padding.
            self.push(LayerKind::Ieee8023, at, 14);
            let end = (at + 14 + type_or_len as usize).min(data.len());
            if end > at + 14 {
                self.push(LayerKind::Payload, at + 14, end - at - 14);
            }
            if end < data.len() {
                self.push(LayerKind::Padding, end, data.len() - end);
            }
            return;
        }
        let Some(frame) = data.get(at..) else {
            return;
        };
        match LaxSlicedPacket::from_ethernet(frame) {
            Ok(p) => self.sliced(&p, at, None),
            Err(_) => self.rest_as_payload(at),
        }
    }

    pub(crate) fn ether_type(&mut self, ether_type: EtherType, offset: usize) {
        let Some(rest) = self.base.get(offset..) else {
            return;
        };
        let p = LaxSlicedPacket::from_ether_type(ether_type, rest);
        self.sliced(&p, offset, Some(ether_type.0));
    }

    pub(crate) fn ip(&mut self, offset: usize) {
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
        // A tunnel whose inner packet is the payload.
        let mut tunnel = None;
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
                (end, payload_end, tunnel) =
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
                (end, payload_end, tunnel) = self.transport(
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
                if let Some(t) = et.and_then(Tunnel::for_ether_type) {
                    return self.tunnel(t, end);
                }
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
        match tunnel {
            // The inner packet ends where the outer payload does.
            Some(t) if payload_end > end => self.inner(payload_end, |d| d.tunnel(t, end)),
            _ if payload_end > end => self.push(LayerKind::Payload, end, payload_end - end),
            _ => {}
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
    /// first fragment, which etherparse leaves alone). Returns where it ends,
    /// for UDP where its length field says the payload ends, and the tunnel
    /// the payload is, if it is one (IP-in-IP, GRE, VXLAN).
    fn transport(
        &mut self,
        p: &LaxSlicedPacket<'a>,
        ip_number: IpNumber,
        ip_payload: &'a [u8],
        end: usize,
        frag_offset: u32,
    ) -> (usize, Option<usize>, Option<Tunnel>) {
        let mut end = end.max(self.off(ip_payload));
        let mut payload_end = None;
        if frag_offset != 0 {
            return (end, None, None); // a later fragment: no transport header in it
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
                    None => return (end, None, Tunnel::for_ip_number(ip_number.0)),
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
                let tunnel = Tunnel::for_udp_ports(udp.source_port(), udp.destination_port());
                return (end, payload_end, tunnel);
            }
            TransportSlice::Icmpv4(icmp) => {
                let s = icmp.slice();
                let off = self.off(s);
                self.push(LayerKind::Icmpv4, off, s.len().min(8));
                end = off + s.len().min(8);
                // Destination unreachable, source quench, redirect, time
                // exceeded, parameter problem quote the datagram at fault.
                let error = matches!(s.first(), Some(3 | 4 | 5 | 11 | 12));
                return (end, None, (error && !self.quoted).then_some(Tunnel::Quote));
            }
            TransportSlice::Icmpv6(icmp) => {
                let s = icmp.slice();
                let off = self.off(s);
                self.push(LayerKind::Icmpv6, off, s.len().min(8));
                end = off + s.len().min(8);
                // Destination unreachable, packet too big, time exceeded,
                // parameter problem.
                let error = matches!(s.first(), Some(1..=4));
                return (end, None, (error && !self.quoted).then_some(Tunnel::Quote));
            }
        }
        (end, payload_end, None)
    }
}

pub(crate) fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}
