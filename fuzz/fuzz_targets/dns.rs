//! The DNS parsing the standard chefs do inside the guest and the kitchen
//! does to name layers (`nd-scapy`, over simple-dns), run natively: no panic, no hang on compression loops or
//! bad labels.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nd_scapy::parse_dns(data);
});
