//! The kitchen's relay against a real hub on loopback: what it keeps while
//! the hub is away (exactly `--buffer` dumplings, the oldest dropped and
//! counted), and what an eater receives once the hub is there; and the
//! kitchen's own `/metrics` while it relays, parsed by `prometheus_client`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nd_eater::{Eater, EaterConfig};
use nd_protocol::{Driver, KitchenHello};
use nd_runtime::relay::{self, Outgoing, RelayConfig};
use tokio::sync::{mpsc, oneshot, watch};

/// Longest any step may take.
const WAIT: Duration = Duration::from_secs(20);

fn outgoing(n: u64) -> Outgoing {
    Outgoing {
        chef: "TestChef".into(),
        driver: Driver::Packet,
        payload: format!("{{\"n\":{n}}}"),
        created: 1.5,
    }
}

/// The hello of the test kitchen "k".
fn hello(instance: Option<String>) -> KitchenHello {
    KitchenHello {
        kitchen_name: "k".into(),
        interface: "test".into(),
        filter: String::new(),
        chefs: vec!["TestChef".into()],
        poke_interval: 5.0,
        instance,
    }
}

/// A hub serving on 127.0.0.1 (free ports) until dropped.
struct TestHub {
    handle: nd_hub::HubHandle,
    in_addr: SocketAddr,
    out: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestHub {
    async fn start() -> TestHub {
        let config = nd_hub::Config {
            address: "127.0.0.1".into(),
            in_port: 0,
            out_port: 0,
            status_freq: Duration::from_secs(3600),
            ..Default::default()
        };
        let hub = nd_hub::bind(config).await.expect("bind");
        let (stop, stopped) = oneshot::channel();
        let handle = hub.handle();
        let (in_addr, out) = (hub.in_addrs()[0], hub.out_addrs()[0]);
        tokio::spawn(hub.run(async move {
            let _ = stopped.await;
        }));
        TestHub {
            handle,
            in_addr,
            out,
            _stop: stop,
        }
    }

    /// An eater, once the hub has registered it (its /metrics gauge).
    async fn eater(&self) -> Eater {
        let e = Eater::connect(EaterConfig::new(self.out.to_string(), "e"))
            .await
            .expect("eater connects");
        let deadline = Instant::now() + WAIT;
        while !self.handle.metrics().contains("nd_hub_eaters_connected 1") {
            assert!(Instant::now() < deadline, "the eater never registered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        e
    }
}

/// Makes `port` reach `to` from now on: the hub "comes back" at the
/// address the relay keeps trying, at a moment the test chooses (once its
/// eater is registered), however the relay's backoff is timed.
async fn forward(port: u16, to: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the relay's port is free");
    tokio::spawn(async move {
        while let Ok((mut downstream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_while_the_hub_is_away_keeps_exactly_the_newest() {
    const SENT: u64 = 500;
    const BUFFER: usize = 50;
    let port = nd_testkit::free_port();
    let (tx, rx) = mpsc::channel(SENT as usize);
    let (_cancel, cancel) = watch::channel(false);
    let config = RelayConfig {
        endpoints: vec![nd_client::HubEndpoint::new(&format!("127.0.0.1:{port}"))],
        kitchen: "k".into(),
        hello: hello(None),
        buffer: BUFFER,
        // As a live kitchen: never wait for room, drop the oldest instead.
        wait: false,
    };
    let relay = tokio::spawn(relay::run(config, rx, cancel, Default::default()));
    for n in 1..=SENT {
        tx.try_send(outgoing(n)).expect("room in the channel");
    }
    // The relay has taken every one of them (into its outbox) once the
    // channel is empty again; no hub has been there yet.
    let deadline = Instant::now() + WAIT;
    while tx.capacity() < tx.max_capacity() {
        assert!(Instant::now() < deadline, "the relay never took its input");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tx);

    let hub = TestHub::start().await;
    let mut eater = hub.eater().await;
    forward(port, hub.in_addr).await;
    let stats = tokio::time::timeout(WAIT * 2, relay)
        .await
        .expect("the relay ends once everything is acknowledged")
        .unwrap();
    assert_eq!(stats.dropped, SENT - BUFFER as u64, "{stats:?}");
    assert_eq!(stats.sent, BUFFER as u64, "{stats:?}");
    assert_eq!(stats.acknowledged, BUFFER as u64, "{stats:?}");
    assert_eq!(stats.resent, 0, "{stats:?}");
    let mut got = Vec::new();
    while got.len() < BUFFER {
        let d = tokio::time::timeout(WAIT, eater.next())
            .await
            .expect("a dumpling in time")
            .expect("stream open")
            .expect("valid");
        if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF {
            continue;
        }
        got.push(d.payload_value()["n"].as_u64().unwrap());
    }
    let newest: Vec<u64> = (SENT - BUFFER as u64 + 1..=SENT).collect();
    assert_eq!(got, newest, "exactly the newest {BUFFER}, in order");
}

/// `nd-sniff --metrics` while a replay runs into a hub: the page parses as
/// Prometheus text, every standard chef has its counters and a call
/// histogram, the relay says it is connected and counts what the hub got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kitchens_metrics_parse_and_count_its_chefs_and_relay() {
    use nd_testkit::prometheus::{parse_prometheus, value};
    let hub = TestHub::start().await;
    let port = nd_testkit::free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nd-sniff"));
    cmd.args([
        "-n",
        "metered",
        "-p",
        "3600",
        "--no-watch",
        "--repeat",
        "1000000",
    ])
    .arg("-h")
    .arg(hub.in_addr.to_string())
    .arg("--read")
    .arg(nd_testkit::pcaps_dir().join("wikipedia.pcap"))
    .arg("--chef-dir")
    .arg(nd_testkit::target_dir().join("chefs"))
    .arg("--cache-dir")
    .arg(nd_testkit::target_dir().join("chef-cache"))
    .arg("--metrics")
    .arg(format!("127.0.0.1:{port}"));
    let kitchen = nd_testkit::Child::spawn("nd-sniff", cmd);
    kitchen.wait_for_line(WAIT, |l| l.contains("connected to nd-hub"));
    // Wait for a few repeats' worth of acknowledgements.
    let deadline = Instant::now() + WAIT;
    let samples = loop {
        let (status, body) = nd_testkit::http_get(port, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let samples = parse_prometheus(&body);
        let acked = value(&samples, "nd_sniff_relay_acknowledged_total", &[]).unwrap_or(0.0);
        if acked >= 500.0 {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged only {acked}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let k = [("kitchen", "metered")];
    assert!(value(&samples, "nd_sniff_packets_total", &k).unwrap() >= 136.0);
    assert_eq!(value(&samples, "nd_sniff_relay_connected", &k), Some(1.0));
    assert_eq!(
        value(&samples, "nd_sniff_relay_dropped_total", &k),
        Some(0.0)
    );
    for chef in ["PacketCountChef", "ARPChef", "DNSLookupChef"] {
        let c = [("kitchen", "metered"), ("chef", chef)];
        let packets = value(&samples, "nd_sniff_chef_packets_total", &c).unwrap();
        assert!(packets >= 136.0, "{chef}: {packets}");
        assert_eq!(
            value(&samples, "nd_sniff_chef_running", &c),
            Some(1.0),
            "{chef}"
        );
        assert_eq!(
            value(&samples, "nd_sniff_chef_faults_total", &c),
            Some(0.0),
            "{chef}"
        );
        let calls = value(&samples, "nd_sniff_chef_call_seconds_count", &c).unwrap();
        let inf = [c[0], c[1], ("le", "+Inf")];
        assert_eq!(
            value(&samples, "nd_sniff_chef_call_seconds_bucket", &inf),
            Some(calls)
        );
        assert!(calls >= 1.0, "{chef}");
    }
    // The hub's own count agrees that dumplings arrived.
    let hub_in = hub.handle.metrics();
    assert!(hub_in.contains("kitchen=\"metered\""), "{hub_in}");
    let (status, body) = nd_testkit::http_get(port, "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(
        body.contains("chefs: 3 of 3 running") && body.contains("hub: connected"),
        "{body}"
    );
    drop(kitchen);
}

/// `nd-sniff -h hubA,hubB`: hub A goes away mid-stream, the relay fails
/// over to B and re-sends what A had not acknowledged. Between them the
/// two hubs' eaters get every dumpling, each with the sequence number it
/// got when it entered the outbox (the same at both hubs: what a bus
/// deduplicates on); each eater's are in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kitchen_fails_over_to_the_next_hub_and_loses_nothing() {
    const SENT: u64 = 3000;
    let a = TestHub::start().await;
    let b = TestHub::start().await;
    let (mut eater_a, mut eater_b) = (a.eater().await, b.eater().await);
    let (tx, rx) = mpsc::channel(64);
    let (_cancel, cancel) = watch::channel(false);
    let endpoint = |addr: SocketAddr| nd_client::HubEndpoint::new(&addr.to_string());
    let config = RelayConfig {
        endpoints: vec![endpoint(a.in_addr), endpoint(b.in_addr)],
        kitchen: "k".into(),
        hello: hello(Some(relay::new_instance())),
        buffer: 100_000,
        // As a replay: wait for room, never drop.
        wait: true,
    };
    let relay = tokio::spawn(relay::run(config, rx, cancel, Default::default()));
    let feeder = tokio::spawn(async move {
        for n in 1..=SENT {
            tx.send(outgoing(n)).await.expect("the relay takes it");
            if n % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    // (payload n, metadata.seq) as each eater gets them.
    async fn take(eater: &mut Eater, got: &mut Vec<(u64, Option<u64>)>) -> bool {
        match tokio::time::timeout(Duration::from_millis(200), eater.next()).await {
            Ok(Some(Ok(d))) => {
                if d.metadata.chef != nd_protocol::SYSTEM_STATUS_CHEF {
                    got.push((d.payload_value()["n"].as_u64().unwrap(), d.metadata.seq));
                }
                true
            }
            Ok(_) => false,
            Err(_) => true,
        }
    }
    let mut from_a = Vec::new();
    let deadline = Instant::now() + WAIT;
    while from_a.len() < 1000 {
        assert!(Instant::now() < deadline, "hub A got only {}", from_a.len());
        take(&mut eater_a, &mut from_a).await;
    }
    // Hub A shuts down: its kitchen is closed (1001), its eater drained.
    drop(a);
    while take(&mut eater_a, &mut from_a).await {
        if Instant::now() > deadline + WAIT {
            break;
        }
    }
    let stats = tokio::time::timeout(WAIT * 2, relay)
        .await
        .expect("the relay ends once B acknowledged everything")
        .unwrap();
    feeder.await.unwrap();
    let mut from_b = Vec::new();
    while from_b.last().map(|(n, _)| *n) != Some(SENT) {
        assert!(
            Instant::now() < deadline + WAIT * 3,
            "hub B got {}",
            from_b.len()
        );
        take(&mut eater_b, &mut from_b).await;
    }
    for (n, seq) in from_a.iter().chain(&from_b) {
        assert_eq!(Some(*n), *seq, "seq is the outbox's number, at either hub");
    }
    let in_order = |got: &[(u64, Option<u64>)]| got.windows(2).all(|w| w[0].0 < w[1].0);
    assert!(
        in_order(&from_a) && in_order(&from_b),
        "each hub's in order"
    );
    let mut all: Vec<u64> = from_a.iter().chain(&from_b).map(|(n, _)| *n).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (1..=SENT).collect::<Vec<_>>(), "nothing lost");
    assert!(from_a.len() < SENT as usize, "A went away mid-stream");
    assert_eq!(stats.reconnects, 1, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    // Re-sent after the failover: what A had not acknowledged, and no more
    // than was written to A.
    let overlap = from_a.len() + from_b.len() - SENT as usize;
    assert!(overlap as u64 <= stats.resent, "{overlap} twice, {stats:?}");
}
