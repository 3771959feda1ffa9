//! Which packets scapy 2.4.5 dissected as DNS, and what the chefs read from
//! a DNS message (the first question's name).

use nd_decode::LayerKind;

use crate::Packet;

/// The DNS message a packet carries, if scapy would have dissected one:
/// UDP port 53 or 5353 (mDNS) on either side, or TCP port 53 after the
/// 2-byte length prefix, also inside the datagram an ICMP error quotes
/// (scapy dissects it, and netdumplings' DNSLookupChef reported it). Not
/// LLMNR (5355), not non-first IP fragments.
pub fn dns_message<'a>(packet: &Packet<'a>) -> Option<&'a [u8]> {
    if packet.is_later_fragment() {
        return None;
    }
    // The innermost transport: a tunnel's UDP comes first, and the header
    // an ICMP error quotes (with the DNS query it carried) is its own.
    let (kind, header) = packet
        .layers()
        .filter(|(k, _)| {
            matches!(
                k,
                LayerKind::Udp | LayerKind::Tcp | LayerKind::QuotedUdp | LayerKind::QuotedTcp
            )
        })
        .last()?;
    let ports = match kind {
        LayerKind::Udp | LayerKind::Tcp => packet.ports()?,
        _ => crate::quote::ports(header),
    };
    let payload = packet.layer(LayerKind::Payload)?;
    let udp = matches!(kind, LayerKind::Udp | LayerKind::QuotedUdp);
    if udp && ports.iter().any(|p| *p == 53 || *p == 5353) {
        Some(payload)
    } else if !udp && ports.contains(&53) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs for the dns fuzz target (`just fuzz dns`), replayed natively:
    /// DNS from the malformed shared captures and hand-made hostile names.
    /// None may panic or hang; the hostile ones are not DNS to scapy.
    #[test]
    fn fuzz_regressions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/dns");
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
