//! Shared by the standard Rust chefs: which packets scapy 2.4.5 (what
//! netdumplings 0.5.1 used) would call DNS, and the names it gives layers.
//!
//! Everything here works on the kitchen's decoded layers and never panics on
//! hostile bytes (every read is bounds-checked with `get`).

use netdumplings_chef::{LayerKind, Packet};

/// Length of scapy's `STP` layer (a configuration BPDU).
const STP_LEN: usize = 35;

/// The DNS message a packet carries, if scapy would have dissected one:
/// UDP port 53 or 5353 (mDNS) on either side, or TCP port 53 after the
/// 2-byte length prefix. Not LLMNR (5355), not non-first IP fragments.
pub fn dns_message<'a>(packet: &Packet<'a>) -> Option<&'a [u8]> {
    if packet.fragment_offset().is_some_and(|o| o != 0) {
        return None;
    }
    let ports = [packet.src_port()?, packet.dst_port()?];
    let payload = packet.layer(LayerKind::Payload)?;
    if packet.has(LayerKind::Udp) && ports.iter().any(|p| *p == 53 || *p == 5353) {
        Some(payload)
    } else if packet.has(LayerKind::Tcp) && ports.contains(&53) {
        let len = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]) as usize;
        payload.get(2..2 + len)
    } else {
        None
    }
}

/// What the chefs need from a DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSummary {
    /// The first question's name as netdumplings reports it: labels joined
    /// by dots, no trailing dot. `None` without questions, or if a label is
    /// not UTF-8 (scapy's `qname.decode('utf-8')` raised there).
    pub first_question: Option<String>,
}

/// Parses a DNS message with simple-dns; `None` if it is not one (scapy
/// would have left it `Raw`: truncated, bad labels, compression loops).
///
/// One leniency, to match scapy: simple-dns refuses resource records whose
/// class it does not know (TSIG records use class ANY, 255), where scapy
/// accepts any class. On that error only, the header and question section
/// are parsed on their own.
pub fn parse_dns(message: &[u8]) -> Option<DnsSummary> {
    match simple_dns::Packet::parse(message) {
        Ok(p) => Some(summarise(&p)),
        Err(simple_dns::SimpleDnsError::InvalidClass(_)) => {
            let mut questions_only = message.get(..12)?.to_vec();
            questions_only[6..12].fill(0); // ANCOUNT, NSCOUNT, ARCOUNT
            questions_only.extend_from_slice(message.get(12..)?);
            simple_dns::Packet::parse(&questions_only)
                .ok()
                .map(|p| summarise(&p))
        }
        Err(_) => None,
    }
}

fn summarise(dns: &simple_dns::Packet<'_>) -> DnsSummary {
    let first_question = dns.questions.first().and_then(|q| {
        let mut name = String::new();
        for (i, label) in q.qname.as_bytes().enumerate() {
            if i > 0 {
                name.push('.');
            }
            name.push_str(std::str::from_utf8(label).ok()?);
        }
        Some(name)
    });
    DnsSummary { first_question }
}

/// Declares [`ScapyLayer`] from `Variant => "scapy name"` pairs, so the
/// list of names is written once.
macro_rules! declare_scapy_layers {
    ($($variant:ident => $name:literal,)*) => {
        /// A layer as scapy 2.4.5 names it (its class's `name`), as
        /// netdumplings' PacketCountChef counts them.
        ///
        /// An enum rather than the name itself so a counter can be an array
        /// index: PacketCountChef counts every layer of every packet (an
        /// index instead of a search through a list of names: ~2% of a
        /// one-core replay).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum ScapyLayer {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl ScapyLayer {
            /// Every layer, in declaration order: `ALL[l as usize] == l`.
            pub const ALL: &'static [ScapyLayer] = &[$(ScapyLayer::$variant,)*];

            /// scapy's name for the layer.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ScapyLayer::$variant => $name,)*
                }
            }
        }
    };
}

