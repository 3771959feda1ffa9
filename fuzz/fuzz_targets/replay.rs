//! The kitchen's capture file reader on arbitrary bytes: it must not
//! panic, must end (the end, a cut, or an error), and every packet it
//! hands out must lie within the input. Seeded with the test captures.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nd_replay::{FileReader, Read};

fuzz_target!(|input: &[u8]| {
    let Ok(mut reader) = FileReader::from_reader(
        Path::new("fuzz-input"),
        std::io::Cursor::new(input.to_vec()),
        None,
    ) else {
        return;
    };
    // Every packet takes at least a 16-byte record from the input: more
    // reads than that would be a reader going round in circles.
    for _ in 0..=input.len() / 16 + 1 {
        match reader.next_packet() {
            Ok(Read::Packet(p)) => assert!(p.data.len() <= input.len()),
            Ok(Read::End) | Ok(Read::CutShort(_)) | Err(_) => return,
        }
    }
    panic!("the reader did not end");
});
