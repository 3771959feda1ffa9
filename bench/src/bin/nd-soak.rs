//! `just soak [MINUTES]`: hub + 2 kitchens + 3 eaters for N minutes, the
//! kitchens replaying shared captures in a loop: kitchen 0 is one
//! long-lived `nd-sniff` (its RSS over time is the kitchen's leak check),
//! kitchen 1 a new process per round (connects and disconnects are part of
//! the load; its RSS is per round).
//!
//! Every [`SAMPLE_EVERY`] it samples each process's RSS; at the end it
//! prints the RSS over time, a flatness verdict (last third vs first third
//! after warm-up) for the hub, the eaters and the long-lived kitchen, and
//! checks that the hub took in exactly what the kitchens say they sent
//! (their `--report`s, summed over every kitchen process, with nothing
//! dropped on their side), and that every eater received exactly that,
//! with nothing dropped (the hub's status dumplings are off, so the counts
//! are exact). Exit status 1 if a check fails.
//!
//! Release binaries (`just soak` builds them). Not part of `just test`:
//! RELIABILITY.md has the latest figures.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use nd_testkit::{free_port, pcaps_dir, target_dir, wait_for_port, Child};

/// Time between two RSS samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Captures the kitchens replay (DNS, ARP and a bigger mixed one).
const CAPTURES: [&[&str]; 2] = [
    &["dns-edns-ecs.pcap", "arp-who-has.pcap", "icmp-ping.pcap"],
    &["modbusBig.pcap", "dns_udp.pcap", "linuxsll-arp.pcap"],
];
/// Replays per kitchen process (`--repeat`): kitchen 0 runs for the whole
/// soak, kitchen 1 starts a new process every round.
const REPEAT: [&str; 2] = ["1000000", "20"];

fn bin(name: &str) -> std::path::PathBuf {
    let p = target_dir().join("release").join(name);
    assert!(p.exists(), "{} missing: run `just soak`", p.display());
    p
}

/// VmRSS of `pid` in KiB (0 if gone).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The hub's /metrics as (name{labels}, value) lines.
fn metrics(port: u16) -> Vec<(String, f64)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// An `nd-print --json` process whose output lines are counted, not kept
/// (a soak prints millions).
struct Eater {
    index: usize,
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Eater {
    fn spawn(index: usize, out_port: u16) -> Eater {
        use std::io::BufRead;
        let mut child = Command::new(bin("nd-print"))
            .args(["-h", &format!("127.0.0.1:{out_port}")])
            .args(["-n", &format!("soak-eater-{index}"), "--json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start nd-print");
        let out = child.stdout.take().expect("piped stdout");
        let lines = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = lines.clone();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::with_capacity(1 << 20, out);
            let mut buf = Vec::new();
            while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                buf.clear();
            }
        });
        Eater {
            index,
            child,
            lines,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self) -> u64 {
        self.lines.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Eater {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sum(m: &[(String, f64)], prefix: &str, filter: impl Fn(&str) -> bool) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && filter(k))
        .map(|(_, v)| v)
        .sum()
}

/// What the kitchens say they did, summed over their `--report`s.
#[derive(Default)]
struct KitchenTotals {
    /// Processes whose report was read.
    reports: u64,
    /// Dumplings written to the hub (re-sends included).
    sent: u64,
    /// Of those, re-sends after a reconnect (none expected here).
    resent: u64,
    /// Dropped by the kitchen (relay buffer full, or before the relay).
    dropped: u64,
}

impl KitchenTotals {
    /// Adds the report at `path` (written by a kitchen that has exited).
    fn add(&mut self, path: &std::path::Path) {
        let report: serde_json::Value = match std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(r) => r,
            None => {
                eprintln!("soak: no kitchen report at {}", path.display());
                return;
            }
        };
        let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let relay = &report["relay"];
        self.reports += 1;
        self.sent += n(&relay["sent"]);
        self.resent += n(&relay["resent"]);
        self.dropped += n(&relay["dropped"]) + n(&report["dropped_before_relay"]);
        let _ = std::fs::remove_file(path);
    }
}

