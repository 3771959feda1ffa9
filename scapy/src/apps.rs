//! Application layers scapy 2.4.5 dissects above UDP besides DNS: BOOTP and
//! DHCP, DHCPv6, NBNS. Which one a UDP payload is follows the order of
//! scapy's `UDP.payload_guess` (each `bind_layers` appends to it, and the
//! first entry whose ports match wins: BOOTP, DNS, DHCPv6, ..., LLMNR, NBNS,
//! ..., NTP, ..., VXLAN), and a layer whose fixed fields are cut inside a
//! field is `Raw`, as scapy's dissector raised there (see [`fixed_fields`]).
//!
//! Not named (their payloads are `Raw` to us): the other protocols scapy
//! binds to UDP ports (HSRP, ESP in UDP, ISAKMP, L2TP, MGCP, MobileIP,
//! NetFlow, RADIUS, RIP, SNMP, TFTP, ZEP); a packet on one of their ports
//! and one of ours is named by ours.

use crate::names::ScapyLayer;
use crate::tables::{DHCP6_MESSAGES, DHCP6_OPTIONS, DHCP6_UNKNOWN_OPTION};

/// One field of a scapy layer's fixed part: its size, and whether a cut
/// inside it raises (`struct`-based fields: `ShortField`, `IPField`,
/// `Field("x", b"", "16s")`) or not (`StrFixedLenField` and
/// `NetBIOSNameField` take what there is).
#[derive(Clone, Copy)]
pub(crate) struct FixedField {
    size: usize,
    strict: bool,
}

pub(crate) const fn strict(size: usize) -> FixedField {
    FixedField { size, strict: true }
}

const fn lenient(size: usize) -> FixedField {
    FixedField {
        size,
        strict: false,
    }
}

/// How far scapy's `do_dissect` gets through `fields` on `bytes`: it stops
/// when the bytes run out (missing fields keep their defaults), and raises
/// (`None`) when a strict field gets some but not all of its bytes.
pub(crate) fn fixed_fields(bytes: &[u8], fields: &[FixedField]) -> Option<usize> {
    let mut at = 0;
    for f in fields {
        let left = bytes.len() - at;
        if left == 0 {
            break;
        }
        if left < f.size && f.strict {
            return None;
        }
        at += f.size.min(left);
    }
    Some(at)
}

/// BOOTP's fixed part: op, htype, hlen, hops, xid, secs, flags, four
/// addresses, chaddr ("16s"), sname ("64s"), file ("128s"); options follow.
const BOOTP: [FixedField; 14] = [
    strict(1),
    strict(1),
    strict(1),
    strict(1),
    strict(4),
    strict(2),
    strict(2),
    strict(4),
    strict(4),
    strict(4),
    strict(4),
    strict(16),
    strict(64),
    strict(128),
];

/// The DHCP magic cookie that starts BOOTP options for DHCP.
const DHCP_MAGIC: [u8; 4] = [0x63, 0x82, 0x53, 0x63];

/// NBNS query request (UDP destination port 137): a 12-byte header, the
/// encoded name (31 bytes), suffix, a null byte, type and class.
const NBNS_QUERY_REQUEST: [FixedField; 11] = [
    strict(2),
    strict(2),
    strict(2),
    strict(2),
    strict(2),
    strict(2),
    lenient(31),
    strict(2),
    strict(1),
    strict(2),
    strict(2),
];

/// NBNS query response (UDP source port 137): the request's fields, then
/// TTL, rdlength, flags and an address.
const NBNS_QUERY_RESPONSE: [FixedField; 15] = {
    let tail = [strict(4), strict(2), strict(2), strict(4)];
    let mut out = [strict(0); 15];
    let mut i = 0;
    while i < out.len() {
        out[i] = match i < NBNS_QUERY_REQUEST.len() {
            true => NBNS_QUERY_REQUEST[i],
            false => tail[i - NBNS_QUERY_REQUEST.len()],
        };
        i += 1;
    }
    out
};

/// DHCPv6 message header (msg-type, transaction id) and relay header
/// (msg-type, hop count, link and peer addresses).
const DHCP6_MESSAGE: [FixedField; 2] = [strict(1), strict(3)];
const DHCP6_RELAY: [FixedField; 4] = [strict(1), strict(1), strict(16), strict(16)];
/// DHCPv6 relay-forward and relay-reply message types.
const DHCP6_RELAY_TYPES: [u8; 2] = [12, 13];

