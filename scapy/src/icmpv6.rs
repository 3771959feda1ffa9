//! ICMPv6 as scapy 2.4.5 names it: each message type's class, and the
//! options after a neighbour-discovery message, each a layer of its own.

use crate::names::ScapyLayer;
use crate::tables::ND_OPTIONS;

/// Bytes of each neighbour-discovery message after the 8 the kitchen's
/// `icmpv6` layer holds, before its options: router solicitation (133)
/// none, advertisement (134) reachable and retransmit timers, neighbour
/// solicitation and advertisement (135, 136) the target address, redirect
/// (137) the target and destination addresses.
const ND_FIXED_AFTER_HEADER: [(u8, usize); 5] =
    [(133, 0), (134, 8), (135, 16), (136, 16), (137, 32)];

/// scapy's class names for ICMPv6 messages (the common ones).
pub(crate) fn message_name(header: &[u8]) -> ScapyLayer {
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

/// The options of a neighbour-discovery message whose bytes after the
/// first 8 are `body` (the kitchen's payload layer), as scapy chains them
/// (`_ICMPv6NDGuessPayload`): by type, `Raw` for a type it does not know
/// or a single byte left. An option spans `len` units of 8 bytes.
///
/// Limits: scapy dissects each option's own fields, so an option whose
/// `len` disagrees with them (a crafted one) can send scapy's walk
/// elsewhere; a `len` of 0 (invalid, RFC 4861 4.6) ends the walk here.
pub(crate) fn nd_options(icmp_type: Option<u8>, body: &[u8], emit: &mut impl FnMut(ScapyLayer)) {
    let Some(&(_, fixed)) = ND_FIXED_AFTER_HEADER
        .iter()
        .find(|(t, _)| Some(*t) == icmp_type)
    else {
        return;
    };
    let mut at = fixed;
    while at < body.len() {
        let rest = &body[at..];
        let (Some(&kind), Some(&len)) = (rest.first(), rest.get(1)) else {
            return emit(ScapyLayer::Raw);
        };
        match ND_OPTIONS.iter().find(|(t, _)| *t == kind) {
            Some((_, name)) => emit(*name),
            None => return emit(ScapyLayer::Raw),
        }
        if len == 0 {
            return;
        }
        at += len as usize * 8;
    }
}
