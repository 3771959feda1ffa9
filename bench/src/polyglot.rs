//! PacketCountChef in every language: `nd-sniff --read` of the mixed capture
//! with one language's PacketCountChef alone, packets/s side by side, and the
//! ratio to the Rust chef (so users can choose a language knowing the cost).
//!
//! Each language's run replays the capture enough times to last about
//! [`TARGET_SECS`] (measured from a first pass), from a warm compile cache;
//! timed from spawn to exit, so start-up and the final flush count. The
//! payloads are not compared here (runtime/tests/polyglot.rs does that).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Languages as folders of `target/polyglot/`, Rust first (the reference).
const LANGUAGES: [&str; 5] = ["rust", "c", "zig", "js", "python"];

/// Seconds each measured run should last, roughly.
const TARGET_SECS: f64 = 3.0;

pub fn run() -> anyhow::Result<()> {
    let (pcap, per_file) = crate::kitchen::mixed_capture()?;
    println!(
        "\n## PacketCountChef per language on {} ({per_file} packets, mixed)",
        pcap.display()
    );
    let cache = tempfile::tempdir()?;
    let sniff = |chef: &PathBuf, repeat: u64| -> anyhow::Result<(f64, u64)> {
        let dir = tempfile::tempdir()?;
        std::fs::copy(chef, dir.path().join("packet_count.wasm"))?;
        let report = dir.path().join("report.json");
        let started = Instant::now();
        let status = Command::new(crate::release_bin("nd-sniff"))
            .arg("--read")
            .arg(&pcap)
            .args(["--repeat", &repeat.to_string()])
            .args(["--print", "--no-watch", "-p", "3600", "--chef-dir"])
            .arg(dir.path())
            .arg("--cache-dir")
            .arg(cache.path())
            .arg("--report")
            .arg(&report)
            .env("ND_LOG", "warn")
            .stdout(Stdio::null())
            .status()?;
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            status.success(),
            "nd-sniff failed with {}: {status}",
            chef.display()
        );
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
        Ok((secs, report["packets"].as_u64().unwrap_or(0)))
    };

    println!(
        "{:<10} {:>14} {:>10} {:>12}",
        "language", "packets/s", "vs rust", "wasm size"
    );
    let mut rust_rate = None;
    for lang in LANGUAGES {
        let chef = nd_testkit::target_dir()
            .join("polyglot")
            .join(lang)
            .join("packet_count.wasm");
        if !chef.exists() {
            println!("{lang:<10} (missing {}: run `just chefs`)", chef.display());
            continue;
        }
        // A first pass compiles into the cache and tells how long a pass takes.
        sniff(&chef, 1)?;
        let (one_pass, _) = sniff(&chef, 1)?;
        let repeat = ((TARGET_SECS / one_pass).ceil() as u64).clamp(1, 200);
        let mut samples = Vec::new();
        for _ in 0..3 {
            let (secs, packets) = sniff(&chef, repeat)?;
            anyhow::ensure!(
                packets == per_file * repeat,
                "{lang}: read {packets} packets"
            );
            samples.push(packets as f64 / secs);
        }
        let rate = crate::median(samples);
        let rust = *rust_rate.get_or_insert(rate);
        println!(
            "{lang:<10} {rate:>14.0} {:>9.3}x {:>9.1} MB",
            rate / rust,
            std::fs::metadata(&chef)?.len() as f64 / 1e6
        );
    }
    Ok(())
}