declare_scapy_layers! {
    Ethernet => "Ethernet",
    Dot3 => "802.3",
    CookedLinux => "cooked linux",
    Loopback => "Loopback",
    Dot1Q => "802.1Q",
    Dot1AD => "802_1AD",
    Arp => "ARP",
    Ip => "IP",
    Ipv6 => "IPv6",
    Ipv6HopByHop => "IPv6 Extension Header - Hop-by-Hop Options Header",
    Ipv6Routing => "IPv6 Option Header Routing",
    Ipv6DestOptions => "IPv6 Extension Header - Destination Options Header",
    Ah => "AH",
    Ipv6Extension => "IPv6 Extension Header",
    Ipv6Fragment => "IPv6 Extension Header - Fragmentation header",
    Tcp => "TCP",
    Udp => "UDP",
    Icmp => "ICMP",
    Dns => "DNS",
    Raw => "Raw",
    LlmnrResponse => "Link Local Multicast Node Resolution - Response",
    LlmnrQuery => "Link Local Multicast Node Resolution - Query",
    Ntp => "NTPHeader",
    IpInIcmp => "IP in ICMP",
    UdpInIcmp => "UDP in ICMP",
    TcpInIcmp => "TCP in ICMP",
    IcmpInIcmp => "ICMP in ICMP",
    Llc => "LLC",
    Stp => "Spanning Tree Protocol",
    Padding => "Padding",
    Icmpv6DestUnreach => "ICMPv6 Destination Unreachable",
    Icmpv6PacketTooBig => "ICMPv6 Packet Too Big",
    Icmpv6TimeExceeded => "ICMPv6 Time Exceeded",
    Icmpv6ParamProblem => "ICMPv6 Parameter Problem",
    Icmpv6EchoRequest => "ICMPv6 Echo Request",
    Icmpv6EchoReply => "ICMPv6 Echo Reply",
    Mldv2Query => "MLDv2 - Multicast Listener Query",
    MldReport => "MLD - Multicast Listener Report",
    MldDone => "MLD - Multicast Listener Done",
    NdRouterSolicitation => "ICMPv6 Neighbor Discovery - Router Solicitation",
    NdRouterAdvertisement => "ICMPv6 Neighbor Discovery - Router Advertisement",
    NdNeighborSolicitation => "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
    NdNeighborAdvertisement => "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
    NdRedirect => "ICMPv6 Neighbor Discovery - Redirect",
    Mldv2Report => "MLDv2 - Multicast Listener Report",
    Icmpv6Unknown => "ICMPv6 Unknown",
}

/// How many [`ScapyLayer`]s there are (the length of a counter array).
pub const SCAPY_LAYERS: usize = ScapyLayer::ALL.len();

/// Calls `emit` with every layer of `packet` as scapy names it, outermost
/// first, as `PacketCountChef` counts them.
pub fn scapy_layers(packet: &Packet<'_>, mut emit: impl FnMut(ScapyLayer)) {
    // The next-header value that names the following IPv6 extension header.
    let mut ipv6_next: Option<u8> = None;
    let mut transport: Option<LayerKind> = None;
    let mut icmp_type: Option<u8> = None;
    let mut link_8023_len: Option<usize> = None;
    for (kind, bytes) in packet.layers() {
        match kind {
            LayerKind::Ethernet => emit(ScapyLayer::Ethernet),
            LayerKind::Ieee8023 => {
                emit(ScapyLayer::Dot3);
                link_8023_len = bytes
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
                ipv6_next = bytes.get(6).copied();
            }
            LayerKind::Ipv6Extension => {
                emit(match ipv6_next {
                    Some(0) => ScapyLayer::Ipv6HopByHop,
                    Some(43) => ScapyLayer::Ipv6Routing,
                    Some(60) => ScapyLayer::Ipv6DestOptions,
                    Some(51) => ScapyLayer::Ah,
                    _ => ScapyLayer::Ipv6Extension,
                });
                ipv6_next = bytes.first().copied();
            }
            LayerKind::Ipv6Fragment => {
                emit(ScapyLayer::Ipv6Fragment);
                ipv6_next = bytes.first().copied();
            }
            LayerKind::Tcp => {
                emit(ScapyLayer::Tcp);
                transport = Some(kind);
            }
            LayerKind::Udp => {
                emit(ScapyLayer::Udp);
                transport = Some(kind);
            }
            LayerKind::Icmpv4 => {
                emit(ScapyLayer::Icmp);
                transport = Some(kind);
                icmp_type = bytes.first().copied();
            }
            LayerKind::Icmpv6 => {
                transport = Some(kind);
                emit(icmpv6_name(bytes));
            }
            LayerKind::Payload => payload_names(
                packet,
                bytes,
                transport,
                icmp_type,
                link_8023_len,
                &mut emit,
            ),
            LayerKind::Padding => emit(ScapyLayer::Padding),
        }
    }
}

