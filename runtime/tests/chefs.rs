//! The chef runtime under test: real components built from `chefs/` by
//! `just chefs`, run by the real nd-sniff binary.
//!
//! - the sandbox denies files, sockets, environment and clocks;
//! - each misbehaving chef is contained while PacketCountChef beside it
//!   produces exactly what it produces alone;
//! - hot swap under a continuous packet stream loses and doubles nothing,
//!   hands state over, and a broken new version leaves the old one running.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    assert_sandbox_denied, cache_dir, chef_dir, nd_sniff, pcaps, replay, test_chef, Replay,
};
use nd_testkit::Child;
use serde_json::Value;

fn dir_with(chefs: &[&Path]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for c in chefs {
        std::fs::copy(c, d.path().join(c.file_name().unwrap())).unwrap();
    }
    d
}

fn chef_report<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["chefs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no chef {name} in {report}"))
}

#[test]
fn the_sandbox_grants_nothing() {
    let dir = dir_with(&[&test_chef("sandbox")]);
    let r = replay(&pcaps().join("dns_udp.pcap"), dir.path(), &[]);
    let p = r.last_interval("SandboxChef").expect("an interval payload");
    assert_sandbox_denied(p);
}

/// PacketCountChef's final counts on modbusBig replayed `repeat` times, alone.
fn clean_counts(repeat: u32) -> Value {
    let dir = dir_with(&[&chef_dir().join("packet_count.wasm")]);
    let r = replay(
        &pcaps().join("modbusBig.pcap"),
        dir.path(),
        &["-p", "3600", "--repeat", &repeat.to_string()],
    );
    r.last_interval("PacketCountChef").unwrap().clone()
}

/// Bound on the kitchen's peak RSS beside a hostile chef: two chef
/// instances at most at their 128 MiB cap, plus the compiled code, the
/// host's buffers and the runtime.
const PEAK_RSS_BOUND: u64 = 512 << 20;

/// The CPU deadline per chef call in these tests. It applies to the healthy
/// chef too, and it is counted in wall-clock epochs: it must be far above
/// any stall a loaded CI machine can impose on a thread (a 50 ms deadline
/// once cost the healthy chef a restart), yet keep the looper's runs short.
const DEADLINE_MS: u32 = 1000;

fn contained(hostile: &str, hostile_name: &str, expect_in_log: &str) -> Replay {
    contained_for(hostile, hostile_name, expect_in_log, 1, DEADLINE_MS)
}

