//! The decoder's unit tests (tunnels: `tunnel.rs`'s own tests).

use crate::*;
use std::net::{IpAddr, Ipv4Addr};

/// Inputs the fuzzer (`just fuzz decode`) found or was seeded with as
/// hostile, replayed here as the fuzz target does: no panic, every
/// layer within the captured bytes.
#[test]
fn fuzz_regressions() {
    const LINKS: [u16; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/decode");
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
    let builder = etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
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

/// An IPv4 header (no options) around `payload` with protocol `proto`.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut h = etherparse::Ipv4Header::new(
        payload.len() as u16,
        64,
        etherparse::IpNumber(proto),
        src,
        dst,
    )
    .unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut out = h.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&src.to_be_bytes());
    out.extend_from_slice(&dst.to_be_bytes());
    out.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A DNS query over UDP 40001 -> 53 from 10.0.0.1 to 10.0.0.53, as IPv4.
fn inner_dns() -> Vec<u8> {
    ipv4(
        17,
        [10, 0, 0, 1],
        [10, 0, 0, 53],
        &udp(40001, 53, &[0xab; 17]),
    )
}

#[test]
fn vxlan_opens_to_the_inner_frame_with_the_innermost_addresses_and_ports() {
    use LayerKind::*;
    let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vxlan.extend_from_slice(&ethernet(0x0800, &inner_dns()));
    let mut pkt = ethernet(
        0x0800,
        &ipv4(
            17,
            [192, 0, 2, 1],
            [192, 0, 2, 2],
            &udp(50000, 4789, &vxlan),
        ),
    );
    pkt.extend_from_slice(&[0; 3]); // outer Ethernet padding
    let (k, s) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(
        k,
        vec![Ethernet, Ipv4, Udp, Vxlan, Ethernet, Ipv4, Udp, Payload, Padding]
    );
    assert_eq!(s.src_addr, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
    assert_eq!((s.src_port, s.dst_port), (Some(40001), Some(53)));
    // VXLAN-GPE with next protocol 1: IPv4 straight after the header.
    let mut gpe = vec![0x0c, 0, 0, 1, 0, 0, 42, 0];
    gpe.extend_from_slice(&inner_dns());
    let pkt = ethernet(
        0x0800,
        &ipv4(17, [192, 0, 2, 1], [192, 0, 2, 2], &udp(50000, 4790, &gpe)),
    );
    let (k, _) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(k, vec![Ethernet, Ipv4, Udp, Vxlan, Ipv4, Udp, Payload]);
}

#[test]
fn gre_ip_in_ip_and_pppoe_open_to_their_inner_packets() {
    use LayerKind::*;
    // GRE with a key (8 bytes) carrying IPv4; GRE carrying bridged Ethernet.
    let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 7];
    gre.extend_from_slice(&inner_dns());
    let pkt = ethernet(0x0800, &ipv4(47, [192, 0, 2, 1], [192, 0, 2, 2], &gre));
    let (k, _) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(k, vec![Ethernet, Ipv4, Gre, Ipv4, Udp, Payload]);
    let mut bridged = vec![0, 0, 0x65, 0x58];
    bridged.extend_from_slice(&ethernet(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]));
    let pkt = ethernet(0x0800, &ipv4(47, [192, 0, 2, 1], [192, 0, 2, 2], &bridged));
    let (k, _) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(k, vec![Ethernet, Ipv4, Gre, Ethernet, Arp]);
    // GRE version 1 (PPTP) is not opened.
    let pptp = [0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 1];
    let pkt = ethernet(0x0800, &ipv4(47, [192, 0, 2, 1], [192, 0, 2, 2], &pptp));
    assert_eq!(
        kinds(LinkType::Ethernet, &pkt).0,
        vec![Ethernet, Ipv4, Payload]
    );
    // IPv4 in IPv4.
    let pkt = ethernet(
        0x0800,
        &ipv4(4, [192, 0, 2, 1], [192, 0, 2, 2], &inner_dns()),
    );
    let (k, s) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(k, vec![Ethernet, Ipv4, Ipv4, Udp, Payload]);
    assert_eq!(s.dst_addr, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53))));
    // PPPoE session, PPP with a compressed (1-byte) and a full protocol field.
    for ppp in [&[0x21][..], &[0x00, 0x21][..]] {
        let mut session = vec![0x11, 0, 0, 1, 0, 0];
        session.extend_from_slice(ppp);
        session.extend_from_slice(&inner_dns());
        let (k, _) = kinds(LinkType::Ethernet, &ethernet(0x8864, &session));
        assert_eq!(k, vec![Ethernet, PppoeSession, Ppp, Ipv4, Udp, Payload]);
    }
    // PPPoE discovery (PADI) with a tag; LCP inside a session stays payload.
    let padi = [0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0];
    let (k, _) = kinds(LinkType::Ethernet, &ethernet(0x8863, &padi));
    assert_eq!(k, vec![Ethernet, PppoeDiscovery, Payload]);
    let lcp = [0x11, 0, 0, 1, 0, 6, 0xc0, 0x21, 1, 1, 0, 4];
    let (k, _) = kinds(LinkType::Ethernet, &ethernet(0x8864, &lcp));
    assert_eq!(k, vec![Ethernet, PppoeSession, Ppp, Payload]);
}

