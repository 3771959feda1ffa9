//! `nd-sniff` as a user meets it: what it says when it cannot start (one
//! clear line that names the problem and what to do, exit status 1, no
//! panic, nothing connected), its replay progress (`--progress lines`), and
//! the standard chefs built into the binary (no `--chef-dir`, no checkout).

mod common;

use std::time::Duration;

use common::{chef_dir, nd_sniff, pcaps, replay};

/// Runs nd-sniff with `args` (and the standard chefs); returns its stderr
/// after checking it failed cleanly.
fn fails(args: &[&str]) -> String {
    let out = nd_sniff()
        .args(["--chef-dir"])
        .arg(chef_dir())
        .args(["-h", "127.0.0.1:1"])
        .args(args)
        .output()
        .expect("run nd-sniff");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        !stderr.contains("connected to nd-hub"),
        "{args:?} got as far as the hub: {stderr}"
    );
    stderr
}

#[test]
fn a_missing_interface_is_named_with_the_ones_that_exist() {
    let e = fails(&["-i", "nosuchif0"]);
    assert!(e.contains("no such interface \"nosuchif0\""), "{e}");
    assert!(e.contains("available:") && e.contains("lo"), "{e}");
}

#[test]
fn a_bad_filter_is_quoted_with_libpcaps_reason() {
    let pcap = pcaps().join("dns_udp.pcap");
    let e = fails(&["--read", pcap.to_str().unwrap(), "-f", "udp and and"]);
    assert!(e.contains("invalid filter \"udp and and\""), "{e}");
}

#[test]
fn an_unreadable_capture_file_says_why() {
    let e = fails(&["--read", "/nonexistent/x.pcap"]);
    assert!(
        e.contains("cannot read capture file /nonexistent/x.pcap"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = fails(&["--read", dir.path().to_str().unwrap()]);
    assert!(e.contains("is a directory"), "{e}");
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    let e = fails(&["--read", junk.to_str().unwrap()]);
    assert!(e.contains("cannot read capture file"), "{e}");
}

#[test]
fn an_empty_chef_directory_is_refused_before_capturing() {
    let dir = tempfile::tempdir().unwrap();
    let out = nd_sniff()
        .args(["--print", "--read"])
        .arg(pcaps().join("dns_udp.pcap"))
        .arg("--chef-dir")
        .arg(dir.path())
        .output()
        .expect("run nd-sniff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no valid chefs found"), "{stderr}");
}

/// One `progress:` line: (percent, position, total, packets).
fn progress_lines(stderr: &str) -> Vec<(u64, u64, u64, u64)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("progress: "))
        .map(|l| {
            // "42% 500/1000 bytes 7 packets"
            let f: Vec<&str> = l.split([' ', '/', '%']).filter(|f| !f.is_empty()).collect();
            assert_eq!((f[3], f[5]), ("bytes", "packets"), "{l}");
            let n = |i: usize| f[i].parse::<u64>().unwrap_or_else(|_| panic!("{l}"));
            (n(0), n(1), n(2), n(4))
        })
        .collect()
}

/// The packet count tshark gives for a corpus capture (the manifest).
fn manifest_packets(name: &str) -> u64 {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pcaps().join("MANIFEST.json")).unwrap())
            .unwrap();
    let entries = m
        .as_array()
        .or_else(|| m["captures"].as_array())
        .expect("list");
    entries
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["packets"].as_u64())
        .unwrap_or_else(|| panic!("{name} not in the manifest"))
}

/// Replays `name` with `--progress lines` and `extra`; checks the lines
/// climb to exactly `total = size x repeat` and returns them.
fn replay_progress(name: &str, repeat: u64, extra: &[&str]) -> Vec<(u64, u64, u64, u64)> {
    let pcap = pcaps().join(name);
    let size = std::fs::metadata(&pcap).unwrap().len();
    let mut args = vec!["--progress", "lines", "-p", "3600"];
    let repeat_text = repeat.to_string();
    if repeat > 1 {
        args.extend(["--repeat", &repeat_text]);
    }
    args.extend(extra);
    let r = replay(&pcap, &chef_dir(), &args);
    let lines = progress_lines(&r.stderr);
    assert!(!lines.is_empty(), "no progress lines: {}", r.stderr);
    let total = size * repeat;
    for w in lines.windows(2) {
        assert!(
            w[0].0 <= w[1].0 && w[0].1 <= w[1].1,
            "{name}: progress went back: {w:?}"
        );
    }
    for &(percent, pos, t, _) in &lines {
        assert_eq!(t, total, "{name}: total");
        assert!(pos <= total, "{name}: {pos} past {total}");
        assert_eq!(percent, pos * 100 / total, "{name}: percent of {pos}");
    }
    let &(percent, pos, _, packets) = lines.last().unwrap();
    assert_eq!((percent, pos), (100, total), "{name}: ends at the end");
    assert_eq!(packets, r.report["packets"].as_u64().unwrap(), "{name}");
    lines
}

