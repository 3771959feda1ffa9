//! scapy 2.4.5's view of a packet, over the kitchen's decoded layers: the
//! names netdumplings 0.5.1's PacketCountChef counted, and which packets its
//! DNSLookupChef saw as DNS.
//!
//! The kitchen computes these names for any chef that asks (the `scapy`
//! import in `wit/chef.wit`), so every language's PacketCountChef is a
//! small counter and this fuzzed native code is the one set of rules. The
//! Rust chef SDK uses [`dns_message`] and [`parse_dns`] inside the guest.
//! `docs/scapy-layer-names.md` is the rule book, written from this code.
//!
//! # Layout
//!
//! - [`packet`]: [`Packet`], the borrowed view of one packet's columns.
//! - [`names`]: [`ScapyLayer`], every name, in id order.
//! - [`batch`]: [`Batch`], a whole batch's columns, named in one go.
//! - [`dns`]: the DNS rule (ports, TCP length prefix) and the parser.
//! - `icmpv6`: ICMPv6 message names, neighbour-discovery options.
//! - `quote`: the datagram an ICMP error quotes.
//! - `tables`: names by protocol code, generated from scapy itself.
//! - `apps`: BOOTP/DHCP, DHCPv6 and NBNS, in scapy's binding order
//!   (`scapy/gen/tables.py` writes DHCPv6's names from scapy itself).
//! - here: [`scapy_layers`], the walk from decoded layers to names.
//!
//! Invariant: nothing here panics on any input (every read is a `get`);
//! `fuzz/` (`just fuzz decode`) runs the names of every decoded packet.

#![forbid(unsafe_code)]

mod apps;
pub mod batch;
pub mod dns;
mod icmpv6;
pub mod names;
pub mod packet;
mod quote;
mod tables;
#[cfg(test)]
mod tests;

pub use batch::{Batch, NOT_A_FRAGMENT};
pub use dns::{dns_message, parse_dns, DnsSummary};
pub use names::{ScapyLayer, SCAPY_LAYERS};
pub use packet::{Decoded, Packet};

use nd_decode::LayerKind;

use apps::UdpApp;

/// Length of scapy's `STP` layer (a configuration BPDU).
const STP_LEN: usize = 35;

/// What earlier layers of a packet tell the naming of later ones.
#[derive(Default)]
struct Walk {
    /// The next-header value that names the following IPv6 extension header.
    ipv6_next: Option<u8>,
    /// The last transport (or quoted transport) layer's kind.
    transport: Option<LayerKind>,
    /// Its TCP/UDP ports: the packet's, or a quoted header's own.
    ports: [u16; 2],
    /// The ICMP(v6) type of the last ICMP layer.
    icmp_type: Option<u8>,
    /// The length field of an 802.3 header.
    link_8023_len: Option<usize>,
    /// After a PPPoE discovery header of type 1: its payload is a tag list.
    pppoe_tags: bool,
    /// After a quoted IP header and before any quoted transport: the
    /// quoted protocol number.
    quoted_protocol: Option<u8>,
}

/// Calls `emit` with every layer of `packet` as scapy names it, outermost
/// first, as `PacketCountChef` counts them.
pub fn scapy_layers(packet: &Packet<'_>, mut emit: impl FnMut(ScapyLayer)) {
    let mut w = Walk::default();
    for (kind, bytes) in packet.layers() {
        if matches!(
            kind,
            LayerKind::Vxlan
                | LayerKind::Gre
                | LayerKind::PppoeDiscovery
                | LayerKind::PppoeSession
                | LayerKind::Ppp
        ) {
            // A tunnel: what the outer layers said is not about what follows.
            w = Walk::default();
        }
        match kind {
            LayerKind::Ethernet => emit(ScapyLayer::Ethernet),
            LayerKind::Ieee8023 => {
                emit(ScapyLayer::Dot3);
                w.link_8023_len = bytes
                    .get(12..14)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
            }
            LayerKind::LinuxSll => emit(ScapyLayer::CookedLinux),
            LayerKind::Loopback => emit(ScapyLayer::Loopback),
            LayerKind::Vlan => emit(ScapyLayer::Dot1Q),
            LayerKind::Qinq => emit(ScapyLayer::Dot1AD),
            LayerKind::Arp => emit(ScapyLayer::Arp),
            LayerKind::Ipv4 => emit(ScapyLayer::Ip),
            LayerKind::Ipv6 => {
                emit(ScapyLayer::Ipv6);
                w.ipv6_next = bytes.get(6).copied();
            }
            LayerKind::Ipv6Extension => {
                emit(match w.ipv6_next {
                    Some(0) => ScapyLayer::Ipv6HopByHop,
                    Some(43) => ScapyLayer::Ipv6Routing,
                    Some(60) => ScapyLayer::Ipv6DestOptions,
                    Some(51) => ScapyLayer::Ah,
                    _ => ScapyLayer::Ipv6Extension,
                });
                w.ipv6_next = bytes.first().copied();
            }
            LayerKind::Ipv6Fragment => {
                emit(ScapyLayer::Ipv6Fragment);
                w.ipv6_next = bytes.first().copied();
            }
            LayerKind::Tcp | LayerKind::Udp => {
                emit(match kind {
                    LayerKind::Tcp => ScapyLayer::Tcp,
                    _ => ScapyLayer::Udp,
                });
                w.transport = Some(kind);
                w.ports = packet.ports;
            }
            LayerKind::Icmpv4 => {
                emit(ScapyLayer::Icmp);
                w.transport = Some(kind);
                w.icmp_type = bytes.first().copied();
            }
            LayerKind::Icmpv6 => {
                w.transport = Some(kind);
                emit(icmpv6::message_name(bytes));
                w.icmp_type = bytes.first().copied();
            }
            LayerKind::Payload if w.pppoe_tags && !bytes.is_empty() => emit(ScapyLayer::PppoeTags),
            LayerKind::Payload => payload_names(packet, bytes, &w, &mut emit),
            LayerKind::Padding => emit(ScapyLayer::Padding),
            LayerKind::Vxlan => emit(ScapyLayer::Vxlan),
            LayerKind::Gre => emit(ScapyLayer::Gre),
            LayerKind::PppoeDiscovery => {
                emit(ScapyLayer::PppoeDiscovery);
                // `bind_layers(PPPoED, PPPoED_Tags, type=1)`: the low nibble.
                w.pppoe_tags = bytes.first().is_some_and(|b| b & 0x0f == 1);
            }
            LayerKind::PppoeSession => emit(ScapyLayer::Pppoe),
            LayerKind::Ppp => emit(ScapyLayer::Ppp),
            LayerKind::QuotedIpv4 | LayerKind::QuotedIpv6 => {
                let v4 = kind == LayerKind::QuotedIpv4;
                emit(match v4 {
                    true => ScapyLayer::IpInIcmp,
                    false => ScapyLayer::Ipv6InIcmpv6,
                });
                w.quoted_protocol = bytes.get(if v4 { 9 } else { 6 }).copied();
                w.transport = None;
            }
            LayerKind::QuotedTcp | LayerKind::QuotedUdp => {
                emit(match kind {
                    LayerKind::QuotedTcp => ScapyLayer::TcpInIcmp,
                    _ => ScapyLayer::UdpInIcmp,
                });
                w.quoted_protocol = None;
                w.transport = Some(kind);
                w.ports = quote::ports(bytes);
            }
            LayerKind::QuotedIcmpv4 => {
                emit(ScapyLayer::IcmpInIcmp);
                w.quoted_protocol = None;
                w.transport = Some(kind);
            }
            LayerKind::QuotedIcmpv6 => {
                // scapy dissects a quoted ICMPv6 message as its own class.
                emit(icmpv6::message_name(bytes));
                w.quoted_protocol = None;
                w.transport = Some(kind);
            }
        }
    }
}

