//! What the hub parses from the network: dumplings (validation, as the hub
//! does for every message; full parsing, as eaters do) and hellos. No panic;
//! a message the hub accepts is JSON with `metadata.chef`, as Python's
//! `json.loads(m)['metadata']['chef']` would find it
//! (`nd_protocol::assert_accepted_is_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if nd_protocol::validate_dumpling(text).is_ok() {
        nd_protocol::assert_accepted_is_json(text);
    }
    let _ = nd_protocol::Dumpling::from_json(text);
    let _ = nd_protocol::parse_hello(text, "kitchen_name");
    let _ = nd_protocol::parse_hello(text, "eater_name");
});
