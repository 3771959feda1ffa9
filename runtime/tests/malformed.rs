//! Hostile captures: the shared captures marked malformed, and truncated and
//! bit-flipped variants generated here from the good ones, replayed through
//! the standard chefs.
//!
//! Asserted for every file: nd-sniff does not panic; no chef faults (a trap
//! would mean the host handed a chef something its contract does not
//! allow, or a chef's own parser broke on hostile bytes); the kitchen reads
//! exactly as many packets as the file has records, counted independently
//! (the manifest's capinfos count for the shared files, our own record walk
//! for generated ones), and every chef saw each of them.

mod common;

use std::path::{Path, PathBuf};

use common::{chef_dir, nd_sniff, pcaps};
use serde_json::Value;

/// One shared capture from `MANIFEST.json`.
struct Capture {
    name: String,
    category: String,
    packets: u64,
}

fn manifest() -> Vec<Capture> {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(pcaps().join("MANIFEST.json")).unwrap())
            .unwrap();
    m.as_array()
        .unwrap()
        .iter()
        .map(|c| Capture {
            name: c["name"].as_str().unwrap().to_string(),
            category: c["category"].as_str().unwrap().to_string(),
            packets: c["packets"].as_u64().unwrap(),
        })
        .collect()
}

/// What a replay of a hostile file did.
struct Outcome {
    /// Exit status was success.
    ok: bool,
    /// The exit code (`None`: killed by a signal).
    code: Option<i32>,
    /// The report (absent if nd-sniff refused the file).
    report: Option<Value>,
    stderr: String,
    /// The dumplings printed.
    stdout: String,
}

fn run(file: &Path) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let out = nd_sniff()
        .arg("--read")
        .arg(file)
        .args(["--print", "--no-watch", "-p", "3600", "--chef-dir"])
        .arg(chef_dir())
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run nd-sniff");
    Outcome {
        ok: out.status.success(),
        code: out.status.code(),
        report: std::fs::read_to_string(&report)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap()),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Checks one replay: success, no panic, `records` packets read and seen
/// by every standard chef, no faults.
fn check(label: &str, o: &Outcome, records: u64) -> Result<(), String> {
    if o.stderr.contains("panicked") {
        return Err(format!("{label}: panic:\n{}", o.stderr));
    }
    if !o.ok {
        return Err(format!("{label}: nd-sniff failed:\n{}", o.stderr));
    }
    let r = o.report.as_ref().ok_or(format!("{label}: no report"))?;
    if r["packets"] != records {
        return Err(format!(
            "{label}: read {} packets, the file has {records} records",
            r["packets"]
        ));
    }
    let chefs = r["chefs"].as_array().ok_or(format!("{label}: no chefs"))?;
    if chefs.len() != 3 {
        return Err(format!("{label}: expected the 3 standard chefs: {r}"));
    }
    for c in chefs {
        if c["faults"] != 0 || c["packets"] != records {
            return Err(format!(
                "{label}: chef {} saw {} packets with {} faults ({records} records)\n{}",
                c["name"], c["packets"], c["faults"], o.stderr
            ));
        }
    }
    Ok(())
}

/// Runs `check` over `jobs` on both cores (and, if given, checks that each
/// replay's log says `must_say`); panics with every failure.
fn check_all(jobs: Vec<(String, PathBuf, u64)>, must_say: Option<&str>) {
    let jobs = jobs
        .into_iter()
        .map(|(label, file, records)| (file, (label, records)))
        .collect();
    replay_all(jobs, |(label, records), o| {
        check(label, o, *records)?;
        match must_say.filter(|say| !o.stderr.contains(say)) {
            Some(say) => Err(format!(
                "{label}: the log does not say {say:?}:\n{}",
                o.stderr
            )),
            None => Ok(()),
        }
    });
}

