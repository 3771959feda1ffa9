//! Hostile peers at the hub: garbage and oversized frames, peers that never
//! say hello, a thousand idle connections, an eater that never reads, rapid
//! connect/disconnect. The hub runs as a subprocess; each test keeps a
//! healthy kitchen streaming to a healthy eater through the attack and
//! asserts that eater got everything, in order, and that the hub's memory
//! (peak RSS from /proc) and file descriptors stay bounded.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use nd_client::HubStream;
use nd_eater::Eater;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// The hub's peak RSS may not exceed this in any of these tests. An idle
/// hub uses ~10 MiB; what an attack may add is bounded by the limits the
/// tests configure (queues, message size), far below this.
const PEAK_RSS_BOUND: u64 = 64 << 20;

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

/// A healthy kitchen and eater pair; `step` sends the next dumplings and
/// checks they all arrived in order.
struct Healthy {
    kitchen: HubStream,
    eater: Eater,
    sent: u64,
}

impl Healthy {
    async fn connect(hub: &Hub) -> Healthy {
        let eater = eater(hub, &hub.eater_url(), "healthy-eater", None, None).await;
        let kitchen = kitchen(&endpoint(&hub.kitchen_url(), None, None), "healthy").await;
        Healthy {
            kitchen,
            eater,
            sent: 0,
        }
    }

