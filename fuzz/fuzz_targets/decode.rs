//! The kitchen's native decoder on arbitrary bytes under every link type:
//! it must not panic, and every layer must lie within the captured bytes.
//! Then scapy's names for the decoded layers (`nd-scapy`, what the kitchen
//! computes for PacketCountChefs): no panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nd_decode::{decode, LinkType};

/// Link types tried: the first input byte picks one (the last is unknown).
const LINKS: [u16; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 276, 147];

fuzz_target!(|input: &[u8]| {
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let link = LinkType::from_linktype(LINKS[pick as usize % LINKS.len()]);
    let mut layers = Vec::new();
    decode(link, data, &mut layers);
    for l in &layers {
        assert!(l.offset as usize + l.length as usize <= data.len(), "{l:?}");
    }
    let decoded = nd_scapy::Decoded::new(link, data);
    let mut names = 0usize;
    nd_scapy::scapy_layers(&decoded.view(), |_| names += 1);
    // Bounded by the input: a few names per layer, and options chains
    // (DHCPv6, ICMPv6 ND) at most one name per 4 bytes. A walk that stops
    // advancing would break this.
    let bound = 4 * layers.len() + data.len() / 4 + 4;
    assert!(names <= bound, "{names} names for {} layers", layers.len());
});