/// Runs `hostile` beside PacketCountChef over modbusBig `repeat` times with a
/// `deadline_ms` CPU deadline per call.
fn contained_for(
    hostile: &str,
    hostile_name: &str,
    expect_in_log: &str,
    repeat: u32,
    deadline_ms: u32,
) -> Replay {
    let dir = dir_with(&[&chef_dir().join("packet_count.wasm"), &test_chef(hostile)]);
    let started = Instant::now();
    let r = replay(
        &pcaps().join("modbusBig.pcap"),
        dir.path(),
        &[
            "-p",
            "3600",
            "--chef-deadline",
            &deadline_ms.to_string(),
            "--repeat",
            &repeat.to_string(),
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "the kitchen was held up"
    );
    // The healthy chef is exact and never faulted.
    assert_eq!(
        r.last_interval("PacketCountChef").unwrap(),
        &clean_counts(repeat),
        "{hostile}"
    );
    let good = chef_report(&r.report, "PacketCountChef");
    assert_eq!(good["faults"], 0);
    assert_eq!(good["packets"], 13622 * repeat as u64);
    // The kitchen's memory stayed bounded: each chef instance is capped
    // (--chef-memory, 128 MiB by default); add the host's own code and buffers.
    let peak = r.report["peak_rss_bytes"].as_u64().unwrap();
    assert!(
        peak > 0 && peak < PEAK_RSS_BOUND,
        "{hostile}: kitchen peak RSS {} MiB",
        peak >> 20
    );
    eprintln!("{hostile}: kitchen peak RSS {} MiB", peak >> 20);
    // The hostile one was caught, named, and restarted or parked.
    let bad = chef_report(&r.report, hostile_name);
    assert!(bad["faults"].as_u64().unwrap() >= 1, "{hostile}: {bad}");
    assert!(
        r.stderr.contains(hostile_name) && r.stderr.contains(expect_in_log),
        "{hostile}: log should name the chef and say {expect_in_log:?}:\n{}",
        r.stderr
    );
    r
}

/// Seconds since midnight of a log line's leading timestamp
/// (`2026-11-26T10:53:25.452619Z  INFO ...`); `None` for continuation lines.
fn log_time(line: &str) -> Option<f64> {
    let t = line.get(11..26)?;
    if line.get(10..11)? != "T" {
        return None;
    }
    let mut parts = t.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_deadline() {
    contained("looper", "LooperChef", "ran longer than");
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_cap() {
    // A generous deadline, so that the memory cap (not the clock) stops it.
    contained_for("membomb", "MemBombChef", "trapped", 1, 5000);
}

#[test]
fn a_stack_overflow_is_contained() {
    contained("stackbomb", "StackBombChef", "call stack exhausted");
}

#[test]
fn a_panic_on_every_packet_ends_in_parking() {
    // Long enough for the backoff (0.1 + 0.2 + 0.4 + 0.8 s) to run out.
    let r = contained_for(
        "panicker",
        "PanickerChef",
        "parked after 5 faults",
        150,
        DEADLINE_MS,
    );
    let bad = chef_report(&r.report, "PanickerChef");
    assert_eq!(bad["faults"], 5, "{bad}");
    assert_eq!(bad["restarts"], 4, "{bad}");
    // Each restart waited at least what the fault announced, and the waits
    // doubled: read from the log's own timestamps. (A trap's message spans
    // lines, its backtrace; the time is on the first.)
    let mut now = None;
    let mut announced = Vec::new(); // (fault time, wait in s)
    let mut restarted = Vec::new(); // restart times
    for line in r.stderr.lines() {
        if let Some(t) = log_time(line) {
            now = Some(t);
        }
        let Some(t) = now else { continue };
        if let Some(rest) = line.split("restarting in ").nth(1) {
            let ms: f64 = rest
                .split("ms")
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("a wait in ms: {line}"));
            announced.push((t, ms / 1000.0));
        }
        if line.contains("restarted from a fresh instance") && line.contains("PanickerChef") {
            restarted.push(t);
        }
    }
    let waits: Vec<f64> = announced.iter().map(|a| a.1).collect();
    assert_eq!(waits, [0.1, 0.2, 0.4, 0.8], "{}", r.stderr);
    assert_eq!(restarted.len(), 4, "{}", r.stderr);
    for ((fault, wait), back) in announced.iter().zip(&restarted) {
        assert!(
            back - fault >= wait - 0.002,
            "restarted {:.3} s after a fault that announced {wait} s",
            back - fault
        );
    }
}

#[test]
fn a_100_mb_payload_is_stopped_by_the_memory_cap() {
    // GiantChef builds a 100 MB string for every packet; serialising it as
    // JSON needs twice that, past the chef's 128 MiB cap. The kitchen's own
    // peak stays under the bound (contained_for): it never held 100 MB.
    contained("giant", "GiantChef", "forcing trap when growing memory");
}

#[test]
fn invalid_json_is_refused() {
    contained("badjson", "BadJsonChef", "not JSON");
}

#[test]
fn an_oversized_payload_is_refused() {
    contained("huge", "HugeChef", "-byte payload (limit");
}

#[test]
fn a_chatty_chef_is_logged_and_rate_limited() {
    let dir = dir_with(&[&chef_dir().join("packet_count.wasm"), &test_chef("chatty")]);
    let r = replay(
        &pcaps().join("modbusBig.pcap"),
        dir.path(),
        &["-p", "3600", "--chef-deadline", "2000"],
    );
    assert_eq!(
        r.last_interval("PacketCountChef").unwrap(),
        &clean_counts(1)
    );
    assert_eq!(r.last_interval("ChattyChef").unwrap(), 13622);
    let peak = r.report["peak_rss_bytes"].as_u64().unwrap();
    assert!(
        peak > 0 && peak < PEAK_RSS_BOUND,
        "peak RSS {} MiB",
        peak >> 20
    );
    assert!(
        r.stderr.contains("chatty stdout line 1"),
        "stdout is captured into the log"
    );
    assert!(
        r.stderr.contains("chatty stderr line 1"),
        "stderr is captured into the log"
    );
    assert!(
        r.stderr.contains("log lines suppressed"),
        "the flood is rate-limited"
    );
    let lines = r
        .stderr
        .lines()
        .filter(|l| l.contains("chatty log flood"))
        .count();
    assert!(
        lines < 13622 * 10 / 10,
        "{lines} of {} flood lines got through",
        13622 * 10
    );
}

/// Copies `src` over `dst` atomically (write elsewhere, rename).
fn install(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("tmp");
    std::fs::copy(src, &tmp).unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}

fn hot_swap_run(swaps: usize, in_place: bool) -> (Value, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("counter.wasm");
    std::fs::copy(test_chef("counter-v1"), &live).unwrap();
    let report = dir.path().join("report.json");
    let mut cmd: Command = nd_sniff();
    cmd.arg("--read")
        .arg(pcaps().join("modbusBig.pcap"))
        .args(["--repeat", "400", "--print", "-p", "3600", "--chef-dir"])
        .arg(dir.path())
        .arg("--report")
        .arg(&report);
    let mut child = Child::spawn("nd-sniff", cmd);
    child.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("loaded chef CounterChef")
    });
    let versions = [test_chef("counter-v2"), test_chef("counter-v1")];
    for i in 0..swaps {
        std::thread::sleep(Duration::from_millis(30));
        let src = &versions[i % 2];
        if in_place {
            // A plain copy: the watcher sees the file in several writes.
            std::fs::copy(src, &live).unwrap();
        } else {
            install(src, &live);
        }
    }
    // Every replacement happened while packets were flowing.
    assert!(
        child.try_wait().is_none(),
        "the replay ended before the last of {swaps} replacements; make it longer"
    );
    let status = child.wait_exit(Duration::from_secs(300));
    let stderr = child.stderr().join("\n");
    assert!(status.success(), "nd-sniff failed: {stderr}");
    let last: Value = child
        .stdout()
        .iter()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|d| d["metadata"]["chef"] == "CounterChef" && d["metadata"]["driver"] == "interval")
        .expect("a final CounterChef interval")["payload"]
        .clone();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (last, report, stderr)
}