fn payload_names(packet: &Packet<'_>, bytes: &[u8], w: &Walk, emit: &mut impl FnMut(ScapyLayer)) {
    if bytes.is_empty() {
        return;
    }
    if packet.is_later_fragment() {
        emit(ScapyLayer::Raw);
        return;
    }
    if let Some(protocol) = w.quoted_protocol {
        // A quoted IP header whose transport the kitchen did not decode
        // (too few bytes for a whole header): scapy's `*error` classes.
        return quote::bare_transport(protocol, bytes, emit);
    }
    match w.transport {
        Some(LayerKind::Tcp | LayerKind::QuotedTcp) => {
            let dns = w.ports.contains(&53).then(|| dns_message(packet));
            match dns.flatten().filter(|msg| parse_dns(msg).is_some()) {
                Some(msg) => {
                    emit(ScapyLayer::Dns);
                    // Bytes after the length-prefixed message are Raw.
                    if bytes.len() > msg.len() + 2 {
                        emit(ScapyLayer::Raw);
                    }
                }
                None => emit(ScapyLayer::Raw),
            }
        }
        Some(LayerKind::Udp | LayerKind::QuotedUdp) => match UdpApp::for_ports(w.ports) {
            UdpApp::Bootp => apps::bootp(bytes, emit),
            UdpApp::Dhcp6 => apps::dhcp6(bytes, emit),
            // A message that does not parse made scapy's DNS raise: Raw.
            UdpApp::Dns => match dns_message(packet).and_then(parse_dns) {
                Some(_) => emit(ScapyLayer::Dns),
                None => emit(ScapyLayer::Raw),
            },
            // scapy's LLMNR: query or response by the QR bit.
            UdpApp::Llmnr => match bytes.get(2) {
                Some(b) if b & 0x80 != 0 => emit(ScapyLayer::LlmnrResponse),
                _ => emit(ScapyLayer::LlmnrQuery),
            },
            UdpApp::NbnsRequest => apps::nbns(bytes, true, emit),
            UdpApp::NbnsResponse => apps::nbns(bytes, false, emit),
            UdpApp::Ntp => emit(ScapyLayer::Ntp),
            UdpApp::Other => emit(ScapyLayer::Raw),
        },
        // An ICMP error whose quote the kitchen did not decode.
        Some(LayerKind::Icmpv4) if matches!(w.icmp_type, Some(3 | 4 | 5 | 11 | 12)) => {
            quote::undecoded_ipv4(bytes, emit)
        }
        Some(LayerKind::Icmpv6) if matches!(w.icmp_type, Some(1..=4)) => {
            quote::undecoded_ipv6(bytes, emit)
        }
        // ICMPv6 messages carry their body in the message; neighbour
        // discovery's options are layers of their own.
        Some(LayerKind::Icmpv6) => icmpv6::nd_options(w.icmp_type, bytes, emit),
        Some(LayerKind::QuotedIcmpv6) => {}
        None if w.link_8023_len.is_some() => {
            emit(ScapyLayer::Llc);
            if bytes.first() == Some(&0x42) && bytes.get(1) == Some(&0x42) {
                emit(ScapyLayer::Stp);
                // scapy's STP layer is 35 bytes; anything after it is Raw.
                if bytes.len() > 3 + STP_LEN {
                    emit(ScapyLayer::Raw);
                }
            } else if bytes.len() > 3 {
                emit(ScapyLayer::Raw);
            }
        }
        _ => emit(ScapyLayer::Raw),
    }
}
