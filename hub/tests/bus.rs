//! Hubs federated through NATS JetStream (`--nats`), against real
//! `nats-server` processes (one, or a three-node cluster) on free loopback
//! ports, real `nd-hub` processes, kitchens running nd-sniff's own relay
//! (failover and re-sends included) and real eaters.
//!
//! The oracle is what the kitchens sent: every eater of every hub must get
//! each kitchen's dumplings 1..=N exactly once (and, but for the cases the
//! bus's docs name, in order).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Hub;
use nd_eater::Eater;
use nd_protocol::{Driver, KitchenHello};
use nd_runtime::relay::{self, Outgoing, RelayConfig, RelayStats};
use nd_testkit::nats::NatsServer;
use tokio::sync::{mpsc, watch};

/// Longest a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(60);

/// A hub on the bus at `nats`, named `name`; waits until it reads the bus.
fn bus_hub(nats: &str, name: &str, extra: &str) -> Hub {
    let hub = Hub::start(&format!(
        "nats = \"{nats}\"\nhub_name = \"{name}\"\n{extra}"
    ));
    hub.child
        .wait_for_line(WAIT, |l| l.contains("reading the bus"));
    hub
}

/// A kitchen named `name` relaying (with failover) to `hubs`' in ports;
/// what it relays is fed through the returned sender (`n` as payload).
struct Kitchen {
    tx: Option<mpsc::Sender<Outgoing>>,
    relay: tokio::task::JoinHandle<RelayStats>,
    _cancel: watch::Sender<bool>,
}

impl Kitchen {
    fn start(name: &str, hubs: &[&Hub]) -> Kitchen {
        let (tx, rx) = mpsc::channel(1024);
        let (cancel_tx, cancel) = watch::channel(false);
        let config = RelayConfig {
            endpoints: hubs
                .iter()
                .map(|h| nd_client::HubEndpoint::new(&h.kitchen_url()))
                .collect(),
            kitchen: name.into(),
            hello: KitchenHello {
                kitchen_name: name.into(),
                interface: "test".into(),
                filter: String::new(),
                chefs: vec!["TestChef".into()],
                poke_interval: 5.0,
                instance: Some(relay::new_instance()),
            },
            buffer: 100_000,
            wait: true,
        };
        Kitchen {
            tx: Some(tx),
            relay: tokio::spawn(relay::run(config, rx, cancel, Default::default())),
            _cancel: cancel_tx,
        }
    }

    /// Relays dumplings `from..=to`, a few at a time (a live kitchen's pace).
    async fn feed(&self, from: u64, to: u64) {
        let tx = self.tx.as_ref().expect("still feeding");
        for n in from..=to {
            tx.send(Outgoing {
                chef: "TestChef".into(),
                driver: Driver::Packet,
                payload: format!("{{\"n\":{n}}}"),
                created: 1.5,
            })
            .await
            .expect("the relay takes it");
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// Ends the feed; returns once every hub acknowledged everything.
    async fn finish(mut self) -> RelayStats {
        self.tx = None;
        tokio::time::timeout(WAIT, self.relay)
            .await
            .expect("the relay ends once everything is acknowledged")
            .expect("relay task")
    }
}

/// An eater of `hub`, registered before it returns.
async fn eater(hub: &Hub, name: &str) -> Eater {
    common::eater(hub, &hub.eater_url(), name, None, None).await
}

/// The next status dumpling read by `e` whose cluster satisfies `ready`.
async fn cluster_status(
    e: &mut Eater,
    ready: impl Fn(&nd_protocol::status::ClusterStatus) -> bool,
) -> nd_protocol::status::SystemStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no status with the cluster expected"
        );
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), e.next()).await else {
            continue;
        };
        let d = d.expect("a valid dumpling");
        if d.metadata.chef != nd_protocol::SYSTEM_STATUS_CHEF {
            continue;
        }
        let status: nd_protocol::status::SystemStatus =
            serde_json::from_str(d.payload.get()).expect("a status payload");
        if status.cluster.as_ref().is_some_and(&ready) {
            return status;
        }
    }
}