fn main() {
    let minutes: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5.0);
    let run_for = Duration::from_secs_f64(minutes * 60.0);
    let (in_port, out_port, metrics_port) = (free_port(), free_port(), free_port());
    let mut hub = Command::new(bin("nd-hub"));
    // Status dumplings off (-f 3600): the hub's own dumplings would keep
    // arriving while the counts are compared; only kitchens' count here.
    hub.args(["-a", "127.0.0.1", "-f", "3600"])
        .args(["-i", &in_port.to_string(), "-o", &out_port.to_string()])
        .args(["--metrics", &metrics_port.to_string()])
        .env("ND_LOG", "warn");
    let hub = Child::spawn("nd-hub", hub);
    wait_for_port(metrics_port, Duration::from_secs(10));

    let eaters: Vec<Eater> = (0..3).map(|i| Eater::spawn(i, out_port)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sum(&metrics(metrics_port), "nd_hub_eaters_connected", |_| true) < 3.0 {
        assert!(Instant::now() < deadline, "eaters did not connect");
        std::thread::sleep(Duration::from_millis(50));
    }

    let reports = tempfile::tempdir().expect("a directory for kitchen reports");
    let report_of = |k: usize, round: usize| reports.path().join(format!("k{k}-{round}.json"));
    let mut totals = KitchenTotals::default();
    let kitchen = |k: usize, round: usize| {
        let file = CAPTURES[k][round % CAPTURES[k].len()];
        let mut c = Command::new(bin("nd-sniff"));
        c.arg("--report").arg(report_of(k, round));
        c.args(["-n", &format!("soak-kitchen-{k}"), "--read"])
            .arg(pcaps_dir().join(file))
            .args(["--repeat", REPEAT[k], "-p", "1"])
            .args(["-h", &format!("127.0.0.1:{in_port}")])
            .arg("--chef-dir")
            .arg(target_dir().join("chefs"))
            .env("ND_LOG", "warn");
        Child::spawn(&format!("kitchen {k}"), c)
    };
    let mut rounds = [0usize; 2];
    let mut kitchens: Vec<Child> = (0..2).map(|k| kitchen(k, 0)).collect();

    println!("soak: {minutes} min; RSS in MiB every {SAMPLE_EVERY:?}");
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>12}",
        "t(s)", "hub", "kitchen0", "kitchen1", "eater0", "eater1", "eater2", "dumplings in"
    );
    let mut samples: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let start = Instant::now();
    let mut next_sample = start;
    while start.elapsed() < run_for {
        for k in 0..2 {
            // A finished kitchen is replaced by the next round's.
            if kitchens[k].try_wait().is_some() {
                totals.add(&report_of(k, rounds[k]));
                rounds[k] += 1;
                kitchens[k] = kitchen(k, rounds[k]);
            }
        }
        if Instant::now() >= next_sample {
            next_sample += SAMPLE_EVERY;
            let row = [
                ("hub", rss_kib(hub.pid())),
                ("kitchen0", rss_kib(kitchens[0].pid())),
                ("kitchen1", rss_kib(kitchens[1].pid())),
                ("eater0", rss_kib(eaters[0].pid())),
                ("eater1", rss_kib(eaters[1].pid())),
                ("eater2", rss_kib(eaters[2].pid())),
            ];
            let m = metrics(metrics_port);
            let dumplings_in = sum(&m, "nd_hub_dumplings_in_total", |_| true);
            print!("{:>6.0}", start.elapsed().as_secs_f64());
            for (name, kib) in row {
                print!(" {:>8.1}", kib as f64 / 1024.0);
                samples.entry(name).or_default().push(kib);
            }
            println!(" {dumplings_in:>12.0}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stop the long-lived kitchen (SIGINT: it flushes what it has), let the
    // other finish its round, then wait for the eaters to go quiet.
    kitchens[0].signal("INT");
    for (k, child) in kitchens.iter_mut().enumerate() {
        child.wait_exit(Duration::from_secs(300));
        totals.add(&report_of(k, rounds[k]));
    }
    let mut last: Vec<u64> = eaters.iter().map(Eater::lines).collect();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let now: Vec<u64> = eaters.iter().map(Eater::lines).collect();
        if now == last {
            break;
        }
        last = now;
    }

    // Everything is in: the kitchens are done and the eaters idle.
    let m = metrics(metrics_port);
    let kitchen_in = sum(&m, "nd_hub_dumplings_in_total", |_| true);
    let processes = rounds[0] + rounds[1] + 2;
    let mut ok = totals.reports == processes as u64
        && totals.sent as f64 == kitchen_in
        && totals.resent == 0
        && totals.dropped == 0;
    println!(
        "\nkitchens ({} reports of {processes} processes): sent {}, re-sent {}, dropped {}; \
         the hub took in {kitchen_in}: {}",
        totals.reports,
        totals.sent,
        totals.resent,
        totals.dropped,
        if ok { "OK" } else { "MISMATCH" }
    );
    println!("\nper eater: received (lines nd-print wrote) vs the hub's counts");
    for e in &eaters {
        let got = e.lines() as f64;
        let label = format!("eater=\"soak-eater-{}\"", e.index);
        let hub_out = sum(&m, "nd_hub_eater_dumplings_out_total", |k| {
            k.contains(&label)
        });
        let dropped = sum(&m, "nd_hub_eater_dumplings_dropped_total", |k| {
            k.contains(&label)
        });
        let fine = got == kitchen_in && got == hub_out && dropped == 0.0;
        ok &= fine;
        println!(
            "  soak-eater-{}: received {got}; the hub took in {kitchen_in}, wrote {hub_out} to it, \
             dropped {dropped}: {}",
            e.index,
            if fine { "OK" } else { "MISMATCH" }
        );
    }
    println!("\nRSS (MiB): first third vs last third of the run, after the first sample");
    for (name, s) in &samples {
        if s.len() < 4 {
            continue;
        }
        let s = &s[1..];
        let third = (s.len() / 3).max(1);
        let avg = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1024.0;
        let (first, last) = (avg(&s[..third]), avg(&s[s.len() - third..]));
        let max = *s.iter().max().unwrap() as f64 / 1024.0;
        let flat = last <= first * 1.10 || last - first < 5.0;
        // Kitchen 1 is a new process every round: its RSS is per round, not
        // over time. Kitchen 0 is one process (unless it ever finished its
        // replays, which would take hours).
        let one_process = *name != "kitchen1" && (*name != "kitchen0" || rounds[0] == 0);
        if one_process {
            ok &= flat;
        }
        println!(
            "  {name:<9} first {first:7.1}  last {last:7.1}  max {max:7.1}  {}",
            if flat { "flat" } else { "GROWING" }
        );
    }
    println!(
        "\nkitchen rounds: {} and {}; {kitchen_in} dumplings in; verdict: {}",
        rounds[0] + 1,
        rounds[1] + 1,
        if ok { "PASS" } else { "FAIL" }
    );
    drop(eaters);
    drop(hub);
    std::process::exit(if ok { 0 } else { 1 });
}
