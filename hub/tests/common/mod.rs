//! Shared by the hub's subprocess tests: a running `nd-hub --config FILE`,
//! clients, and `/metrics` parsed by the Python `prometheus_client`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nd_client::{HubEndpoint, HubStream};
use nd_eater::{Eater, EaterConfig};
use nd_protocol::{encode_dumpling, Driver};
pub use nd_testkit::prometheus::{parse_prometheus, value, Sample};
use nd_testkit::{free_port, Child};
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(20);

/// Status dumplings once an hour (out of the tests' way), unless `extra`
/// sets the period itself.
fn default_status_freq(extra: &str) -> &'static str {
    if extra.contains("status_freq") {
        ""
    } else {
        "status_freq = 3600\n"
    }
}

/// A running `nd-hub --config FILE`, with its ports and its directory.
pub struct Hub {
    pub child: Child,
    pub in_port: u16,
    pub out_port: u16,
    pub metrics_port: u16,
    pub dir: tempfile::TempDir,
}

impl Hub {
    /// Starts a hub on 127.0.0.1 whose config file is the ports plus `extra`.
    pub fn start(extra: &str) -> Hub {
        Hub::start_with(extra, tempfile::tempdir().unwrap(), |_| {})
    }

    pub fn start_with(
        extra: &str,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut Command),
    ) -> Hub {
        let (in_port, out_port, metrics_port) = (free_port(), free_port(), free_port());
        let config = dir.path().join("nd-hub.toml");
        std::fs::write(
            &config,
            format!(
                "address = \"127.0.0.1\"\nin_port = {in_port}\nout_port = {out_port}\n\
                 metrics = \"{metrics_port}\"\n{}{extra}",
                default_status_freq(extra)
            ),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nd-hub"));
        cmd.arg("--config").arg(&config).env("ND_LOG", "info");
        tweak(&mut cmd);
        let child = Child::spawn("nd-hub", cmd);
        child.wait_for_line(WAIT, |l| l.contains("dumpling hub initiated"));
        Hub {
            child,
            in_port,
            out_port,
            metrics_port,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Rewrites the config file (same ports) and sends SIGHUP; waits for
    /// the hub's verdict, which is returned.
    pub fn reload(&self, extra: &str) -> String {
        let config = self.path("nd-hub.toml");
        std::fs::write(
            &config,
            format!(
                "address = \"127.0.0.1\"\nin_port = {}\nout_port = {}\nmetrics = \"{}\"\n\
                 {}{extra}",
                self.in_port,
                self.out_port,
                self.metrics_port,
                default_status_freq(extra)
            ),
        )
        .unwrap();
        let before = self.reload_verdicts();
        self.child.signal("HUP");
        let deadline = Instant::now() + WAIT;
        loop {
            let verdicts: Vec<String> = self
                .child
                .stderr()
                .into_iter()
                .filter(|l| l.contains("configuration reloaded") || l.contains("reload failed"))
                .collect();
            if verdicts.len() > before {
                return verdicts.last().unwrap().clone();
            }
            assert!(Instant::now() < deadline, "no reload verdict");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn reload_verdicts(&self) -> usize {
        self.child
            .stderr()
            .iter()
            .filter(|l| l.contains("configuration reloaded") || l.contains("reload failed"))
            .count()
    }

    pub fn kitchen_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.in_port)
    }

    pub fn eater_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.out_port)
    }

    /// GET `path` on the metrics port: (status line, body).
    pub fn http_get(&self, path: &str) -> (String, String) {
        nd_testkit::http_get(self.metrics_port, path)
    }

    /// /metrics, parsed by the Python prometheus_client parser: every
    /// sample as (name, labels, value).
    pub fn metrics(&self) -> Vec<Sample> {
        let (status, body) = self.http_get("/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        parse_prometheus(&body)
    }
}

pub fn endpoint(url: &str, token: Option<&str>, ca: Option<&Path>) -> HubEndpoint {
    HubEndpoint {
        url: url.to_string(),
        ca_file: ca.map(Path::to_path_buf),
        token: token.map(str::to_string),
    }
}

/// A kitchen: connects and says hello.
pub async fn kitchen(ep: &HubEndpoint, name: &str) -> HubStream {
    let mut ws = ep.connect().await.expect("kitchen connects");
    let hello = serde_json::json!({
        "kitchen_name": name, "interface": "test", "filter": "",
        "chefs": ["TestChef"], "poke_interval": 5,
    });
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    ws
}

pub fn dumpling(kitchen: &str, chef: &str, n: u64) -> String {
    encode_dumpling(
        chef,
        Some(kitchen),
        1.5,
        Driver::Packet,
        &format!("{{\"n\":{n}}}"),
    )
}

pub async fn send(ws: &mut HubStream, text: String) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// The close frame a peer gets (code, reason), reading past anything else.
pub async fn close_of(ws: &mut HubStream) -> (u16, String) {
    let got = tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            if let Ok(Message::Close(Some(f))) = msg {
                return Some((u16::from(f.code), f.reason.to_string()));
            }
        }
        None
    })
    .await
    .expect("a close frame in time");
    got.expect("a close frame, not a dropped connection")
}