/// The hubs' bus metrics and warnings, for a failure message.
fn describe(hubs: &[&Hub]) -> String {
    let mut out = String::new();
    for h in hubs {
        let (_, metrics) = h.http_get("/metrics");
        out += &format!("--- hub on port {} ---\n", h.in_port);
        for l in metrics.lines().filter(|l| l.starts_with("nd_hub_bus")) {
            out += l;
            out += "\n";
        }
        for l in h.child.stderr().iter().filter(|l| !l.contains(" INFO ")) {
            out += l;
            out += "\n";
        }
    }
    out
}

/// What one eater received: per kitchen, the payloads' `n` in arrival order.
#[derive(Default, Debug)]
struct Got(BTreeMap<String, Vec<u64>>);

impl Got {
    fn total(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// Reads `e` until it holds `total` kitchen dumplings, then a little
    /// longer (anything more is a duplicate).
    /// `hubs` are described if it fails.
    async fn collect(e: &mut Eater, total: usize, got: &mut Got, hubs: &[&Hub]) {
        let deadline = Instant::now() + WAIT;
        while got.total() < total {
            assert!(
                Instant::now() < deadline,
                "got {} of {total}: {:?}\n{}",
                got.total(),
                got.summary(),
                describe(hubs)
            );
            got.take(e, Duration::from_millis(500)).await;
        }
        got.take(e, Duration::from_millis(700)).await;
    }

    /// Takes what arrives within `quiet` of the last dumpling.
    async fn take(&mut self, e: &mut Eater, quiet: Duration) {
        while let Ok(Some(d)) = tokio::time::timeout(quiet, e.next()).await {
            let d = d.expect("a valid dumpling");
            if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF {
                continue;
            }
            let n = d.payload_value()["n"].as_u64().expect("payload.n");
            let kitchen = d.metadata.kitchen.clone().unwrap_or_default();
            self.0.entry(kitchen).or_default().push(n);
        }
    }

    /// Per kitchen: how many, first and last (for failure messages).
    fn summary(&self) -> Vec<(String, usize, Option<u64>, Option<u64>)> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.len(), v.first().copied(), v.last().copied()))
            .collect()
    }

    /// Each of `kitchens` exactly 1..=n, once each; in order if `ordered`.
    fn assert_once(&self, who: &str, kitchens: &[&str], n: u64, ordered: bool) {
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        assert_eq!(names, kitchens, "{who}: kitchens");
        for (k, got) in &self.0 {
            let mut sorted = got.clone();
            sorted.sort_unstable();
            let dups = sorted.windows(2).filter(|w| w[0] == w[1]).count();
            assert_eq!(dups, 0, "{who}: {dups} duplicates from {k}");
            assert_eq!(
                sorted,
                (1..=n).collect::<Vec<_>>(),
                "{who}: from {k}, not exactly 1..={n} (got {})",
                got.len()
            );
            if ordered {
                assert!(
                    got.windows(2).all(|w| w[0] < w[1]),
                    "{who}: {k}'s dumplings out of order"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_eater_of_every_hub_gets_every_kitchen_once_in_order() {
    const N: u64 = 2000;
    let nats = NatsServer::start();
    let hubs: Vec<Hub> = ["A", "B", "C"]
        .iter()
        .map(|name| bus_hub(&nats.url(), name, "status_freq = 1\n"))
        .collect();
    let mut eaters = Vec::new();
    for h in &hubs {
        eaters.push(eater(h, "e").await);
    }
    // One kitchen on A, one on B, none on C.
    let (k1, k2) = (
        Kitchen::start("k1", &[&hubs[0]]),
        Kitchen::start("k2", &[&hubs[1]]),
    );
    tokio::join!(k1.feed(1, N), k2.feed(1, N));
    for (h, e) in ["A", "B", "C"].iter().zip(&mut eaters) {
        let mut got = Got::default();
        Got::collect(
            e,
            2 * N as usize,
            &mut got,
            &hubs.iter().collect::<Vec<_>>(),
        )
        .await;
        got.assert_once(&format!("eater of hub {h}"), &["k1", "k2"], N, true);
    }
    // The status dumpling of hub C: its own keys as netdumplings has them
    // (no kitchen of its own), and the cluster: three hubs, k1 on A, k2 on
    // B, an eater on each.
    let status = cluster_status(&mut eaters[2], |c| {
        c.hub_count == 3 && c.total_kitchens == 2
    })
    .await;
    assert_eq!(status.dumpling_kitchen_count, 0);
    assert_eq!(status.dumpling_eater_count, 1);
    let c = status.cluster.expect("a cluster key");
    assert_eq!(c.bus, "connected");
    let hubs_seen: Vec<(&str, Vec<String>, usize)> = c
        .hubs
        .iter()
        .map(|h| (h.hub_name.as_str(), h.kitchens.clone(), h.eater_count))
        .collect();
    assert_eq!(
        hubs_seen,
        [
            ("A", vec!["k1".to_string()], 1),
            ("B", vec!["k2".to_string()], 1),
            ("C", vec![], 1)
        ]
    );
    assert_eq!(c.total_eaters, 3);
    assert!(c.total_dumplings_in >= 2 * N, "{}", c.total_dumplings_in);
    let (s1, s2) = (k1.finish().await, k2.finish().await);
    assert_eq!((s1.dropped, s2.dropped), (0, 0));
    // Each hub's /metrics: its own kitchen's dumplings published, the
    // other's delivered from the stream; nothing given up.
    for h in &hubs {
        let m = h.metrics();
        assert_eq!(common::value(&m, "nd_hub_bus_connected", &[]), Some(1.0));
        assert_eq!(
            common::value(&m, "nd_hub_bus_given_up_total", &[]),
            Some(0.0)
        );
        let delivered = common::value(&m, "nd_hub_bus_delivered_total", &[]).unwrap();
        assert!(delivered >= N as f64, "{delivered}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_stream_loses_nothing_its_kitchen_fails_over() {
    const N: u64 = 4000;
    let nats = NatsServer::start();
    let a = bus_hub(&nats.url(), "A", "");
    let b = bus_hub(&nats.url(), "B", "");
    let c = bus_hub(&nats.url(), "C", "");
    let (mut eb, mut ec) = (eater(&b, "eb").await, eater(&c, "ec").await);
    let k = Kitchen::start("k", &[&a, &b]);
    k.feed(1, 1500).await;
    let mut got_b = Got::default();
    Got::collect(&mut eb, 1000, &mut got_b, &[&b, &c]).await;
    // SIGKILL: no drain, no close frames; what A had not published is
    // re-sent by the kitchen to B.
    a.child.signal("KILL");
    k.feed(1501, N).await;
    let stats = k.finish().await;
    assert!(stats.reconnects >= 1, "{stats:?}");
    Got::collect(&mut eb, N as usize, &mut got_b, &[&b, &c]).await;
    got_b.assert_once("eater of hub B", &["k"], N, true);
    let mut got_c = Got::default();
    Got::collect(&mut ec, N as usize, &mut got_c, &[&b, &c]).await;
    got_c.assert_once("eater of hub C", &["k"], N, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_node_killed_in_a_three_node_cluster_loses_nothing() {
    const N: u64 = 3000;
    let mut nodes = NatsServer::cluster();
    // A knows only n0 (it learns the others from it); B only n1. The
    // stream has three replicas.
    let a = bus_hub(&nodes[0].url(), "A", "nats_replicas = 3\n");
    let b = bus_hub(&nodes[1].url(), "B", "nats_replicas = 3\n");
    let (mut ea, mut eb) = (eater(&a, "ea").await, eater(&b, "eb").await);
    let k = Kitchen::start("k", &[&a]);
    k.feed(1, 1000).await;
    let mut got_b = Got::default();
    Got::collect(&mut eb, 500, &mut got_b, &[&a, &b]).await;
    nodes[0].kill();
    k.feed(1001, N).await;
    k.finish().await;
    let mut got_a = Got::default();
    Got::collect(&mut ea, N as usize, &mut got_a, &[&a, &b]).await;
    // A delivered its own kitchen throughout, in order.
    got_a.assert_once("eater of hub A", &["k"], N, true);
    // Across the node's loss a publish retried may land after later ones:
    // once each, not necessarily in order (see the bus's guarantees).
    Got::collect(&mut eb, N as usize, &mut got_b, &[&a, &b]).await;
    got_b.assert_once("eater of hub B", &["k"], N, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_local_delivery_goes_on_and_the_bus_catches_up() {
    const N: u64 = 3000;
    let mut nats = NatsServer::start();
    let a = bus_hub(&nats.url(), "A", "");
    let b = bus_hub(&nats.url(), "B", "");
    let (mut ea, mut eb) = (eater(&a, "ea").await, eater(&b, "eb").await);
    let k = Kitchen::start("k", &[&a]);
    k.feed(1, 1000).await;
    let mut got_a = Got::default();
    Got::collect(&mut ea, 1000, &mut got_a, &[&a, &b]).await;
    nats.kill();
    a.child
        .wait_for_line(WAIT, |l| l.contains("the bus is down"));
    // The bus is down: A's eater still gets A's kitchen, at once.
    k.feed(1001, 2000).await;
    Got::collect(&mut ea, 2000, &mut got_a, &[&a, &b]).await;
    let m = a.metrics();
    assert_eq!(common::value(&m, "nd_hub_bus_degraded", &[]), Some(1.0));
    assert_eq!(common::value(&m, "nd_hub_bus_connected", &[]), Some(0.0));
    let buffered = common::value(&m, "nd_hub_bus_buffered", &[]).unwrap();
    assert!(
        buffered >= 1000.0,
        "A buffers what the bus has not stored: {buffered}"
    );
    nats.restart();
    k.feed(2001, N).await;
    k.finish().await;
    Got::collect(&mut ea, N as usize, &mut got_a, &[&a, &b]).await;
    got_a.assert_once("eater of hub A", &["k"], N, true);
    // B gets everything once the bus is back, A's backlog included.
    let mut got_b = Got::default();
    Got::collect(&mut eb, N as usize, &mut got_b, &[&a, &b]).await;
    got_b.assert_once("eater of hub B", &["k"], N, false);
    // And A leaves degraded mode.
    let deadline = Instant::now() + WAIT;
    while common::value(&a.metrics(), "nd_hub_bus_degraded", &[]) != Some(0.0) {
        assert!(Instant::now() < deadline, "A stays degraded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_eater_gets_the_history_then_the_live_stream_no_gap_no_repeat() {
    const N: u64 = 2000;
    let nats = NatsServer::start();
    let a = bus_hub(&nats.url(), "A", "");
    let b = bus_hub(&nats.url(), "B", "");
    let k = Kitchen::start("k", &[&a]);
    k.feed(1, N / 2).await;
    // Once the stream has the first half (B's live eater sees it)...
    let mut live = eater(&b, "live").await;
    let mut got_live = Got::default();
    k.feed(N / 2 + 1, N / 2 + 10).await;
    Got::collect(&mut live, 10, &mut got_live, &[&a, &b]).await;
    // ... eaters join B asking for the last minute, and for the last
    // dumpling of each chef; the kitchen goes on meanwhile.
    let url = |q: &str| format!("{}/?{q}", b.eater_url());
    let mut since = common::eater(&b, &url("since=60"), "since", None, None).await;
    let mut last = common::eater(&b, &url("last=1"), "last", None, None).await;
    k.feed(N / 2 + 11, N).await;
    k.finish().await;
    let mut got = Got::default();
    Got::collect(&mut since, N as usize, &mut got, &[&a, &b]).await;
    got.assert_once("the eater with since=60", &["k"], N, true);
    // The last eater starts wherever the chef's last dumpling was when it
    // joined: read until the kitchen's last.
    let mut got = Got::default();
    let deadline = Instant::now() + WAIT;
    while got.0.get("k").and_then(|v| v.last()) != Some(&N) {
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            got.summary(),
            describe(&[&a, &b])
        );
        got.take(&mut last, Duration::from_millis(500)).await;
    }
    got.take(&mut last, Duration::from_millis(700)).await;
    let ns = &got.0["k"];
    assert!(
        (N / 2 + 10..N).contains(&ns[0]),
        "starts at the chef's last when it joined: {}",
        ns[0]
    );
    assert_eq!(
        ns[1..].to_vec(),
        (ns[0] + 1..=N).collect::<Vec<_>>(),
        "then every later one, once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_without_a_bus_is_refused_with_a_reason() {
    use futures_util::SinkExt;
    let hub = Hub::start("");
    let url = format!("{}/?since=60", hub.eater_url());
    let mut ws = common::endpoint(&url, None, None).connect().await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "{\"eater_name\": \"late\"}".into(),
    ))
    .await
    .unwrap();
    let (code, reason) = common::close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("needs a hub on a bus"), "{reason}");
}