/// What a UDP payload is to scapy, by its ports, before looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UdpApp {
    Bootp,
    Dhcp6,
    Dns,
    Llmnr,
    NbnsRequest,
    NbnsResponse,
    Ntp,
    Other,
}

impl UdpApp {
    /// scapy's bindings for UDP `[src, dst]`, in `UDP.payload_guess` order.
    pub(crate) fn for_ports([src, dst]: [u16; 2]) -> UdpApp {
        match (src, dst) {
            // dhcp.py: (sport 68, dport 67), (67, 68), bottom-up (67, 67).
            (68, 67) | (67, 68) | (67, 67) => UdpApp::Bootp,
            (53 | 5353, _) | (_, 53 | 5353) => UdpApp::Dns,
            // dhcp6.py: bottom-up on dport 547 and 546 only.
            (_, 547) | (_, 546) => UdpApp::Dhcp6,
            (5355, _) | (_, 5355) => UdpApp::Llmnr,
            (_, 137) => UdpApp::NbnsRequest,
            (137, _) => UdpApp::NbnsResponse,
            (123, _) | (_, 123) => UdpApp::Ntp,
            _ => UdpApp::Other,
        }
    }
}

/// BOOTP, then `DHCP options` when the options start with the magic
/// cookie and go on after it (scapy's `BOOTP.extract_padding`).
pub(crate) fn bootp(bytes: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    let Some(fixed) = fixed_fields(bytes, &BOOTP) else {
        return emit(ScapyLayer::Raw);
    };
    emit(ScapyLayer::Bootp);
    let options = &bytes[fixed..];
    if options.len() > DHCP_MAGIC.len() && options.starts_with(&DHCP_MAGIC) {
        emit(ScapyLayer::DhcpOptions);
    }
}

/// An NBNS query request or response; bytes after it are `Raw` (scapy
/// binds nothing above them).
pub(crate) fn nbns(bytes: &[u8], request: bool, emit: &mut impl FnMut(ScapyLayer)) {
    let (fields, name): (&[FixedField], _) = match request {
        true => (&NBNS_QUERY_REQUEST, ScapyLayer::NbnsQueryRequest),
        false => (&NBNS_QUERY_RESPONSE, ScapyLayer::NbnsQueryResponse),
    };
    let Some(fixed) = fixed_fields(bytes, fields) else {
        return emit(ScapyLayer::Raw);
    };
    emit(name);
    if bytes.len() > fixed {
        emit(ScapyLayer::Raw);
    }
}

/// A DHCPv6 message (`_dhcp6_dispatcher`: by its first byte, `Raw` under
/// 2 bytes or for an unknown type), then each top-level option by its code
/// (`_DHCP6OptGuessPayload`: `Raw` for 2 bytes or fewer left). Options
/// nested inside options (IA_NA's addresses, a relayed message) are fields
/// of their option to scapy, not layers, so they are not named.
///
/// Limit: an option is taken to span its 4-byte header and `optlen` bytes.
/// scapy dissects each option's own fields, so an option whose `optlen`
/// disagrees with its fields (a crafted one) can send scapy's walk
/// elsewhere; well-formed messages name the same.
pub(crate) fn dhcp6(bytes: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    let msg = match (bytes.len(), bytes.first()) {
        (2.., Some(t)) => DHCP6_MESSAGES.iter().find(|(code, _)| code == t),
        _ => None,
    };
    let Some(&(msg_type, name)) = msg else {
        return emit(ScapyLayer::Raw);
    };
    let header = match DHCP6_RELAY_TYPES.contains(&msg_type) {
        true => &DHCP6_RELAY[..],
        false => &DHCP6_MESSAGE[..],
    };
    let Some(mut at) = fixed_fields(bytes, header) else {
        return emit(ScapyLayer::Raw);
    };
    emit(name);
    while at < bytes.len() {
        let rest = &bytes[at..];
        // Fewer than 3 bytes: scapy's guess says Raw; 3: optlen is cut.
        let (Some(code), Some(len)) = (be16(rest, 0), be16(rest, 2)) else {
            return emit(ScapyLayer::Raw);
        };
        let option = DHCP6_OPTIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(DHCP6_UNKNOWN_OPTION, |(_, name)| *name);
        emit(option);
        at += 4 + len as usize;
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}