    /// Sends `n` more dumplings and checks the eater gets exactly them.
    async fn step(&mut self, n: u64) {
        let from = self.sent;
        for i in from..from + n {
            send(&mut self.kitchen, dumpling("healthy", "HealthyChef", i)).await;
        }
        self.sent += n;
        for i in from..from + n {
            let (got, chef) = next_n(&mut self.eater).await;
            assert_eq!((got, chef.as_str()), (i, "HealthyChef"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_binary_and_oversized_frames_hurt_only_their_sender() {
    let hub = Hub::start("max_message_size = 4194304\n");
    let mut healthy = Healthy::connect(&hub).await;
    healthy.step(10).await;

    // Invalid dumplings on one connection: dropped and counted; it stays up.
    let mut junk = kitchen(&endpoint(&hub.kitchen_url(), None, None), "junk").await;
    let nested = "[".repeat(100_000) + &"]".repeat(100_000);
    let invalid: Vec<String> = vec![
        "not json".into(),
        "[]".into(),
        "{".into(),
        "{\"metadata\": 5}".into(),
        "{\"metadata\": {\"chef\": 1}".into(),
        nested,
        // No chef, and a number no float holds.
        format!(
            "{{\"metadata\": {{\"cook\": \"x\"}}, \"payload\": {}}}",
            "9".repeat(100_000) + "e999999"
        ),
        "\u{0}\u{1}\u{2}".into(),
    ];
    for text in &invalid {
        send(&mut junk, text.clone()).await;
    }
    // Binary frames that are not UTF-8.
    junk.send(Message::Binary(vec![0xff, 0xfe, 0x00, 0x80].into()))
        .await
        .unwrap();
    healthy.step(10).await;

    // Not WebSocket at all: random bytes, an HTTP request that is no upgrade.
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage"[..],
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0u8; 4096][..],
    ] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", hub.in_port))
            .await
            .unwrap();
        let _ = s.write_all(garbage).await;
        let _ = s.shutdown().await;
    }
    // A text frame that is not UTF-8, hand-made (a client library would
    // refuse to send it): the hub closes that connection.
    {
        let mut ws = kitchen(&endpoint(&hub.kitchen_url(), None, None), "bad-utf8").await;
        let frame = [0x81u8, 0x84, 0, 0, 0, 0, 0xff, 0xfe, 0xfd, 0xfc];
        let raw = match ws.get_mut() {
            tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
            _ => unreachable!("plain ws://"),
        };
        raw.write_all(&frame).await.unwrap();
        let (code, _) = close_of(&mut ws).await;
        assert_eq!(code, 1007, "invalid UTF-8 in a text frame");
    }
    // 100 MB in one message, 25x the limit: that kitchen is closed (1009);
    // the hub does not buffer it.
    {
        let mut big = kitchen(&endpoint(&hub.kitchen_url(), None, None), "big").await;
        let text = "x".repeat(100 << 20);
        let _ = tokio::time::timeout(WAIT, big.send(Message::Text(text.into()))).await;
        let (code, _) = close_of(&mut big).await;
        assert_eq!(code, 1009, "message too big");
    }
    healthy.step(10).await;

    // The junk kitchen is still connected and can still send a valid one.
    send(&mut junk, dumpling("junk", "HealthyChef", 30)).await;
    assert_eq!(next_n(&mut healthy.eater).await.0, 30);
    healthy.sent += 1;
    healthy.step(10).await;

    let m = hub.metrics();
    assert_eq!(
        value(&m, "nd_hub_dumplings_invalid_total", &[]),
        Some((invalid.len() + 1) as f64)
    );
    assert_eq!(value(&m, "nd_hub_eaters_connected", &[]), Some(1.0));
    let (_, peak) = hub.memory();
    assert!(peak < PEAK_RSS_BOUND, "hub peak RSS {:.1} MiB", mib(peak));
    eprintln!("garbage: hub peak RSS {:.1} MiB", mib(peak));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_and_missing_hellos_are_closed_on_time() {
    // The test process holds ~1,100 sockets.
    rlimit::increase_nofile_limit(8192).unwrap();
    // The hello timeout must outlast setting up 1,000 sockets on a loaded
    // machine, or some are closed before they are counted.
    let hub = Hub::start("hello_timeout = 6\nmax_connections = 1100\n");
    let mut healthy = Healthy::connect(&hub).await;
    let fds_before = hub.fds();

    let started = Instant::now();
    let mut idle = Vec::new();
    for i in 0..1000 {
        let port = if i % 2 == 0 {
            hub.in_port
        } else {
            hub.out_port
        };
        idle.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    // WebSocket handshakes done, but no hello.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(
            endpoint(&hub.kitchen_url(), None, None)
                .connect()
                .await
                .unwrap(),
        );
    }
    // The kernel completes a TCP connect before the hub accepts it: wait
    // for the hub to have taken them all.
    metrics_when(&hub, "521 connections open on the in port", |m| {
        value(m, "nd_hub_connections_open", &[("port", "in")]) == Some(521.0)
    });
    // Meanwhile the healthy pair works.
    healthy.step(100).await;

    // Every idle socket is closed by the hub after the hello timeout.
    for s in &mut idle {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(s, &mut buf).unwrap_or(0);
        assert_eq!(n, 0, "closed without a word (no handshake happened)");
    }
    for ws in &mut silent {
        let (code, reason) = close_of(ws).await;
        assert_eq!((code, reason.as_str()), (1008, "no hello received in time"));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(30),
        "closed after {took:?}"
    );
    healthy.step(100).await;

    // The hub waits (up to 3 s) for each closed peer to answer its close
    // frame; these never poll again, so let them go.
    drop(idle);
    drop(silent);
    let deadline = Instant::now() + WAIT;
    let m = loop {
        let m = hub.metrics();
        let open = |port| value(&m, "nd_hub_connections_open", &[("port", port)]);
        if open("in") == Some(1.0) && open("out") == Some(1.0) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "connections left open: {:?} {:?}",
            open("in"),
            open("out")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let refused = |port: &str, reason: &str| {
        value(
            &m,
            "nd_hub_connections_refused_total",
            &[("port", port), ("reason", reason)],
        )
    };
    assert_eq!(refused("in", "handshake"), Some(500.0));
    assert_eq!(refused("out", "handshake"), Some(500.0));
    assert_eq!(refused("in", "no_hello"), Some(20.0));
    assert!(
        hub.fds() <= fds_before + 2,
        "descriptors leaked: {} before, {} after",
        fds_before,
        hub.fds()
    );
    let (_, peak) = hub.memory();
    assert!(peak < PEAK_RSS_BOUND, "hub peak RSS {:.1} MiB", mib(peak));
    eprintln!("idle: hub peak RSS {:.1} MiB", mib(peak));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eater_that_never_reads_costs_only_its_bounded_queue() {
    let hub = Hub::start("eater_queue = 1000\neater_queue_bytes = 4194304\n");
    let stalled = stalled_eater(&hub).await;
    let mut healthy = Healthy::connect(&hub).await;
    wait_for_eaters(&hub, 2.0);

    // 20,000 dumplings of ~2 KiB (40 MB) go by, in rounds of 500 that the
    // healthy eater reads before the next: it never lags by more than its
    // own queue holds; the stalled one lags by everything.
    let pad = "p".repeat(2048);
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "bulk").await;
    for round in 0..40u64 {
        for i in round * 500..(round + 1) * 500 {
            let text = nd_protocol::encode_dumpling(
                "BulkChef",
                Some("bulk"),
                1.5,
                nd_protocol::Driver::Packet,
                &format!("{{\"n\":{i},\"pad\":\"{pad}\"}}"),
            );
            send(&mut k, text).await;
        }
        for i in round * 500..(round + 1) * 500 {
            assert_eq!(
                next_n(&mut healthy.eater).await,
                (i, "BulkChef".to_string())
            );
        }
    }
    healthy.step(10).await;

    let m = hub.metrics();
    let stalled_dropped = value(
        &m,
        "nd_hub_eater_dumplings_dropped_total",
        &[("eater", "stalled")],
    )
    .unwrap();
    let depth = value(&m, "nd_hub_eater_queue_depth", &[("eater", "stalled")]).unwrap();
    let bytes = value(&m, "nd_hub_eater_queue_bytes", &[("eater", "stalled")]).unwrap();
    assert!(stalled_dropped > 10_000.0, "dropped {stalled_dropped}");
    assert!(depth <= 1000.0 && bytes <= 4194304.0, "{depth} {bytes}");
    assert_eq!(
        value(
            &m,
            "nd_hub_eater_dumplings_dropped_total",
            &[("eater", "healthy-eater")]
        ),
        Some(0.0)
    );
    let (_, peak) = hub.memory();
    assert!(peak < PEAK_RSS_BOUND, "hub peak RSS {:.1} MiB", mib(peak));
    eprintln!("stalled eater: hub peak RSS {:.1} MiB", mib(peak));
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_connect_and_disconnect_leaks_nothing() {
    let hub = Hub::start("hello_timeout = 3\n");
    let mut healthy = Healthy::connect(&hub).await;
    let fds_before = hub.fds();
    for round in 0..10 {
        for i in 0..50 {
            match i % 4 {
                // TCP only, dropped before any handshake.
                0 => drop(std::net::TcpStream::connect(("127.0.0.1", hub.in_port)).unwrap()),
                // A kitchen that says hello and vanishes without a close frame.
                1 => drop(kitchen(&endpoint(&hub.kitchen_url(), None, None), "blip").await),
                // An eater that says hello and closes properly.
                2 => {
                    let e = eater(&hub, &hub.eater_url(), "blip", None, None).await;
                    e.close(nd_protocol::CloseCode::ConnectionCancelled).await;
                }
                // Half a handshake.
                _ => {
                    let mut s = std::net::TcpStream::connect(("127.0.0.1", hub.out_port)).unwrap();
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n");
                }
            }
        }
        healthy.step(20).await;
        let _ = round;
    }
    // The last round's peers are gone once the hub has seen them close.
    metrics_when(&hub, "only the healthy pair connected", |m| {
        value(m, "nd_hub_kitchens_connected", &[]) == Some(1.0)
            && value(m, "nd_hub_eaters_connected", &[]) == Some(1.0)
    });
    // Half handshakes wait for their hello timeout; everything else is gone.
    let deadline = Instant::now() + Duration::from_secs(15);
    while hub.fds() > fds_before + 2 {
        assert!(
            Instant::now() < deadline,
            "descriptors leaked: {} before, {} after",
            fds_before,
            hub.fds()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, peak) = hub.memory();
    assert!(peak < PEAK_RSS_BOUND, "hub peak RSS {:.1} MiB", mib(peak));
    eprintln!(
        "rapid connect/disconnect: hub peak RSS {:.1} MiB",
        mib(peak)
    );
}
