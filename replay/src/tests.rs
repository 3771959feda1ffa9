//! The reader on hostile and multi-interface files.

use super::*;

/// Every packet of `bytes` read as a capture: (link types, packets), or
/// how it ended.
fn read_all(bytes: &[u8]) -> (Vec<u16>, Result<&'static str, ReplayError>) {
    let mut types = Vec::new();
    let mut r = match FileReader::from_reader(
        Path::new("input"),
        std::io::Cursor::new(bytes.to_vec()),
        None,
    ) {
        Ok(r) => r,
        Err(e) => return (types, Err(e)),
    };
    loop {
        match r.next_packet() {
            Ok(Read::Packet(p)) => {
                assert!(p.data.len() <= bytes.len());
                types.push(p.link_type);
            }
            Ok(Read::End) => return (types, Ok("end")),
            Ok(Read::CutShort(_)) => return (types, Ok("cut")),
            Err(e) => return (types, Err(e)),
        }
    }
}

/// Inputs the fuzzer (`just fuzz replay`) was seeded with as hostile or
/// found, replayed as the fuzz target does: no panic, an end.
#[test]
fn fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/replay");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/replay") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = read_all(&bytes);
        n += 1;
    }
    assert!(n >= 9, "only {n} regression inputs");
}

#[test]
fn hostile_headers_end_as_a_cut_or_a_named_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/replay");
    let case = |name: &str| read_all(&std::fs::read(dir.join(name)).unwrap());
    let err = |r: Result<&str, ReplayError>| match r {
        Err(ReplayError::File { reason, .. }) => reason,
        other => panic!("expected a file error, got {other:?}"),
    };
    // The first packet, then the undescribed interface of the second.
    let (types, r) = case("undescribed-interface");
    assert_eq!(types, [1]);
    assert!(err(r).starts_with("record 2 (byte "));
    let (types, r) = case("block-length-5");
    assert_eq!(types, [1, 113]);
    assert!(err(r).contains("record 3"));
    // A length running past the end is indistinguishable from a cut.
    let (types, r) = case("block-length-huge");
    assert_eq!((types.len(), r.unwrap()), (2, "cut"));
    let (types, r) = case("cut-in-block");
    assert_eq!((types, r.unwrap()), (vec![1, 113, 101], "cut"));
    assert!(err(case("tsresol-invalid").1).contains("timestamp resolution"));
}

#[test]
fn interfaces_keep_their_link_types_and_resolutions() {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/peer/pcapng-three-link-types.pcapng"),
    )
    .unwrap();
    let mut r =
        FileReader::from_reader(Path::new("three"), std::io::Cursor::new(bytes), None).unwrap();
    let mut got = Vec::new();
    while let Read::Packet(p) = r.next_packet().unwrap() {
        got.push((p.link_type, p.ts_secs, p.ts_nanos));
    }
    // make_captures.py: interfaces 0, 1, 2 in turn (then 0, 1, 2, 1, 0,
    // 2), packet i at T0 + i/4 s, in µs, ns and ms resolution.
    let ifaces = [0, 1, 2, 0, 1, 2, 1, 0, 2];
    let link = [1, 113, 101];
    let want: Vec<(u16, u64, u32)> = ifaces
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let t = 1_700_000_000_000u64 + 250 * i as u64; // ms
            (link[k], t / 1000, (t % 1000) as u32 * 1_000_000)
        })
        .collect();
    assert_eq!(got, want);
}
