//! Hot-swap latency: a new version of a chef is renamed into the chef
//! directory of a running `nd-sniff` that replays the mixed capture as fast
//! as it can (the busiest case: the chef's queue is always full); the clock
//! runs from just before the rename to the kitchen's "swapped in" log line,
//! after which the very next batch goes to the new version.
//!
//! Two kinds of new version, both the CounterChef test chef (a Rust
//! component) with a custom section appended that makes its bytes unique:
//!
//! - *fresh*: never seen before, so the kitchen compiles it (Cranelift);
//! - *cached*: a version this kitchen already compiled once, so loading it
//!   only deserialises the compiled artifact from the cache directory.
//!
//! Two figures each: *external* (rename -> line read by this process, an
//! upper bound that includes the log pipe) and *internal* (the kitchen's own
//! figure, from the first file-system event to the new instance running).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nd_testkit::Child;

/// Fresh versions measured.
const FRESH: usize = 5;
/// Cached versions measured.
const CACHED: usize = 10;

/// `component` with a custom section `nd-bench-nonce` holding `nonce`:
/// a valid component with a different digest.
fn variant(component: &[u8], nonce: &str) -> Vec<u8> {
    let name = b"nd-bench-nonce";
    let mut body = Vec::new();
    leb128(&mut body, name.len() as u64);
    body.extend_from_slice(name);
    body.extend_from_slice(nonce.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Renames `bytes` into the chef directory as `counter.wasm`, waits for the
/// `nth` "swapped in" line; returns the external and internal latency (ms).
fn swap(child: &Child, dir: &Path, bytes: &[u8], nth: usize) -> (f64, f64) {
    let tmp = dir.join("incoming.tmp");
    std::fs::write(&tmp, bytes).expect("write the new version");
    let started = Instant::now();
    std::fs::rename(&tmp, dir.join("counter.wasm")).expect("rename it into place");
    let lines =
        child.wait_for_stderr_count(Duration::from_secs(60), nth, |l| l.contains("swapped in"));
    let external = started.elapsed().as_secs_f64() * 1e3;
    // "... swapped in <file> (<digest>) in 1.23 ms chef=CounterChef"
    let internal = lines[nth - 1]
        .rsplit(" in ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    (external, internal)
}

pub fn run() -> anyhow::Result<()> {
    let (pcap, _) = crate::kitchen::mixed_capture()?;
    println!("\n## Hot-swap latency (CounterChef, nd-sniff replaying as fast as it can)");
    let dir = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    let v1 = std::fs::read(crate::test_chef_wasm("counter_v1.wasm"))?;
    let v2 = std::fs::read(crate::test_chef_wasm("counter_v2.wasm"))?;
    std::fs::write(dir.path().join("counter.wasm"), &v1)?;
    let mut cmd = Command::new(crate::release_bin("nd-sniff"));
    cmd.arg("--read")
        .arg(&pcap)
        .args(["--repeat", "1000000", "--print", "-p", "3600", "--chef-dir"])
        .arg(dir.path())
        .arg("--cache-dir")
        .arg(cache.path())
        .env("ND_LOG", "info")
        .stdout(std::process::Stdio::null());
    let child = Child::spawn("nd-sniff", cmd);
    child.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("loaded chef CounterChef")
    });
    std::thread::sleep(Duration::from_millis(200));

    // Unique bytes per run, so a cache from an earlier run cannot help.
    let run_id = format!("{:?}", std::time::SystemTime::now());
    let versions: Vec<Vec<u8>> = (0..FRESH)
        .map(|i| variant(if i % 2 == 0 { &v2 } else { &v1 }, &format!("{run_id}/{i}")))
        .collect();
    let mut nth = 0;
    let mut fresh = (Vec::new(), Vec::new());
    for v in &versions {
        nth += 1;
        let (e, i) = swap(&child, dir.path(), v, nth);
        fresh.0.push(e);
        fresh.1.push(i);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Back to versions compiled above: the cache has them. Alternate two,
    // so each differs from the one running.
    let mut cached = (Vec::new(), Vec::new());
    for k in 0..CACHED {
        nth += 1;
        let (e, i) = swap(&child, dir.path(), &versions[k % 2], nth);
        cached.0.push(e);
        cached.1.push(i);
        std::thread::sleep(Duration::from_millis(100));
    }
    let faults = child
        .stderr()
        .iter()
        .filter(|l| l.contains("ERROR") || l.contains("rejected"))
        .cloned()
        .collect::<Vec<_>>();
    anyhow::ensure!(faults.is_empty(), "swaps went wrong: {faults:?}");

    println!(
        "{:<34} {:>5} {:>16} {:>16} {:>16}",
        "new version", "swaps", "external median", "external max", "internal median"
    );
    for (label, (ext, int), target) in [
        ("fresh (compiled on arrival)", fresh, "< 250 ms"),
        ("cached (compiled once before)", cached, "< 5 ms"),
    ] {
        let max = ext.iter().cloned().fold(0.0, f64::max);
        println!(
            "{:<34} {:>5} {:>13.2} ms {:>13.2} ms {:>13.2} ms   (target {target})",
            label,
            ext.len(),
            crate::median(ext.clone()),
            max,
            crate::median(int)
        );
    }
    Ok(())
}
