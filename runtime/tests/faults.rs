//! Faults a kitchen must ride out, without root: the hub killed (-9) and
//! restarted while a capture replays at its own pace (`--realtime`).
//!
//! (`live.rs` does the same with live capture on `lo`, which needs root.)
//! The capture is written by the test: DNS queries, each for a host name of
//! its own, 10 ms apart, so which dumplings arrived is known exactly.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{chef_dir, lookups, nd_sniff, registered_eater, start_hub};
use nd_testkit::{free_port, Child};

/// Queries in the test capture, and the time between two.
const QUERIES: usize = 300;
const SPACING: Duration = Duration::from_millis(10);

/// Writes a pcap (through libpcap) of one Ethernet/IPv4/UDP DNS query per
/// name, `SPACING` apart.
fn write_queries(path: &Path, names: &[String]) {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).expect("a dead capture");
    let mut out = dead.savefile(path).expect("a savefile");
    for (i, name) in names.iter().enumerate() {
        let query = common::dns_query(i as u16, name);
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(40000 + i as u16, 53);
        let mut frame = Vec::with_capacity(builder.size(query.len()));
        builder.write(&mut frame, &query).expect("a frame");
        let at = SPACING * i as u32;
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: 1_700_000_000 + at.as_secs() as libc::time_t,
                tv_usec: at.subsec_micros() as libc::suseconds_t,
            },
            caplen: frame.len() as u32,
            len: frame.len() as u32,
        };
        out.write(&pcap::Packet::new(&header, &frame));
    }
    out.flush().expect("flush the savefile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_replay_and_restarted_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tag = std::process::id();
    let names: Vec<String> = (0..QUERIES)
        .map(|i| format!("{i}.replay-p{tag}.test"))
        .collect();
    let capture = dir.path().join("queries.pcap");
    write_queries(&capture, &names);
    let report = dir.path().join("report.json");

    let (in_port, out_port) = (free_port(), free_port());
    let hub = start_hub(in_port, out_port);
    let mut first = registered_eater(out_port, "before_restart").await;
    let mut cmd = nd_sniff();
    cmd.args(["-n", "replay_kitchen", "--realtime", "-p", "60"])
        .args(["-h", &format!("127.0.0.1:{in_port}")])
        .args(["-c", "DNSLookupChef", "--no-watch", "--chef-dir"])
        .arg(chef_dir())
        .arg("--read")
        .arg(&capture)
        .arg("--report")
        .arg(&report);
    let mut kitchen = Child::spawn("nd-sniff", cmd);

    // Some of the capture reaches the first hub's eater...
    let mut before = Vec::new();
    lookups(
        &mut first,
        "replay_kitchen",
        &mut before,
        Duration::from_secs(30),
        |s| s.len() >= 50,
    )
    .await;
    assert!(before.len() >= 50, "before the kill: {before:?}");
    // ...then the hub dies hard, mid-stream. The kitchen notices, goes on
    // replaying into its buffer and retries (backoff from 100 ms).
    drop(hub);
    // What the first hub wrote to its eater before it died still counts:
    // read it to the end of the stream.
    lookups(
        &mut first,
        "replay_kitchen",
        &mut before,
        Duration::from_secs(10),
        |_| false,
    )
    .await;
    kitchen.wait_for_line(Duration::from_secs(10), |l| l.contains("lost nd-hub"));
    tokio::time::sleep(SPACING * 50).await;
    // Hold the kitchen still while a new hub starts and its eater registers,
    // so nothing it re-sends can reach the hub before that eater.
    kitchen.signal("STOP");
    let _hub = start_hub(in_port, out_port);
    let mut second = registered_eater(out_port, "after_restart").await;
    kitchen.signal("CONT");

    let all: BTreeSet<String> = names.iter().cloned().collect();
    let seen_before: BTreeSet<String> = before.iter().cloned().collect();
    let mut after = Vec::new();
    lookups(
        &mut second,
        "replay_kitchen",
        &mut after,
        Duration::from_secs(60),
        |s| {
            let got: BTreeSet<&String> = seen_before.iter().chain(s).collect();
            all.iter().all(|n| got.contains(n))
        },
    )
    .await;
    let status = kitchen.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "kitchen: {:?}", kitchen.stderr());

    // Every query arrived, through one hub or the other; the second got
    // everything the first did not (the kill was mid-stream: it got some).
    let got: BTreeSet<String> = before.iter().chain(&after).cloned().collect();
    let missing: Vec<&String> = all.difference(&got).collect();
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    assert!(
        seen_before.len() < QUERIES,
        "the hub was killed after the replay ended; the test proves nothing"
    );
    assert!(kitchen
        .stderr()
        .iter()
        .any(|l| l.contains("reconnected to nd-hub")));
    // Nothing was dropped from the kitchen's buffer; what the first hub had
    // not acknowledged went again (at least once, so duplicates may occur).
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let relay = &report["relay"];
    eprintln!(
        "first hub: {} lookups; second: {}; relay: {relay}",
        before.len(),
        after.len()
    );
    assert_eq!(relay["dropped"], 0, "{report}");
    assert_eq!(relay["reconnects"], 1, "{report}");
    assert_eq!(report["packets"].as_u64(), Some(QUERIES as u64), "{report}");
}