/// Replays every file of `jobs` on both cores and judges each outcome
/// with what came with it; panics with every failure.
fn replay_all<T: Send>(
    jobs: Vec<(PathBuf, T)>,
    judge: impl Fn(&T, &Outcome) -> Result<(), String> + Sync,
) {
    let jobs = std::sync::Mutex::new(jobs);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((file, job)) = jobs.lock().unwrap().pop() else {
                    break;
                };
                if let Err(e) = judge(&job, &run(&file)) {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One packet record of a capture file, as byte offsets into the file.
#[derive(Clone, Copy)]
struct Rec {
    /// Where the record (its header) starts.
    start: usize,
    /// Where the packet bytes start.
    data: usize,
    /// Captured length.
    caplen: usize,
    /// Where the record ends (the next one starts).
    end: usize,
}

/// A capture file's packet records, walked independently of libpcap:
/// classic pcap records, or pcapng Enhanced (and obsolete) Packet Blocks.
/// `None` if `bytes` is neither format.
fn records(bytes: &[u8]) -> Option<Vec<Rec>> {
    let u32_at = |off: usize, big: bool| -> Option<usize> {
        let b: [u8; 4] = bytes.get(off..off + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as usize)
    };
    let mut out = Vec::new();
    match bytes.get(..4)? {
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0x4d, 0x3c, 0xb2, 0xa1] => {
            let big = bytes[0] == 0xa1;
            let mut off = 24;
            while off + 16 <= bytes.len() {
                let caplen = u32_at(off + 8, big)?;
                let end = off + 16 + caplen;
                if end > bytes.len() {
                    break;
                }
                out.push(Rec {
                    start: off,
                    data: off + 16,
                    caplen,
                    end,
                });
                off = end;
            }
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            // Blocks: type, total length, body, total length again. Each
            // Section Header Block sets the byte order that follows.
            let mut big = false;
            let mut off = 0;
            while off + 12 <= bytes.len() {
                if bytes[off..off + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                    big = bytes.get(off + 8..off + 12)? == [0x1a, 0x2b, 0x3c, 0x4d];
                }
                let kind = u32_at(off, big)?;
                let len = u32_at(off + 4, big)?;
                if len < 12 || off + len > bytes.len() {
                    break;
                }
                // 6: Enhanced Packet Block, 2: (obsolete) Packet Block; both
                // have the captured length at +20 and the data at +28.
                if kind == 6 || kind == 2 {
                    out.push(Rec {
                        start: off,
                        data: off + 28,
                        caplen: u32_at(off + 20, big)?,
                        end: off + len,
                    });
                }
                off += len;
            }
        }
        _ => return None,
    }
    Some(out)
}

/// xorshift64*: reproducible noise without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Rng {
        // FNV-1a of the seed, never 0.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in seed.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The good captures (classic pcap and pcapng) with their bytes and records.
fn good_pcaps() -> Vec<(Capture, Vec<u8>, Vec<Rec>)> {
    manifest()
        .into_iter()
        .filter(|c| c.category != "malformed")
        .map(|c| {
            let bytes = std::fs::read(pcaps().join(&c.name)).unwrap();
            let recs = records(&bytes).expect("a pcap or pcapng file");
            assert_eq!(
                recs.len() as u64,
                c.packets,
                "{}: our record walk disagrees with capinfos",
                c.name
            );
            (c, bytes, recs)
        })
        .collect()
}

#[test]
fn the_shared_malformed_captures() {
    let jobs: Vec<_> = manifest()
        .into_iter()
        .filter(|c| c.category == "malformed")
        .map(|c| (c.name.clone(), pcaps().join(&c.name), c.packets))
        .collect();
    assert!(jobs.len() >= 9, "the shared set has 9 malformed captures");
    check_all(jobs, None);
}

#[test]
fn truncated_captures_end_the_replay_after_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for (c, bytes, recs) in good_pcaps() {
        let mut rng = Rng::new(&c.name);
        // Inside a record's data, and inside a record header.
        let r = recs[rng.below(recs.len())];
        let cuts = [
            r.data + rng.below(r.caplen.max(1)),
            r.start + 1 + rng.below(r.data - r.start - 1),
        ];
        for (k, cut) in cuts.into_iter().enumerate() {
            let file = dir.path().join(format!("cut{k}-{}", c.name));
            std::fs::write(&file, &bytes[..cut.min(bytes.len())]).unwrap();
            let whole = recs.iter().filter(|r| r.end <= cut).count();
            jobs.push((format!("{} cut at {cut}", c.name), file, whole as u64));
        }
    }
    check_all(jobs, Some("capture file ends early"));
}

