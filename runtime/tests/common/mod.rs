//! Shared by the kitchen's integration tests: running nd-sniff for real.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nd_eater::{Eater, EaterConfig};

use nd_testkit::{pcaps_dir, target_dir};

/// The staged standard chefs (`just chefs`).
pub fn chef_dir() -> PathBuf {
    let d = target_dir().join("chefs");
    assert!(
        d.join("packet_count.wasm").exists(),
        "standard chefs missing in {}: run `just chefs`",
        d.display()
    );
    d
}

/// The staged test chefs (`just chefs`).
pub fn test_chef(name: &str) -> PathBuf {
    let p = target_dir()
        .join("test-chefs")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        p.exists(),
        "test chef {} missing: run `just chefs`",
        p.display()
    );
    p
}

/// A compile cache shared by every test run.
pub fn cache_dir() -> PathBuf {
    target_dir().join("chef-cache")
}

/// The test corpus, `testdata/pcaps`.
pub fn pcaps() -> PathBuf {
    let d = pcaps_dir();
    assert!(
        d.join("MANIFEST.json").exists(),
        "test captures missing at {}",
        d.display()
    );
    d
}

/// The captures written for this project with scapy, `testdata/peer`
/// (their oracle is the Python peer's output only).
pub fn peer_pcaps() -> PathBuf {
    pcaps().join("..").join("peer")
}

/// The `.pcap` and `.pcapng` files of `dir`, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    v
}

/// Every test capture: `testdata/pcaps` then `testdata/peer`.
pub fn all_captures() -> Vec<PathBuf> {
    let mut v = captures_in(&pcaps());
    v.extend(captures_in(&peer_pcaps()));
    v
}

/// An nd-sniff command with the shared cache.
pub fn nd_sniff() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nd-sniff"));
    c.arg("--cache-dir").arg(cache_dir());
    c.env("ND_LOG", "info");
    c
}

/// Output of `nd-sniff --read FILE --print` with the given chef dir.
pub struct Replay {
    /// Every dumpling printed, parsed.
    pub dumplings: Vec<serde_json::Value>,
    /// The `--report` JSON.
    pub report: serde_json::Value,
    /// stderr, for failure messages.
    pub stderr: String,
}

impl Replay {
    /// Payloads of `chef` with `driver`, in order.
    pub fn payloads(&self, chef: &str, driver: &str) -> Vec<&serde_json::Value> {
        self.dumplings
            .iter()
            .filter(|d| d["metadata"]["chef"] == chef && d["metadata"]["driver"] == driver)
            .map(|d| &d["payload"])
            .collect()
    }

    /// The last interval payload of `chef`.
    pub fn last_interval(&self, chef: &str) -> Option<&serde_json::Value> {
        self.payloads(chef, "interval").into_iter().last()
    }
}

/// Replays `pcap` through the chefs in `chef_dir`, printing dumplings.
pub fn replay(pcap: &Path, chef_dir: &Path, extra: &[&str]) -> Replay {
    let tmp = tempfile::tempdir().unwrap();
    let report_path = tmp.path().join("report.json");
    let out = nd_sniff()
        .arg("--read")
        .arg(pcap)
        .arg("--print")
        .arg("--no-watch")
        .arg("--chef-dir")
        .arg(chef_dir)
        .arg("--report")
        .arg(&report_path)
        .args(extra)
        .output()
        .expect("run nd-sniff");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "nd-sniff failed on {}: {stderr}",
        pcap.display()
    );
    let dumplings = String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    let report =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report written"))
            .unwrap();
    Replay {
        dumplings,
        report,
        stderr,
    }
}

/// Asserts what a sandbox probe chef (`test-chefs/sandbox`, or its Python
/// twin in `tests/chefs/python-sandbox`) reported in its interval payload:
/// every escape attempt failed, no environment, the clock frozen.
pub fn assert_sandbox_denied(p: &serde_json::Value) {
    for attempt in [
        "read_file",
        "read_dir",
        "write_file",
        "tcp_connect",
        "udp_bind",
        "dns",
    ] {
        assert!(
            p[attempt]["err"].is_string(),
            "{attempt} must fail inside the sandbox: {p}"
        );
        assert!(p[attempt].get("ok").is_none(), "{attempt} got data: {p}");
    }
    assert_eq!(p["env"], 0, "no environment variables: {p}");
    assert_eq!(
        p["wall_clock"], 0,
        "the wall clock is frozen at the epoch: {p}"
    );
    assert!(!Path::new("/tmp/nd-sandbox-escape").exists());
}

/// A DNS query message for `name` (type A, class IN).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// An `nd-hub` on 127.0.0.1 with a status dumpling every 0.2 s; killed
/// (-9) when the returned child is dropped.
pub fn start_hub(in_port: u16, out_port: u16) -> nd_testkit::Child {
    let mut cmd = Command::new(target_dir().join("debug").join("nd-hub"));
    cmd.args(["-a", "127.0.0.1", "-f", "0.2"]).args([
        "-i",
        &in_port.to_string(),
        "-o",
        &out_port.to_string(),
    ]);
    let hub = nd_testkit::Child::spawn("nd-hub", cmd);
    nd_testkit::wait_for_port(out_port, Duration::from_secs(10));
    hub
}

/// Connects an eater and waits until the hub counts it (its status says so).
pub async fn registered_eater(out_port: u16, name: &str) -> Eater {
    let mut eater = Eater::connect(EaterConfig::new(format!("127.0.0.1:{out_port}"), name))
        .await
        .expect("connect an eater");
    loop {
        let d = tokio::time::timeout(Duration::from_secs(10), eater.next())
            .await
            .expect("a status dumpling within 10 s")
            .expect("the hub is up")
            .expect("a valid dumpling");
        if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF
            && d.payload_value()["dumpling_eaters"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["info_from_eater"]["eater_name"] == name))
        {
            return eater;
        }
    }
}

/// Collects the host names of `kitchen`'s DNSLookupChef dumplings from
/// `eater` until `done` says so or `patience` has passed.
pub async fn lookups(
    eater: &mut Eater,
    kitchen: &str,
    into: &mut Vec<String>,
    patience: Duration,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + patience;
    while !done(into) {
        match tokio::time::timeout_at(deadline, eater.next()).await {
            Ok(Some(Ok(d)))
                if d.metadata.chef == "DNSLookupChef"
                    && d.metadata.driver == nd_protocol::Driver::Packet =>
            {
                assert_eq!(d.metadata.kitchen.as_deref(), Some(kitchen));
                let p = d.payload_value();
                if let Some(h) = p["lookup"]["hostname"].as_str() {
                    into.push(h.to_string());
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return,
        }
    }
}
