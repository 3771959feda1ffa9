//! The kitchen end to end: `nd-sniff --read` with the three standard chefs
//! (PacketCountChef, ARPChef, DNSLookupChef) vs netdumplings 0.5.1's own
//! chefs in Python on the same capture.
//!
//! - ours: the release `nd-sniff` replays the mixed capture
//!   ([`mixed_capture`]) `--repeat`ed to about [`TARGET_PACKETS`], and
//!   writes every dumpling as a JSON line (`--print`, to /dev/null); timed
//!   from spawn to exit, so start-up, chef loading (from a warm compile
//!   cache) and the final flush count. Once on every core, once pinned to
//!   one core (`taskset -c 0`).
//! - Python: `bench/py/chefs.py` in the peer's venv does what netdumplings'
//!   `DumplingKitchen` does per packet (scapy `sniff(offline=...)`, every
//!   chef's `packet_handler`, `Dumpling.to_json()` for each payload), on one
//!   pass of the same file (it is ~1000x slower; the rate is what counts).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The Ethernet captures of `testdata/pcaps` that are not malformed: the
/// mixed workload (DNS over UDP/TCP/IPv6, mDNS, ARP and an ARP scan, VLAN,
/// ICMP, fragments, FTP, Modbus/TCP, QUIC).
const MIXED: &[&str] = &[
    "dns_udp.pcap",
    "dns_tcp.pcap",
    "edns-opts.pcap",
    "dns-edns-ecs.pcap",
    "mdns.pcap",
    "wikipedia.pcap",
    "var-services-std-ports.pcap",
    "arp-who-has.pcap",
    "nmap-vsn.pcap",
    "802.1ad_QinQ.pcap",
    "icmp_dot1q.pcap",
    "ipv4_fragmented-3.pcap",
    "ipv6-fragmented-dns.pcap",
    "ftp_ipv6.pcap",
    "icmp-ping.pcap",
    "icmp-destunreach-udp.pcap",
    "icmpv6.pcap",
    "modbusBig.pcap",
    "quic_ipv6_udp_bulk.pcap",
    "pcapng-multi-interface.pcapng",
];

/// Packets ours replays per measured run.
const TARGET_PACKETS: u64 = 2_000_000;

/// Writes (once) `target/bench/mixed.pcap`, the [`MIXED`] captures back to
/// back; returns its path and packet count.
pub fn mixed_capture() -> anyhow::Result<(PathBuf, u64)> {
    let path = crate::work_dir().join("mixed.pcap");
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)?;
    let mut out = dead.savefile(&path)?;
    let mut n = 0u64;
    for name in MIXED {
        let src = nd_testkit::pcaps_dir().join(name);
        let mut cap = pcap::Capture::from_file(&src)
            .map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))?;
        while let Ok(p) = cap.next_packet() {
            out.write(&p);
            n += 1;
        }
    }
    out.flush()?;
    Ok((path, n))
}

pub fn run() -> anyhow::Result<()> {
    let (pcap, per_file) = mixed_capture()?;
    let repeat = TARGET_PACKETS.div_ceil(per_file);
    println!(
        "\n## Kitchen end to end: the three standard chefs on {} ({per_file} packets, mixed)",
        pcap.display()
    );
    let cache = tempfile::tempdir()?;
    let sniff =
        |repeat: u64, one_core: bool, stdout: Stdio| -> anyhow::Result<(f64, serde_json::Value)> {
            let report = cache.path().join("report.json");
            let mut cmd = if one_core {
                let mut c = Command::new("taskset");
                c.args(["-c", "0"]).arg(crate::release_bin("nd-sniff"));
                c
            } else {
                Command::new(crate::release_bin("nd-sniff"))
            };
            cmd.arg("--read")
                .arg(&pcap)
                .args(["--repeat", &repeat.to_string()])
                .args(["--print", "--no-watch", "-p", "3600", "--chef-dir"])
                .arg(crate::chef_wasm(""))
                .arg("--cache-dir")
                .arg(cache.path())
                .arg("--report")
                .arg(&report)
                .env("ND_LOG", "warn")
                .stdout(stdout);
            let started = Instant::now();
            let status = cmd.status()?;
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(status.success(), "nd-sniff failed: {status}");
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&report)?)?;
            Ok((secs, report))
        };
    // Warm the compile cache, and count what one pass makes.
    let lines = cache.path().join("one-pass.jsonl");
    sniff(1, false, std::fs::File::create(&lines)?.into())?;
    let ours_dumplings = std::fs::read_to_string(&lines)?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["metadata"]["driver"] == "packet")
        .count();

    let mut rows = Vec::new();
    for one_core in [false, true] {
        let mut samples = Vec::new();
        for _ in 0..3 {
            let (secs, report) = sniff(repeat, one_core, Stdio::null())?;
            let packets = report["packets"].as_u64().unwrap_or(0);
            anyhow::ensure!(packets == per_file * repeat, "read {packets} packets");
            samples.push(packets as f64 / secs);
        }
        rows.push((one_core, crate::median(samples)));
    }

    let py = python(&pcap)?;
    let py_rate = py["packets"].as_f64().unwrap_or(0.0) / py["secs"].as_f64().unwrap_or(1.0);
    println!(
        "packet dumplings per pass: ours {ours_dumplings}, python {}",
        py["dumplings"]
    );
    println!("{:<40} {:>14} {:>10}", "kitchen", "packets/s", "vs python");
    for (one_core, rate) in &rows {
        println!(
            "{:<40} {:>14.0} {:>9.0}x",
            if *one_core {
                "ours, nd-sniff pinned to one core"
            } else {
                "ours, nd-sniff on every core"
            },
            rate,
            rate / py_rate
        );
    }
    println!(
        "{:<40} {:>14.0} {:>9}x",
        "python netdumplings 0.5.1 chefs (scapy)", py_rate, 1
    );
    Ok(())
}

fn python(pcap: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let script = nd_testkit::workspace_dir().join("bench/py/chefs.py");
    let out = Command::new(nd_testkit::peer_venv().join("bin").join("python"))
        .arg(script)
        .arg(pcap)
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "bench/py/chefs.py failed");
    Ok(serde_json::from_slice(&out.stdout)?)
}