#[test]
fn a_file_cut_inside_its_header_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(pcaps().join("dns_udp.pcap")).unwrap();
    let file = dir.path().join("cut.pcap");
    std::fs::write(&file, &bytes[..10]).unwrap();
    let o = run(&file);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_eq!(o.code, Some(1), "a clear failure, exit 1: {}", o.stderr);
    assert!(
        o.stderr.contains("cut.pcap"),
        "names the file: {}",
        o.stderr
    );
}

#[test]
fn bit_flipped_captures_never_break_the_decoder_or_the_chefs() {
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for (c, bytes, recs) in good_pcaps() {
        for variant in 0..3 {
            let mut rng = Rng::new(&format!("{}#{variant}", c.name));
            let mut b = bytes.clone();
            for &Rec { data, caplen, .. } in &recs {
                if caplen == 0 {
                    continue;
                }
                // Headers live in the first bytes: most flips go there.
                let flips = 1 + rng.below(4 + variant * 4);
                for _ in 0..flips {
                    let at = if rng.below(4) == 0 {
                        rng.below(caplen)
                    } else {
                        rng.below(caplen.min(80))
                    };
                    b[data + at] ^= 1 << rng.below(8);
                }
            }
            let file = dir.path().join(format!("flip{variant}-{}", c.name));
            std::fs::write(&file, &b).unwrap();
            jobs.push((
                format!("{} bit-flipped #{variant}", c.name),
                file,
                recs.len() as u64,
            ));
        }
    }
    check_all(jobs, None);
}

/// A pcapng whose structure is broken in the middle (not merely cut
/// short) is an error: exit 1, naming the file, the record and why; the
/// records before it were replayed.
#[test]
fn a_broken_pcapng_block_is_an_error_naming_the_record() {
    let src = common::peer_pcaps().join("pcapng-three-link-types.pcapng");
    let bytes = std::fs::read(&src).unwrap();
    let recs = records(&bytes).unwrap();
    assert_eq!(recs.len(), 9);
    let dir = tempfile::tempdir().unwrap();
    // (what is changed, the record's block offset to patch, the new u32, what the error says)
    let cases = [
        ("interface id 9", recs[1].start + 8, 9u32, "record 2 (byte"),
        ("block length 5", recs[2].start + 4, 5u32, "record 3 (byte"),
    ];
    for (what, at, value, says) in cases {
        let mut b = bytes.clone();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let file = dir.path().join("broken.pcapng");
        std::fs::write(&file, &b).unwrap();
        let o = run(&file);
        assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
        assert_eq!(o.code, Some(1), "{what}: exit 1: {}", o.stderr);
        for must in ["broken.pcapng", says] {
            assert!(
                o.stderr.contains(must),
                "{what}: says {must:?}: {}",
                o.stderr
            );
        }
        // The first record, a DNS query, came before the broken one: its
        // lookup was printed.
        assert!(
            o.stdout.contains("eth.example.com"),
            "{what}: the record before was replayed: {}",
            o.stdout
        );
    }
}

/// Bits flipped in the record headers (lengths, timestamps, interface
/// ids, block types), not the packets: the reader either replays the file
/// or stops with a clear error naming it (exit 1); never a panic, a hang
/// or another exit.
#[test]
fn bit_flipped_record_headers_end_in_a_replay_or_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (c, bytes, recs) in good_pcaps() {
        for variant in 0..2 {
            let mut rng = Rng::new(&format!("{}#header{variant}", c.name));
            let mut b = bytes.clone();
            for _ in 0..1 + variant * 3 {
                let r = recs[rng.below(recs.len())];
                let at = r.start + rng.below(r.data - r.start);
                b[at] ^= 1 << rng.below(8);
            }
            let file = dir.path().join(format!("hdr{variant}-{}", c.name));
            std::fs::write(&file, &b).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            files.push((file, name));
        }
    }
    replay_all(files, |name, o| {
        let clear = o.code == Some(1) && o.stderr.contains(name.as_str());
        if o.stderr.contains("panicked") || !(o.ok || clear) {
            return Err(format!("{name}: exit {:?}:\n{}", o.code, o.stderr));
        }
        Ok(())
    });
}