fn payload_names(
    packet: &Packet<'_>,
    bytes: &[u8],
    transport: Option<LayerKind>,
    icmp_type: Option<u8>,
    link_8023_len: Option<usize>,
    emit: &mut impl FnMut(ScapyLayer),
) {
    if bytes.is_empty() {
        return;
    }
    let non_first_fragment = packet.fragment_offset().is_some_and(|o| o != 0);
    if non_first_fragment {
        emit(ScapyLayer::Raw);
        return;
    }
    match transport {
        Some(LayerKind::Udp) | Some(LayerKind::Tcp) => {
            let ports = [packet.src_port(), packet.dst_port()];
            // Most packets are not on a DNS port: skip `dns_message`'s
            // second walk over the layers for them.
            let dns_port = ports.iter().any(|p| matches!(p, Some(53 | 5353)));
            if let Some(msg) = dns_port.then(|| dns_message(packet)).flatten() {
                if parse_dns(msg).is_some() {
                    emit(ScapyLayer::Dns);
                    // Over TCP, bytes after the length-prefixed message are Raw.
                    if transport == Some(LayerKind::Tcp) && bytes.len() > msg.len() + 2 {
                        emit(ScapyLayer::Raw);
                    }
                    return;
                }
            }
            if transport == Some(LayerKind::Udp) && ports.contains(&Some(5355)) {
                // scapy's LLMNR: query or response by the QR bit.
                match bytes.get(2) {
                    Some(b) if b & 0x80 != 0 => emit(ScapyLayer::LlmnrResponse),
                    _ => emit(ScapyLayer::LlmnrQuery),
                }
            } else if transport == Some(LayerKind::Udp) && ports.contains(&Some(123)) {
                emit(ScapyLayer::Ntp);
            } else {
                emit(ScapyLayer::Raw);
            }
        }
        Some(LayerKind::Icmpv4) if matches!(icmp_type, Some(3 | 4 | 5 | 11 | 12)) => {
            // An ICMP error quotes the offending IP header and 8 bytes of it.
            let Some(ihl) = bytes.first().map(|b| ((b & 0x0f) as usize) * 4) else {
                return;
            };
            if bytes.first().map(|b| b >> 4) != Some(4) || ihl < 20 || bytes.len() < 20 {
                emit(ScapyLayer::Raw);
                return;
            }
            emit(ScapyLayer::IpInIcmp);
            let rest = bytes.get(ihl..).unwrap_or(&[]);
            match bytes.get(9) {
                Some(17) if rest.len() >= 8 => emit(ScapyLayer::UdpInIcmp),
                Some(6) if rest.len() >= 8 => emit(ScapyLayer::TcpInIcmp),
                Some(1) if rest.len() >= 8 => emit(ScapyLayer::IcmpInIcmp),
                _ => {}
            }
            if rest.len() > 8 {
                emit(ScapyLayer::Raw);
            }
        }
        // ICMPv6 messages (echo, MLD, ND, ...) carry their body in the message.
        Some(LayerKind::Icmpv6) => {}
        None if link_8023_len.is_some() => {
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

/// scapy's class names for ICMPv6 messages (the common ones).
fn icmpv6_name(header: &[u8]) -> ScapyLayer {
    match header.first() {
        Some(1) => ScapyLayer::Icmpv6DestUnreach,
        Some(2) => ScapyLayer::Icmpv6PacketTooBig,
        Some(3) => ScapyLayer::Icmpv6TimeExceeded,
        Some(4) => ScapyLayer::Icmpv6ParamProblem,
        Some(128) => ScapyLayer::Icmpv6EchoRequest,
        Some(129) => ScapyLayer::Icmpv6EchoReply,
        Some(130) => ScapyLayer::Mldv2Query,
        Some(131) => ScapyLayer::MldReport,
        Some(132) => ScapyLayer::MldDone,
        Some(133) => ScapyLayer::NdRouterSolicitation,
        Some(134) => ScapyLayer::NdRouterAdvertisement,
        Some(135) => ScapyLayer::NdNeighborSolicitation,
        Some(136) => ScapyLayer::NdNeighborAdvertisement,
        Some(137) => ScapyLayer::NdRedirect,
        Some(143) => ScapyLayer::Mldv2Report,
        _ => ScapyLayer::Icmpv6Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs for the dns fuzz target (`just fuzz dns`), replayed natively:
    /// DNS from the malformed shared captures and hand-made hostile names.
    /// None may panic or hang; the hostile ones are not DNS to scapy.
    #[test]
    fn fuzz_regressions() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../fuzz/regressions/dns");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/dns") {
            let path = entry.unwrap().path();
            let parsed = parse_dns(&std::fs::read(&path).unwrap());
            let name = path.file_name().unwrap().to_str().unwrap();
            if ["self-pointer", "pointer-ping-pong", "truncated-header"].contains(&name) {
                assert_eq!(parsed, None, "{name}");
            }
            if name == "non-utf8-label" {
                assert_eq!(parsed.map(|p| p.first_question), Some(None), "{name}");
            }
            n += 1;
        }
        assert!(n >= 10, "only {n} regression inputs");
    }
}