#[test]
fn progress_of_a_pcapng_replay_ends_at_its_size() {
    let lines = replay_progress("pcapng-multi-interface.pcapng", 1, &[]);
    let packets = lines.last().unwrap().3;
    assert_eq!(packets, manifest_packets("pcapng-multi-interface.pcapng"));
}

#[test]
fn progress_counts_the_records_a_filter_skips() {
    // Few packets pass: the position still walks the whole file.
    let lines = replay_progress("nmap-vsn.pcap", 1, &["-f", "tcp port 80"]);
    assert!(lines.last().unwrap().3 < manifest_packets("nmap-vsn.pcap"));
}

#[test]
fn progress_spans_every_repeat_without_passing_100() {
    let lines = replay_progress("modbusBig.pcap", 3, &[]);
    assert_eq!(
        lines.last().unwrap().3,
        3 * manifest_packets("modbusBig.pcap")
    );
    // A line per whole percent: the first round reaches only a third.
    let first_round_end = lines.iter().filter(|l| l.0 <= 33).count();
    assert!(first_round_end >= 10, "{lines:?}");
    assert!(lines.len() >= 50, "{} lines", lines.len());
}

/// `nd-sniff` copied alone into an empty directory (no `target/chefs` or
/// `share/` beside it, no `--chef-dir`): it runs the standard chefs built
/// into it, with the same dumplings as the staged ones.
#[test]
fn a_lone_binary_runs_its_built_in_standard_chefs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin").join("nd-sniff");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_nd-sniff"), &bin).unwrap();
    // Has ARP and DNS: every standard chef has something to say.
    let pcap = pcaps().join("wikipedia.pcap");
    let run = |cmd: &mut std::process::Command| {
        let out = cmd
            .args(["--print", "--no-watch", "-p", "3600", "--read"])
            .arg(&pcap)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .env_remove("ND_CHEF_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        // Without the creation times, which differ run to run.
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let mut d: serde_json::Value = serde_json::from_str(l).unwrap();
                d["metadata"]["creation_time"] = serde_json::Value::Null;
                d.to_string()
            })
            .collect();
        lines.sort();
        lines
    };
    let alone = run(&mut std::process::Command::new(&bin));
    let staged = run(std::process::Command::new(env!("CARGO_BIN_EXE_nd-sniff"))
        .arg("--chef-dir")
        .arg(chef_dir()));
    assert_eq!(alone, staged);
    for chef in ["PacketCountChef", "ARPChef", "DNSLookupChef"] {
        let needle = format!("\"chef\":\"{chef}\"");
        assert!(
            alone.iter().any(|l| l.contains(&needle)),
            "{chef}: {alone:?}"
        );
    }
    let listed = std::process::Command::new(&bin)
        .arg("--chef-list")
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_remove("ND_CHEF_DIR")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("DNSLookupChef  (dns_lookup.wasm)"),
        "{listed}"
    );
}

/// The kitchen's unit file, as shipped (ExecStart pointed at the binary
/// under test, since verify checks that it exists): no errors, no warnings.
#[test]
fn the_kitchen_unit_passes_systemd_analyze_verify() {
    let unit = nd_testkit::workspace_dir().join("runtime/dist/nd-sniff.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN"));
    assert!(text.lines().any(|l| l == "User=nd-sniff"), "not root");
    nd_testkit::systemd_verify(
        "nd-sniff.service",
        &text,
        "/usr/local/bin/nd-sniff",
        env!("CARGO_BIN_EXE_nd-sniff"),
    );
}

/// A replay that has finished capturing but cannot deliver (no hub at any
/// address of `-h`) still stops on SIGTERM, within the relay's 2 s flush
/// grace, and says what it could not deliver. It used to retry forever.
#[test]
fn a_finished_replay_with_no_hub_stops_on_sigterm() {
    let (a, b) = (nd_testkit::free_port(), nd_testkit::free_port());
    let mut cmd = nd_sniff();
    cmd.arg("-h")
        .arg(format!("127.0.0.1:{a},127.0.0.1:{b}"))
        .arg("--no-watch")
        .arg("--chef-dir")
        .arg(chef_dir())
        .arg("--read")
        .arg(pcaps().join("dns_udp.pcap"));
    let mut kitchen = nd_testkit::Child::spawn("nd-sniff", cmd);
    // Both hubs of the list were tried.
    for port in [a, b] {
        kitchen.wait_for_line(Duration::from_secs(60), |l| {
            l.contains("cannot reach nd-hub") && l.contains(&format!(":{port}"))
        });
    }
    let started = std::time::Instant::now();
    kitchen.signal("TERM");
    kitchen.wait_exit(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