/// Connects an eater to `url` (one of `hub`'s) and waits until the hub has
/// registered it (its log line), so that what is sent next reaches it.
pub async fn eater(
    hub: &Hub,
    url: &str,
    name: &str,
    token: Option<&str>,
    ca: Option<&Path>,
) -> Eater {
    let config = EaterConfig::new(url, name)
        .token(token.map(str::to_string))
        .ca_file(ca.map(Path::to_path_buf));
    let mine = format!("eater={name} peer=");
    let registered = || {
        hub.child
            .stderr()
            .iter()
            .filter(|l| l.contains("dumpling eater connected") && l.contains(&mine))
            .count()
    };
    let before = registered();
    let e = Eater::connect(config).await.expect("eater connects");
    let deadline = Instant::now() + WAIT;
    while registered() == before {
        assert!(Instant::now() < deadline, "the hub never registered {name}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e
}

/// An eater named "stalled" that says hello, then never reads a byte.
pub async fn stalled_eater(hub: &Hub) -> HubStream {
    let mut stalled = endpoint(&hub.eater_url(), None, None)
        .connect()
        .await
        .unwrap();
    stalled
        .send(Message::Text("{\"eater_name\": \"stalled\"}".into()))
        .await
        .unwrap();
    stalled
}

/// The next kitchen dumpling's `payload.n` and chef. The hub's start-up
/// status dumpling is skipped: an eater that registers before the status
/// task's first turn gets it (seen once in a loaded test run).
pub async fn next_n(e: &mut Eater) -> (u64, String) {
    loop {
        let d = tokio::time::timeout(WAIT, e.next())
            .await
            .expect("a dumpling in time")
            .expect("stream open")
            .expect("valid dumpling");
        if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF {
            continue;
        }
        return (
            d.payload_value()["n"].as_u64().expect("payload.n"),
            d.metadata.chef.clone(),
        );
    }
}

/// Polls /metrics until `ready` holds for a snapshot (counters that the hub
/// updates after the fact, e.g. once a write is flushed); returns it.
pub fn metrics_when(hub: &Hub, what: &str, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = hub.metrics();
        if ready(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "/metrics never showed {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `n` eaters are registered (per /metrics).
pub fn wait_for_eaters(hub: &Hub, n: f64) {
    let deadline = Instant::now() + WAIT;
    while value(&hub.metrics(), "nd_hub_eaters_connected", &[]) != Some(n) {
        assert!(Instant::now() < deadline, "{n} eaters never registered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Hub {
    /// The hub process's resident memory now and at its peak, in bytes
    /// (`VmRSS`, `VmHWM` from /proc).
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.pid())).unwrap();
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in /proc status"))
        };
        (kib("VmRSS:") * 1024, kib("VmHWM:") * 1024)
    }

    /// Open file descriptors of the hub process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.pid()))
            .unwrap()
            .count()
    }
}