#[test]
fn hot_swap_under_load_loses_and_doubles_nothing_and_keeps_state() {
    // The file is replaced 100 times in a row while packets flow.
    let (last, report, stderr) = hot_swap_run(100, false);
    let packets = report["packets"].as_u64().unwrap();
    assert_eq!(packets, 13622 * 400);
    let chef = chef_report(&report, "CounterChef");
    let swaps = chef["swaps"].as_u64().unwrap();
    eprintln!("100 replacements: {swaps} swaps");
    // Replacements closer together than the watcher's debounce are taken as
    // one (the newest file wins), so there are fewer swaps than files.
    assert!(
        swaps >= 50,
        "swaps happened while packets flowed: {chef}\n{stderr}"
    );
    // The last file installed (the 100th: v1) is the one running at the end.
    assert_eq!(last["version"], 1, "{last}");
    // Exact: every packet counted once, across all versions.
    assert_eq!(last["total"], packets, "{last}");
    let by_version = last["by_version"].as_object().unwrap();
    assert!(
        by_version["v1"].as_u64().unwrap() > 0 && by_version["v2"].as_u64().unwrap() > 0,
        "{last}"
    );
    // The state went through every swap.
    assert_eq!(last["imports"], swaps, "{last}");
    assert_eq!(chef["faults"], 0);
}

#[test]
fn hot_swap_with_in_place_copies_is_debounced() {
    let (last, report, stderr) = hot_swap_run(6, true);
    assert_eq!(last["total"], report["packets"], "{last}");
    assert!(
        chef_report(&report, "CounterChef")["swaps"]
            .as_u64()
            .unwrap()
            >= 1,
        "{stderr}"
    );
}

#[test]
fn a_broken_new_version_leaves_the_old_one_running() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("counter.wasm");
    std::fs::copy(test_chef("counter-v1"), &live).unwrap();
    let report = dir.path().join("report.json");
    let mut cmd = nd_sniff();
    cmd.arg("--read")
        .arg(pcaps().join("modbusBig.pcap"))
        .args(["--repeat", "200", "--print", "-p", "3600", "--chef-dir"])
        .arg(dir.path())
        .arg("--report")
        .arg(&report);
    let mut child = Child::spawn("nd-sniff", cmd);
    child.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("loaded chef CounterChef")
    });
    std::thread::sleep(Duration::from_millis(100));
    // Not a component at all, then a valid component of another world.
    let tmp = dir.path().join("x.tmp");
    std::fs::write(&tmp, b"\0asm\x01\0\0\0this is not a chef").unwrap();
    std::fs::rename(&tmp, &live).unwrap();
    child.wait_for_line(Duration::from_secs(30), |l| {
        l.contains("rejected") && l.contains("counter.wasm")
    });
    let status = child.wait_exit(Duration::from_secs(300));
    assert!(status.success());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let chef = chef_report(&report, "CounterChef");
    assert_eq!(chef["swaps"], 0);
    assert_eq!(chef["faults"], 0);
    assert_eq!(
        chef["packets"], report["packets"],
        "the old version handled every packet"
    );
    let _ = cache_dir();
}

#[test]
fn a_relative_chef_dir_swaps_instead_of_adding_a_second_chef() {
    // Regression: with `--chef-dir chefs` the watcher saw absolute paths
    // and started the new version as a second chef beside the old one.
    let dir = tempfile::tempdir().unwrap();
    let chefs = dir.path().join("chefs");
    std::fs::create_dir(&chefs).unwrap();
    std::fs::copy(test_chef("counter-v1"), chefs.join("counter.wasm")).unwrap();
    let report = dir.path().join("report.json");
    let mut cmd = nd_sniff();
    cmd.current_dir(dir.path())
        .arg("--read")
        .arg(pcaps().join("modbusBig.pcap"))
        .args([
            "--repeat",
            "200",
            "--print",
            "-p",
            "3600",
            "--chef-dir",
            "chefs",
        ])
        .arg("--report")
        .arg(&report);
    let mut child = Child::spawn("nd-sniff", cmd);
    child.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("loaded chef CounterChef")
    });
    // After the watcher has started (the swap must come from its events).
    std::thread::sleep(Duration::from_millis(300));
    install(&test_chef("counter-v2"), &chefs.join("counter.wasm"));
    child.wait_for_line(Duration::from_secs(60), |l| l.contains("swapped in"));
    assert!(child.wait_exit(Duration::from_secs(300)).success());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let chefs = report["chefs"].as_array().unwrap();
    assert_eq!(chefs.len(), 1, "one CounterChef, swapped: {chefs:?}");
    assert_eq!(chefs[0]["swaps"], 1);
    assert_eq!(chefs[0]["packets"], report["packets"]);
}