#[test]
fn tunnel_nesting_stops_at_the_depth_limit() {
    // IPv4 in IPv4, 50 deep: the decoder opens MAX_TUNNEL_DEPTH of them.
    let mut pkt = inner_dns();
    for _ in 0..50 {
        pkt = ipv4(4, [192, 0, 2, 1], [192, 0, 2, 2], &pkt);
    }
    let (k, _) = kinds(LinkType::Raw, &pkt);
    let ips = k.iter().filter(|k| **k == LayerKind::Ipv4).count();
    assert_eq!(ips, 1 + MAX_TUNNEL_DEPTH);
    assert_eq!(k.last(), Some(&LayerKind::Payload));
    // A cut tunnel header is payload, never a panic.
    let mut gre = vec![0xb0, 0, 0x08, 0x00, 0, 0];
    gre.truncate(6);
    let pkt = ethernet(0x0800, &ipv4(47, [192, 0, 2, 1], [192, 0, 2, 2], &gre));
    assert_eq!(
        kinds(LinkType::Ethernet, &pkt).0,
        vec![LayerKind::Ethernet, LayerKind::Ipv4, LayerKind::Payload]
    );
}

#[test]
fn icmp_errors_quote_their_datagram_as_quoted_layers() {
    use LayerKind::*;
    // Port unreachable (ICMP type 3 code 3) quoting a DNS query.
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&inner_dns());
    let pkt = ethernet(0x0800, &ipv4(1, [10, 0, 0, 53], [10, 0, 0, 1], &icmp));
    let (k, s) = kinds(LinkType::Ethernet, &pkt);
    assert_eq!(
        k,
        vec![Ethernet, Ipv4, Icmpv4, QuotedIpv4, QuotedUdp, Payload]
    );
    // The packet's addresses stay its own; its ports are the quoted ones
    // (an ICMP error has none of its own).
    assert_eq!(s.src_addr, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53))));
    assert_eq!((s.src_port, s.dst_port), (Some(40001), Some(53)));
    // A quote that is not an IP header stays payload; an echo is no error.
    let junk = [3, 3, 0, 0, 0, 0, 0, 0, 0x65, 1, 2, 3];
    let pkt = ethernet(0x0800, &ipv4(1, [10, 0, 0, 53], [10, 0, 0, 1], &junk));
    assert_eq!(
        kinds(LinkType::Ethernet, &pkt).0,
        vec![Ethernet, Ipv4, Icmpv4, Payload]
    );
    let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(&inner_dns());
    let pkt = ethernet(0x0800, &ipv4(1, [10, 0, 0, 53], [10, 0, 0, 1], &echo));
    assert_eq!(
        kinds(LinkType::Ethernet, &pkt).0,
        vec![Ethernet, Ipv4, Icmpv4, Payload]
    );
    // An error quoting an error: the quoted ICMP is not opened again.
    let mut outer = vec![11, 0, 0, 0, 0, 0, 0, 0];
    outer.extend_from_slice(&ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &icmp));
    let pkt = ethernet(0x0800, &ipv4(1, [10, 0, 0, 9], [10, 0, 0, 1], &outer));
    assert_eq!(
        kinds(LinkType::Ethernet, &pkt).0,
        vec![Ethernet, Ipv4, Icmpv4, QuotedIpv4, QuotedIcmpv4, Payload]
    );
}
