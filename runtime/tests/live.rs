//! Live capture on the loopback interface, end to end: packets this test
//! sends are captured by a real `nd-sniff` (libpcap on `lo`, a BPF filter),
//! turned into dumplings by the standard DNSLookupChef, relayed to a real
//! `nd-hub` subprocess and received by a real eater.
//!
//! Live capture needs root (or CAP_NET_RAW); CI runs as root. On a machine
//! where the test is not root these tests say so and return.
//!
//! The DNS queries go to port 53 of 127.0.0.1, where nobody listens: the
//! kitchen only has to see them. Every test uses its own host names, so tests
//! running at the same time (which all see `lo`) cannot confuse each other.

mod common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use common::{chef_dir, lookups, nd_sniff, registered_eater, start_hub};
use nd_testkit::{free_port, Child};

/// Only DNS queries to 127.0.0.1:53 pass this filter.
const FILTER: &str = "udp and dst port 53 and dst host 127.0.0.1";

/// Sends a DNS query for `name` over UDP to `to`.
fn send_query(to: &str, id: u16, name: &str) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    sock.send_to(&common::dns_query(id, name), to)
        .expect("send a query");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("not root: live-capture tests need root or CAP_NET_RAW; skipping");
    }
    root
}

fn live_kitchen(in_port: u16) -> Child {
    let mut cmd = nd_sniff();
    cmd.args(["-n", "live_kitchen", "-i", "lo", "-f", FILTER, "-p", "60"])
        .args(["-h", &format!("127.0.0.1:{in_port}")])
        .args(["-c", "DNSLookupChef", "--no-watch", "--chef-dir"])
        .arg(chef_dir());
    let kitchen = Child::spawn("nd-sniff", cmd);
    kitchen.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("connected to nd-hub")
    });
    kitchen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_capture_on_lo_reaches_an_eater_and_the_filter_keeps_the_rest_out() {
    if !is_root() {
        return;
    }
    let (in_port, out_port) = (free_port(), free_port());
    let _hub = start_hub(in_port, out_port);
    let mut eater = registered_eater(out_port, "live_eater").await;
    let mut kitchen = live_kitchen(in_port);

    let tag = std::process::id();
    let kept: BTreeSet<String> = (0..20)
        .map(|i| format!("kept-{i}.filter-p{tag}.test"))
        .collect();
    for (i, name) in kept.iter().enumerate() {
        send_query("127.0.0.1:53", i as u16, name);
        // Filtered out: another destination host, another port.
        send_query(
            "127.0.0.2:53",
            i as u16,
            &format!("otherhost-{i}.filter-p{tag}.test"),
        );
        send_query(
            "127.0.0.1:5353",
            i as u16,
            &format!("otherport-{i}.filter-p{tag}.test"),
        );
    }
    let mut seen = Vec::new();
    lookups(
        &mut eater,
        "live_kitchen",
        &mut seen,
        Duration::from_secs(20),
        |s| kept.iter().all(|k| s.contains(k)),
    )
    .await;
    // Whatever else arrives in the next second must not be filtered names.
    lookups(
        &mut eater,
        "live_kitchen",
        &mut seen,
        Duration::from_secs(1),
        |_| false,
    )
    .await;
    let mine: Vec<&String> = seen
        .iter()
        .filter(|h| h.ends_with(&format!(".filter-p{tag}.test")))
        .collect();
    for k in &kept {
        if !mine.contains(&k) {
            // The kitchen's own account (drops, faults) says where it went.
            kitchen.signal("INT");
            kitchen.wait_exit(Duration::from_secs(20));
            panic!(
                "{k} never arrived; got {mine:?}\n--- kitchen ---\n{}",
                kitchen.stderr().join("\n")
            );
        }
    }
    assert!(
        mine.iter().all(|h| h.starts_with("kept-")),
        "the BPF filter let through {mine:?}"
    );

    kitchen.signal("INT");
    assert!(kitchen.wait_exit(Duration::from_secs(20)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restart_mid_stream_loses_nothing_the_kitchen_buffered() {
    if !is_root() {
        return;
    }
    let (in_port, out_port) = (free_port(), free_port());
    let hub = start_hub(in_port, out_port);
    let mut first = registered_eater(out_port, "before_restart").await;
    let mut kitchen = live_kitchen(in_port);

    let tag = std::process::id();
    let names: Vec<String> = (0..60)
        .map(|i| format!("{i}.restart-p{tag}.test"))
        .collect();
    let mine = |s: &[String]| {
        s.iter()
            .filter(|h| h.ends_with(&format!(".restart-p{tag}.test")))
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    // First third while the first hub is up, and seen by its eater.
    for (i, n) in names[..20].iter().enumerate() {
        send_query("127.0.0.1:53", i as u16, n);
    }
    let mut before = Vec::new();
    let want: BTreeSet<String> = names[..20].iter().cloned().collect();
    lookups(
        &mut first,
        "live_kitchen",
        &mut before,
        Duration::from_secs(20),
        |s| want.is_subset(&mine(s)),
    )
    .await;
    assert!(
        want.is_subset(&mine(&before)),
        "before the restart: {before:?}"
    );

    // The hub dies hard. The kitchen keeps capturing and buffers.
    drop(hub); // kill -9 and reap
    for (i, n) in names[20..40].iter().enumerate() {
        send_query("127.0.0.1:53", 20 + i as u16, n);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Hold the kitchen still while a new hub starts and its eater registers,
    // so nothing the kitchen re-sends can reach the hub before the eater.
    kitchen.signal("STOP");
    let _hub = start_hub(in_port, out_port);
    let mut second = registered_eater(out_port, "after_restart").await;
    kitchen.signal("CONT");
    for (i, n) in names[40..].iter().enumerate() {
        send_query("127.0.0.1:53", 40 + i as u16, n);
    }
    let rest: BTreeSet<String> = names[20..].iter().cloned().collect();
    let mut after = Vec::new();
    lookups(
        &mut second,
        "live_kitchen",
        &mut after,
        Duration::from_secs(30),
        |s| rest.is_subset(&mine(s)),
    )
    .await;
    let got = mine(&after);
    let missing: Vec<&String> = rest.difference(&got).collect();
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    kitchen.wait_for_line(Duration::from_secs(10), |l| {
        l.contains("reconnected to nd-hub")
    });

    kitchen.signal("INT");
    assert!(kitchen.wait_exit(Duration::from_secs(20)).success());
}

/// What `runtime/dist/nd-sniff.service` grants: a user that is not root,
/// with CAP_NET_RAW and CAP_NET_ADMIN as its only (ambient) capabilities,
/// captures live. (`setpriv` does what the unit's `User=` and
/// `AmbientCapabilities=` do.)
#[test]
fn a_kitchen_without_root_but_with_the_units_capabilities_captures_live() {
    if !is_root() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([
            "--inh-caps=-all,+net_raw,+net_admin",
            "--ambient-caps=-all,+net_raw,+net_admin",
        ])
        .arg("--bounding-set=-all,+net_raw,+net_admin")
        .arg(env!("CARGO_BIN_EXE_nd-sniff"))
        .args([
            "-n",
            "unprivileged",
            "-i",
            "lo",
            "-f",
            FILTER,
            "-p",
            "60",
            "--print",
        ])
        .args(["-c", "DNSLookupChef", "--no-watch", "--chef-dir"])
        .arg(chef_dir())
        .arg("--cache-dir")
        .arg(cache.path())
        .env("ND_LOG", "info");
    let kitchen = Child::spawn("nd-sniff", cmd);
    kitchen.wait_for_line(Duration::from_secs(60), |l| l.contains("chefs "));
    let name = format!("unprivileged-p{}.test", std::process::id());
    // Queries until one is seen (the capture may open just after the log line).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut id = 0;
    while !kitchen.stdout().iter().any(|l| l.contains(&name)) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing captured without root\n{}",
            kitchen.stderr().join("\n")
        );
        send_query("127.0.0.1:53", id, &name);
        id += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let uid =
        std::fs::read_to_string(format!("/proc/{}/status", kitchen.pid())).unwrap_or_default();
    assert!(
        uid.lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "the kitchen ran as nobody: {uid}"
    );
}
