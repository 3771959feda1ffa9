//! The datagram an ICMP or ICMPv6 error quotes, as scapy 2.4.5 names it:
//! `IP in ICMP` / `IPv6 in ICMPv6` (its `IPerror` / `IPerror6`), then
//! `UDP in ICMP`, `TCP in ICMP`, `ICMP in ICMP`, or the quoted ICMPv6
//! message's own class, then what its payload is by the quoted ports (a
//! quoted DNS query is `DNS`, as scapy binds UDP's payloads to its `*error`
//! subclasses too).
//!
//! The kitchen decodes a quote whose IP header is plausible into
//! `quoted-*` layers (`nd_decode`); these functions name what it left as
//! payload. scapy's fields take what there is and raise only on a field
//! cut in the middle (`apps::fixed_fields`).

use crate::apps::{fixed_fields, strict, FixedField};
use crate::icmpv6;
use crate::names::ScapyLayer;

/// `UDPerror`: source port, destination port, length, checksum.
const UDP: [FixedField; 4] = [strict(2), strict(2), strict(2), strict(2)];
/// `TCPerror`: ports, sequence and acknowledgement numbers, data offset
/// and flags, window, checksum, urgent pointer.
const TCP: [FixedField; 8] = [
    strict(2),
    strict(2),
    strict(4),
    strict(4),
    strict(2),
    strict(2),
    strict(2),
    strict(2),
];
/// `ICMPerror`: type, code, checksum, then (echo) identifier and sequence.
const ICMP: [FixedField; 5] = [strict(1), strict(1), strict(2), strict(2), strict(2)];
/// `IPerror6`: version/class/flow label, payload length, next header, hop
/// limit, two addresses.
const IPV6: [FixedField; 6] = [
    strict(4),
    strict(2),
    strict(1),
    strict(1),
    strict(16),
    strict(16),
];

/// The ports of a quoted TCP or UDP header (zeros where it is cut).
pub(crate) fn ports(header: &[u8]) -> [u16; 2] {
    let port = |at: usize| match header.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    };
    [port(0), port(2)]
}

/// The quoted transport after a quoted IP header, when the kitchen could
/// not decode it (fewer bytes than a whole header): by the quoted protocol.
pub(crate) fn bare_transport(protocol: u8, bytes: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    let (fields, name): (&[FixedField], ScapyLayer) = match protocol {
        17 => (&UDP, ScapyLayer::UdpInIcmp),
        6 => (&TCP, ScapyLayer::TcpInIcmp),
        1 => (&ICMP, ScapyLayer::IcmpInIcmp),
        58 => return emit(icmpv6::message_name(bytes)),
        _ => return emit(ScapyLayer::Raw),
    };
    match fixed_fields(bytes, fields) {
        Some(used) => {
            emit(name);
            if used < bytes.len() {
                emit(ScapyLayer::Raw);
            }
        }
        None => emit(ScapyLayer::Raw),
    }
}

/// An ICMP error's payload the kitchen did not decode as a quote.
///
/// Limit: scapy's `IPerror` dissects any bytes as IPv4 (it does not check
/// the version, and an IHL under 5 shifts what follows); this keeps the
/// rule the PacketCountChefs had before the kitchen decoded quotes: `Raw`
/// unless the bytes start with a version-4 header of at least 20 bytes.
pub(crate) fn undecoded_ipv4(bytes: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    let Some(ihl) = bytes.first().map(|b| ((b & 0x0f) as usize) * 4) else {
        return;
    };
    if bytes.first().map(|b| b >> 4) != Some(4) || ihl < 20 || bytes.len() < 20 {
        return emit(ScapyLayer::Raw);
    }
    emit(ScapyLayer::IpInIcmp);
    let rest = bytes.get(ihl..).unwrap_or(&[]);
    if !rest.is_empty() {
        bare_transport(bytes[9], rest, emit);
    }
}

/// An ICMPv6 error's payload the kitchen did not decode as a quote (under
/// 40 bytes, or not version 6): `IPv6 in ICMPv6` if scapy's fields end at
/// a field boundary, else `Raw`.
pub(crate) fn undecoded_ipv6(bytes: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    match fixed_fields(bytes, &IPV6) {
        Some(_) => emit(ScapyLayer::Ipv6InIcmpv6),
        None => emit(ScapyLayer::Raw),
    }
}
