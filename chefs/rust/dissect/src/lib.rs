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

/// Calls `emit` with scapy's name for every layer of `packet`, outermost
/// first, as `PacketCountChef` counts them.
pub fn scapy_layer_names(packet: &Packet<'_>, mut emit: impl FnMut(&'static str)) {
    // The next-header value that names the following IPv6 extension header.
    let mut ipv6_next: Option<u8> = None;
    let mut transport: Option<LayerKind> = None;
    let mut icmp_type: Option<u8> = None;
    let mut link_8023_len: Option<usize> = None;
    for (kind, bytes) in packet.layers() {
        match kind {
            LayerKind::Ethernet => emit("Ethernet"),
            LayerKind::Ieee8023 => {
                emit("802.3");
                link_8023_len = bytes
                    .get(12..14)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
            }
            LayerKind::LinuxSll => emit("cooked linux"),
            LayerKind::Loopback => emit("Loopback"),
            LayerKind::Vlan => emit("802.1Q"),
            LayerKind::Qinq => emit("802_1AD"),
            LayerKind::Arp => emit("ARP"),
            LayerKind::Ipv4 => emit("IP"),
            LayerKind::Ipv6 => {
                emit("IPv6");
                ipv6_next = bytes.get(6).copied();
            }
            LayerKind::Ipv6Extension => {
                emit(match ipv6_next {
                    Some(0) => "IPv6 Extension Header - Hop-by-Hop Options Header",
                    Some(43) => "IPv6 Option Header Routing",
                    Some(60) => "IPv6 Extension Header - Destination Options Header",
                    Some(51) => "AH",
                    _ => "IPv6 Extension Header",
                });
                ipv6_next = bytes.first().copied();
            }
            LayerKind::Ipv6Fragment => {
                emit("IPv6 Extension Header - Fragmentation header");
                ipv6_next = bytes.first().copied();
            }
            LayerKind::Tcp => {
                emit("TCP");
                transport = Some(kind);
            }
            LayerKind::Udp => {
                emit("UDP");
                transport = Some(kind);
            }
            LayerKind::Icmpv4 => {
                emit("ICMP");
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
            LayerKind::Padding => emit("Padding"),
        }
    }
}

fn payload_names(
    packet: &Packet<'_>,
    bytes: &[u8],
    transport: Option<LayerKind>,
    icmp_type: Option<u8>,
    link_8023_len: Option<usize>,
    emit: &mut impl FnMut(&'static str),
) {
    if bytes.is_empty() {
        return;
    }
    let non_first_fragment = packet.fragment_offset().is_some_and(|o| o != 0);
    if non_first_fragment {
        emit("Raw");
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
                    emit("DNS");
                    // Over TCP, bytes after the length-prefixed message are Raw.
                    if transport == Some(LayerKind::Tcp) && bytes.len() > msg.len() + 2 {
                        emit("Raw");
                    }
                    return;
                }
            }
            if transport == Some(LayerKind::Udp) && ports.contains(&Some(5355)) {
                // scapy's LLMNR: query or response by the QR bit.
                match bytes.get(2) {
                    Some(b) if b & 0x80 != 0 => {
                        emit("Link Local Multicast Node Resolution - Response")
                    }
                    _ => emit("Link Local Multicast Node Resolution - Query"),
                }
            } else if transport == Some(LayerKind::Udp) && ports.contains(&Some(123)) {
                emit("NTPHeader");
            } else {
                emit("Raw");
            }
        }
        Some(LayerKind::Icmpv4) if matches!(icmp_type, Some(3 | 4 | 5 | 11 | 12)) => {
            // An ICMP error quotes the offending IP header and 8 bytes of it.
            let Some(ihl) = bytes.first().map(|b| ((b & 0x0f) as usize) * 4) else {
                return;
            };
            if bytes.first().map(|b| b >> 4) != Some(4) || ihl < 20 || bytes.len() < 20 {
                emit("Raw");
                return;
            }
            emit("IP in ICMP");
            let rest = bytes.get(ihl..).unwrap_or(&[]);
            match bytes.get(9) {
                Some(17) if rest.len() >= 8 => emit("UDP in ICMP"),
                Some(6) if rest.len() >= 8 => emit("TCP in ICMP"),
                Some(1) if rest.len() >= 8 => emit("ICMP in ICMP"),
                _ => {}
            }
            if rest.len() > 8 {
                emit("Raw");
            }
        }
        // ICMPv6 messages (echo, MLD, ND, ...) carry their body in the message.
        Some(LayerKind::Icmpv6) => {}
        None if link_8023_len.is_some() => {
            emit("LLC");
            if bytes.first() == Some(&0x42) && bytes.get(1) == Some(&0x42) {
                emit("Spanning Tree Protocol");
                // scapy's STP layer is 35 bytes; anything after it is Raw.
                if bytes.len() > 3 + STP_LEN {
                    emit("Raw");
                }
            } else if bytes.len() > 3 {
                emit("Raw");
            }
        }
        _ => emit("Raw"),
    }
}

/// scapy's class names for ICMPv6 messages (the common ones).
fn icmpv6_name(header: &[u8]) -> &'static str {
    match header.first() {
        Some(1) => "ICMPv6 Destination Unreachable",
        Some(2) => "ICMPv6 Packet Too Big",
        Some(3) => "ICMPv6 Time Exceeded",
        Some(4) => "ICMPv6 Parameter Problem",
        Some(128) => "ICMPv6 Echo Request",
        Some(129) => "ICMPv6 Echo Reply",
        Some(130) => "MLDv2 - Multicast Listener Query",
        Some(131) => "MLD - Multicast Listener Report",
        Some(132) => "MLD - Multicast Listener Done",
        Some(133) => "ICMPv6 Neighbor Discovery - Router Solicitation",
        Some(134) => "ICMPv6 Neighbor Discovery - Router Advertisement",
        Some(135) => "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
        Some(136) => "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
        Some(137) => "ICMPv6 Neighbor Discovery - Redirect",
        Some(143) => "MLDv2 - Multicast Listener Report",
        _ => "ICMPv6 Unknown",
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
