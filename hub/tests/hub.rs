//! Integration tests: a real hub on loopback, real WebSocket kitchens and eaters.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nd_eater::{Eater, EaterConfig};
use nd_protocol::{encode_dumpling, Driver};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

struct TestHub {
    handle: nd_hub::HubHandle,
    /// The configuration it was started with (for reloads).
    config: nd_hub::Config,
    in_addr: SocketAddr,
    out_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestHub {
    async fn start(tweak: impl FnOnce(&mut nd_hub::Config)) -> TestHub {
        let mut config = nd_hub::Config {
            address: "127.0.0.1".into(),
            in_port: 0,
            out_port: 0,
            status_freq: Duration::from_secs(3600),
            ..Default::default()
        };
        tweak(&mut config);
        let hub = nd_hub::bind(config.clone()).await.expect("bind");
        let in_addr = hub.in_addrs()[0];
        let out_addr = hub.out_addrs()[0];
        let handle = hub.handle();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(hub.run(async move {
            let _ = rx.await;
        }));
        TestHub {
            handle,
            config,
            in_addr,
            out_addr,
            stop: Some(tx),
            task,
        }
    }

    fn eater_config(&self, name: &str) -> EaterConfig {
        EaterConfig::new(self.out_addr.to_string(), name)
    }

    async fn eater(&self, name: &str) -> Eater {
        let e = Eater::connect(self.eater_config(name))
            .await
            .expect("eater connects");
        // The hub registers an eater once its hello is read; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        e
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("hub stops in time")
            .unwrap()
            .unwrap();
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn kitchen(addr: SocketAddr, name: &str) -> Client {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    let hello = serde_json::json!({
        "kitchen_name": name, "interface": "lo", "filter": "tcp or udp or arp",
        "chefs": ["test.Chef"], "poke_interval": 5.0,
    });
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    ws
}

fn dumpling(kitchen: &str, chef: &str, payload: &serde_json::Value) -> String {
    encode_dumpling(
        chef,
        Some(kitchen),
        1.0,
        Driver::Packet,
        &payload.to_string(),
    )
}

async fn recv(e: &mut Eater) -> nd_protocol::Dumpling {
    tokio::time::timeout(Duration::from_secs(10), e.next())
        .await
        .expect("dumpling in time")
        .expect("stream open")
        .expect("valid dumpling")
}

#[tokio::test]
async fn fans_out_every_dumpling_in_order_to_every_eater() {
    let hub = TestHub::start(|_| {}).await;
    let mut eaters = Vec::new();
    for i in 0..3 {
        let e = Eater::connect(hub.eater_config(&format!("eater{i}")).chef("SeqChef"))
            .await
            .unwrap();
        eaters.push(e);
    }
    let mut k = kitchen(hub.in_addr, "k1").await;
    const N: u64 = 2000;
    for i in 0..N {
        k.send(Message::Text(
            dumpling("k1", "SeqChef", &serde_json::json!({ "seq": i })).into(),
        ))
        .await
        .unwrap();
    }
    for e in &mut eaters {
        for i in 0..N {
            let d = recv(e).await;
            assert_eq!(d.metadata.chef, "SeqChef");
            assert_eq!(d.metadata.kitchen.as_deref(), Some("k1"));
            assert_eq!(
                d.payload.get(),
                format!("{{\"seq\":{i}}}"),
                "payload bytes unchanged, in order"
            );
        }
    }
    hub.stop().await;
}

#[tokio::test]
async fn orders_per_kitchen_with_two_kitchens_interleaved() {
    let hub = TestHub::start(|_| {}).await;
    let mut e = Eater::connect(hub.eater_config("e").chef("C"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ka = kitchen(hub.in_addr, "ka").await;
    let mut kb = kitchen(hub.in_addr, "kb").await;
    const N: u64 = 500;
    let a = async {
        for i in 0..N {
            ka.send(Message::Text(
                dumpling("ka", "C", &serde_json::json!(i)).into(),
            ))
            .await
            .unwrap();
        }
    };
    let b = async {
        for i in 0..N {
            kb.send(Message::Text(
                dumpling("kb", "C", &serde_json::json!(i)).into(),
            ))
            .await
            .unwrap();
        }
    };
    tokio::join!(a, b);
    let (mut next_a, mut next_b) = (0u64, 0u64);
    for _ in 0..2 * N {
        let d = recv(&mut e).await;
        let v: u64 = d.payload.get().parse().unwrap();
        match d.metadata.kitchen.as_deref() {
            Some("ka") => {
                assert_eq!(v, next_a);
                next_a += 1;
            }
            Some("kb") => {
                assert_eq!(v, next_b);
                next_b += 1;
            }
            other => panic!("unexpected kitchen {other:?}"),
        }
    }
    assert_eq!((next_a, next_b), (N, N));
    hub.stop().await;
}

#[tokio::test]
async fn invalid_dumplings_are_dropped_and_the_kitchen_stays_connected() {
    let hub = TestHub::start(|_| {}).await;
    let mut e = Eater::connect(hub.eater_config("e").chef("GoodChef"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut k = kitchen(hub.in_addr, "k1").await;
    for bad in [
        "not json",
        "[1,2,3]",
        "{\"metadata\": {}}",
        "{\"metadata\": {\"chef\": \"c\"}, \"payload\": [1,",
    ] {
        k.send(Message::Text(bad.into())).await.unwrap();
    }
    k.send(Message::Binary(vec![0xff, 0xfe, 0x00].into()))
        .await
        .unwrap();
    k.send(Message::Text(
        dumpling("k1", "GoodChef", &serde_json::json!({"ok": true})).into(),
    ))
    .await
    .unwrap();
    let d = recv(&mut e).await;
    assert_eq!(d.metadata.chef, "GoodChef");
    assert_eq!(d.payload.get(), r#"{"ok":true}"#);
    hub.stop().await;
}

#[tokio::test]
async fn a_stalled_eater_does_not_slow_a_fast_one_and_its_drops_are_counted() {
    let hub = TestHub::start(|c| {
        c.eater_queue = 64;
        c.status_freq = Duration::from_millis(200);
    })
    .await;
    // The stalled eater says hello and then never reads again.
    let (mut stalled, _) = tokio_tungstenite::connect_async(format!("ws://{}", hub.out_addr))
        .await
        .unwrap();
    stalled
        .send(Message::Text(r#"{"eater_name": "stalled"}"#.into()))
        .await
        .unwrap();
    let mut fast = hub.eater("fast").await;
    let mut k = kitchen(hub.in_addr, "k1").await;
    // 40 MB in total: far more than the socket buffers can hide. The kitchen
    // keeps at most WINDOW dumplings ahead of the fast eater, so the fast
    // eater's own queue (64) never overflows however slow this machine is;
    // the stalled eater's must.
    const N: u64 = 4000;
    const WINDOW: u64 = 32;
    let filler = "x".repeat(10_000);
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(0u64);
    let send = async {
        let mut progress_rx = progress_rx;
        for i in 0..N {
            let _ = progress_rx.wait_for(|got| i < got + WINDOW).await;
            let p = serde_json::json!({ "seq": i, "filler": filler });
            k.send(Message::Text(dumpling("k1", "BigChef", &p).into()))
                .await
                .unwrap();
        }
    };
    let receive = async {
        let mut next = 0;
        let mut last_status = None;
        while next < N {
            let d = recv(&mut fast).await;
            if d.metadata.chef == "SystemStatusChef" {
                last_status = Some(d.payload_value());
                continue;
            }
            let v = d.payload_value();
            assert_eq!(v["seq"], next, "fast eater gets everything, in order");
            next += 1;
            let _ = progress_tx.send(next);
        }
        last_status
    };
    let ((), _) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(send, receive)
    })
    .await
    .expect("the fast eater is not held up by the stalled one");
    // Wait for a status dumpling that reports the stalled eater's drops.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = recv(&mut fast).await;
        if d.metadata.chef != "SystemStatusChef" {
            continue;
        }
        let s = d.payload_value();
        let stalled_entry = s["dumpling_eaters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["info_from_eater"]["eater_name"] == "stalled")
            .expect("stalled eater listed")
            .clone();
        let dropped = stalled_entry["info_from_hub"]["dumplings_dropped"]
            .as_u64()
            .unwrap();
        let depth = stalled_entry["info_from_hub"]["queue_depth"]
            .as_u64()
            .unwrap();
        assert!(depth <= 64, "queue bounded, depth {depth}");
        if dropped > 0 {
            assert!(s["total_dumplings_dropped"].as_u64().unwrap() >= dropped);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no drops reported: {s}"
        );
    }
    drop(stalled);
    hub.stop().await;
}

#[tokio::test]
async fn disconnect_policy_closes_a_stalled_eater_with_1008() {
    let hub = TestHub::start(|c| {
        c.eater_queue = 16;
        c.slow_eater = nd_hub::SlowEaterPolicy::Disconnect;
    })
    .await;
    let (mut stalled, _) = tokio_tungstenite::connect_async(format!("ws://{}", hub.out_addr))
        .await
        .unwrap();
    stalled
        .send(Message::Text(r#"{"eater_name": "stalled"}"#.into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut k = kitchen(hub.in_addr, "k1").await;
    let filler = "y".repeat(50_000);
    for i in 0..400 {
        let p = serde_json::json!({ "seq": i, "filler": filler });
        k.send(Message::Text(dumpling("k1", "BigChef", &p).into()))
            .await
            .unwrap();
    }
    // Now read: data first, then a close frame with 1008.
    let close = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stalled.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time")
    .expect("close frame has a code");
    assert_eq!(u16::from(close.code), 1008);
    assert!(
        close.reason.as_str().contains("too slow"),
        "{}",
        close.reason
    );
    hub.stop().await;
}

#[tokio::test]
async fn status_dumplings_have_netdumplings_keys() {
    let hub = TestHub::start(|c| c.status_freq = Duration::from_millis(200)).await;
    let _k = kitchen(hub.in_addr, "statuskitchen").await;
    let mut e = Eater::connect(hub.eater_config("statuseater").chef("SystemStatusChef"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    loop {
        let d = recv(&mut e).await;
        assert_eq!(d.metadata.chef, "SystemStatusChef");
        assert_eq!(d.metadata.kitchen, None);
        assert_eq!(d.metadata.driver, Driver::Interval);
        let s = d.payload_value();
        for key in [
            "total_dumplings_in",
            "total_dumplings_out",
            "server_uptime",
            "dumpling_kitchen_count",
            "dumpling_eater_count",
            "dumpling_kitchens",
            "dumpling_eaters",
        ] {
            assert!(s.get(key).is_some(), "missing {key} in {s}");
        }
        if s["dumpling_eater_count"] != 1 || s["dumpling_kitchen_count"] != 1 {
            continue; // an early status, before both registered
        }
        let k = &s["dumpling_kitchens"][0];
        assert_eq!(k["info_from_kitchen"]["kitchen_name"], "statuskitchen");
        assert_eq!(k["info_from_kitchen"]["chefs"][0], "test.Chef");
        assert_eq!(k["info_from_hub"]["host"], "127.0.0.1");
        assert!(k["info_from_hub"]["port"].as_u64().unwrap() > 0);
        let eat = &s["dumpling_eaters"][0];
        assert_eq!(eat["info_from_eater"]["eater_name"], "statuseater");
        assert!(s["server_uptime"].as_f64().unwrap() > 0.0);
        break;
    }
    hub.stop().await;
}

#[tokio::test]
async fn shutdown_sends_close_frames_to_kitchens_and_eaters() {
    let hub = TestHub::start(|_| {}).await;
    let (mut e, _) = tokio_tungstenite::connect_async(format!("ws://{}", hub.out_addr))
        .await
        .unwrap();
    e.send(Message::Text(r#"{"eater_name": "e"}"#.into()))
        .await
        .unwrap();
    let mut k = kitchen(hub.in_addr, "k").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let expect_close = |mut ws: Client| async move {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected close, got {other:?}"),
            }
        }
    };
    let stopping = tokio::spawn(hub.stop());
    k.flush().await.ok();
    let (ce, ck) = tokio::join!(expect_close(e), expect_close(k));
    assert_eq!(ce, 1001);
    assert_eq!(ck, 1001);
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_peer_without_hello_is_closed_after_the_timeout() {
    let hub = TestHub::start(|c| c.hello_timeout = Duration::from_millis(300)).await;
    let (mut silent, _) = tokio_tungstenite::connect_async(format!("ws://{}", hub.in_addr))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match silent.next().await {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected close, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed by the hub");
    assert_eq!(code, 1008);
    assert!(started.elapsed() >= Duration::from_millis(250));
    hub.stop().await;
}

#[tokio::test]
async fn an_invalid_hello_is_refused_with_a_reason() {
    let hub = TestHub::start(|_| {}).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}", hub.out_addr))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"name": "no eater_name"}"#.into()))
        .await
        .unwrap();
    let frame = loop {
        match ws.next().await {
            Some(Ok(Message::Close(Some(f)))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("expected close, got {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1008);
    assert!(
        frame.reason.as_str().contains("eater_name"),
        "{}",
        frame.reason
    );
    hub.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_only_that_kitchen() {
    let hub = TestHub::start(|c| c.max_message_size = 64 * 1024).await;
    let mut e = Eater::connect(hub.eater_config("e").chef("C"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut big = kitchen(hub.in_addr, "big").await;
    let payload = serde_json::json!({ "filler": "z".repeat(200_000) });
    let _ = big
        .send(Message::Text(dumpling("big", "C", &payload).into()))
        .await;
    let mut ok = kitchen(hub.in_addr, "ok").await;
    ok.send(Message::Text(
        dumpling("ok", "C", &serde_json::json!(1)).into(),
    ))
    .await
    .unwrap();
    let d = recv(&mut e).await;
    assert_eq!(d.metadata.kitchen.as_deref(), Some("ok"));
    hub.stop().await;
}

/// Waits until `hub` counts `n` connected eaters (its /metrics gauge).
async fn wait_for_eaters(hub: &TestHub, n: usize) {
    let line = format!("nd_hub_eaters_connected {n}\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !hub.handle.metrics().contains(&line) {
        assert!(std::time::Instant::now() < deadline, "never {n} eaters");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `nd-eater` library's reconnect: an eater whose hub is restarted (a
/// new hub on the same port, as systemd would start) carries on, and gets
/// what the new hub's kitchens send.
#[tokio::test]
async fn an_eater_reconnects_to_a_restarted_hub_and_carries_on() {
    let port = nd_testkit::free_port();
    let first = TestHub::start(|c| c.out_port = port).await;
    let mut eater = Eater::connect(first.eater_config("e").chef("C").reconnect(true))
        .await
        .unwrap();
    // Driven on its own task: `next` is where the eater reconnects.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(d) = eater.next().await {
            let n = d.ok().and_then(|d| d.payload_value()["n"].as_u64());
            if tx.send(n).is_err() {
                break;
            }
        }
    });
    // Once `hub` has the eater, a kitchen there sends `n`; the eater gets it.
    let round_trip = |hub: &TestHub, n: u64| {
        let in_addr = hub.in_addr;
        async move {
            let mut k = kitchen(in_addr, "k").await;
            let d = dumpling("k", "C", &serde_json::json!({ "n": n }));
            k.send(Message::Text(d.into())).await.unwrap();
        }
    };
    wait_for_eaters(&first, 1).await;
    round_trip(&first, 1).await;
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    assert_eq!(got.expect("dumpling 1 in time"), Some(Some(1)));

    first.stop().await;
    let second = TestHub::start(|c| c.out_port = port).await;
    wait_for_eaters(&second, 1).await;
    round_trip(&second, 2).await;
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    assert_eq!(
        got.expect("dumpling 2 in time"),
        Some(Some(2)),
        "the same eater, on the new hub"
    );
    second.stop().await;
}

/// A raw eater (no local filtering, unlike `nd-eater`): connects to `url`,
/// says `hello`.
async fn raw_eater(url: String, hello: serde_json::Value) -> Client {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    ws
}

/// What a raw eater receives until `ends` dumplings whose payload has
/// `"end": true` (one per (kitchen, chef) stream it follows: kitchens are
/// ordered each on its own, not among themselves): (chef, kitchen, n) of
/// each kitchen dumpling, status dumplings counted apart.
async fn until_end(ws: &mut Client, mut ends: usize) -> (Vec<(String, String, u64)>, usize) {
    let mut got = Vec::new();
    let mut status = 0;
    let deadline = Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("no error");
        let Message::Text(t) = msg else { continue };
        let d: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        let chef = d["metadata"]["chef"].as_str().unwrap().to_string();
        if chef == nd_protocol::SYSTEM_STATUS_CHEF {
            status += 1;
            continue;
        }
        if d["payload"]["end"] == true {
            ends -= 1;
            if ends == 0 {
                return (got, status);
            }
            continue;
        }
        let kitchen = d["metadata"]["kitchen"].as_str().unwrap().to_string();
        got.push((chef, kitchen, d["payload"]["n"].as_u64().unwrap()));
    }
}

/// Two kitchens, three chefs, interleaved; then an end marker from every
/// (kitchen, chef), so every subscriber sees its own end.
async fn send_interleaved(hub: &TestHub, n: u64) {
    let mut k1 = kitchen(hub.in_addr, "k1").await;
    let mut k2 = kitchen(hub.in_addr, "k2").await;
    for i in 0..n {
        for (k, name) in [(&mut k1, "k1"), (&mut k2, "k2")] {
            for chef in ["C1", "C2", "C3"] {
                let d = dumpling(name, chef, &serde_json::json!({ "n": i }));
                k.send(Message::Text(d.into())).await.unwrap();
            }
        }
    }
    for (k, name) in [(&mut k1, "k1"), (&mut k2, "k2")] {
        for chef in ["C1", "C2", "C3"] {
            let d = dumpling(name, chef, &serde_json::json!({ "end": true }));
            k.send(Message::Text(d.into())).await.unwrap();
        }
    }
}

#[tokio::test]
async fn eaters_subscribed_by_hello_and_by_url_get_exactly_what_they_asked_for_in_order() {
    let hub = TestHub::start(|_| {}).await;
    let url = format!("ws://{}", hub.out_addr);
    let mut by_hello = raw_eater(
        url.clone(),
        serde_json::json!({"eater_name": "h", "chefs": ["C1"]}),
    )
    .await;
    let mut by_query = raw_eater(
        format!("{url}/?chef=C2&kitchen=k1&status=0"),
        serde_json::json!({"eater_name": "q"}),
    )
    .await;
    let mut everything = raw_eater(url, serde_json::json!({"eater_name": "all"})).await;
    wait_for_eaters(&hub, 3).await;
    const N: u64 = 200;
    send_interleaved(&hub, N).await;

    let (got, _) = until_end(&mut by_hello, 2).await;
    let c1_of = |k: &str| {
        got.iter()
            .filter(|g| g.1 == k)
            .map(|g| g.2)
            .collect::<Vec<_>>()
    };
    assert!(got.iter().all(|g| g.0 == "C1"), "only C1: {got:?}");
    assert_eq!(c1_of("k1"), (0..N).collect::<Vec<_>>(), "k1's C1, in order");
    assert_eq!(c1_of("k2"), (0..N).collect::<Vec<_>>(), "k2's C1, in order");

    let (got, status) = until_end(&mut by_query, 1).await;
    let want: Vec<_> = (0..N)
        .map(|i| ("C2".to_string(), "k1".to_string(), i))
        .collect();
    assert_eq!(got, want, "only k1's C2, in order");
    assert_eq!(status, 0, "status=0 leaves status dumplings out");

    let (got, _) = until_end(&mut everything, 6).await;
    assert_eq!(got.len() as u64, 6 * N, "everything");
    hub.stop().await;
}

#[tokio::test]
async fn a_subscription_replaced_mid_stream_takes_effect_at_once() {
    let hub = TestHub::start(|_| {}).await;
    let mut e = raw_eater(
        format!("ws://{}", hub.out_addr),
        serde_json::json!({"eater_name": "switcher", "chefs": ["C1"], "status": false}),
    )
    .await;
    wait_for_eaters(&hub, 1).await;
    let mut k = kitchen(hub.in_addr, "k1").await;
    for chef in ["C1", "C2", "C1"] {
        let d = dumpling("k1", chef, &serde_json::json!({ "n": 1 }));
        k.send(Message::Text(d.into())).await.unwrap();
    }
    k.send(Message::Text(
        dumpling("k1", "C1", &serde_json::json!({"end": true})).into(),
    ))
    .await
    .unwrap();
    let (got, _) = until_end(&mut e, 1).await;
    assert_eq!(got.len(), 2, "C1 only: {got:?}");

    e.send(Message::Text(
        r#"{"subscribe": {"chefs": ["C2"], "status": false}}"#.into(),
    ))
    .await
    .unwrap();
    // Applied once /metrics shows it (the hub reads the message on its own).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !hub.handle.metrics().contains("chefs=\"C2\"") {
        assert!(
            std::time::Instant::now() < deadline,
            "subscription never replaced"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for chef in ["C1", "C2", "C1", "C2"] {
        let d = dumpling("k1", chef, &serde_json::json!({ "n": 2 }));
        k.send(Message::Text(d.into())).await.unwrap();
    }
    k.send(Message::Text(
        dumpling("k1", "C2", &serde_json::json!({"end": true})).into(),
    ))
    .await
    .unwrap();
    let (got, _) = until_end(&mut e, 1).await;
    assert_eq!(
        got,
        [("C2".into(), "k1".into(), 2), ("C2".into(), "k1".into(), 2)]
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_malformed_subscription_is_refused_with_1008_and_its_reason() {
    let hub = TestHub::start(|_| {}).await;
    let url = format!("ws://{}", hub.out_addr);
    let close_of = |mut ws: Client| async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string())
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    let bad_hello = raw_eater(
        url.clone(),
        serde_json::json!({"eater_name": "e", "chefs": "C1"}),
    )
    .await;
    assert_eq!(
        close_of(bad_hello).await,
        (
            1008,
            "invalid subscription: \"chefs\" must be a list of strings".into()
        )
    );
    let bad_query = raw_eater(
        format!("{url}/?status=perhaps"),
        serde_json::json!({"eater_name": "e"}),
    )
    .await;
    assert_eq!(close_of(bad_query).await.0, 1008);
    let mut later = raw_eater(url, serde_json::json!({"eater_name": "e"})).await;
    wait_for_eaters(&hub, 1).await;
    later
        .send(Message::Text(r#"{"subscribe": {"kitchens": [7]}}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        close_of(later).await,
        (
            1008,
            "invalid subscription: \"kitchens\" must be a list of strings".into()
        )
    );
    hub.stop().await;
}

/// A stalled eater subscribed to one rare chef while another chef floods:
/// its queue holds the rare ones only (nothing dropped for it), and its
/// subscription shows in the status dumpling beside its hello.
#[tokio::test]
async fn a_narrow_subscription_keeps_other_chefs_out_of_the_queue() {
    let hub = TestHub::start(|c| c.eater_queue = 100).await;
    let _stalled = raw_eater(
        format!("ws://{}", hub.out_addr),
        serde_json::json!({"eater_name": "stalled", "chefs": ["Rare"]}),
    )
    .await;
    wait_for_eaters(&hub, 1).await;
    let mut k = kitchen(hub.in_addr, "k1").await;
    for i in 0..20_000u64 {
        let chef = if i % 1000 == 0 { "Rare" } else { "Flood" };
        let d = dumpling(
            "k1",
            chef,
            &serde_json::json!({ "n": i, "pad": "x".repeat(200) }),
        );
        k.feed(Message::Text(d.into())).await.unwrap();
    }
    k.send(Message::Ping(b"all".to_vec().into())).await.unwrap();
    while !matches!(k.next().await, Some(Ok(Message::Pong(_)))) {}
    let metrics = hub.handle.metrics();
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains("eater=\"stalled\""))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
            .to_string()
    };
    let depth: u64 = line("nd_hub_eater_queue_depth")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // 20 Rare, and perhaps the start-up status dumpling.
    assert!(depth <= 21, "only Rare is queued: {depth}");
    assert!(line("nd_hub_eater_dumplings_dropped_total").ends_with(" 0"));
    assert!(
        line("nd_hub_eater_subscription").contains("chefs=\"Rare\",kitchens=\"\",status=\"true\"")
    );
    let mut watcher = Eater::connect(hub.eater_config("w").chef("SystemStatusChef"))
        .await
        .unwrap();
    wait_for_eaters(&hub, 2).await;
    hub.handle
        .reload(nd_hub::Config {
            status_freq: Duration::from_millis(100),
            ..hub.config.clone()
        })
        .unwrap();
    let status = recv(&mut watcher).await;
    let s = status.payload_value();
    let e = s["dumpling_eaters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["info_from_eater"]["eater_name"] == "stalled")
        .unwrap()
        .clone();
    assert_eq!(
        e["info_from_eater"],
        serde_json::json!({"eater_name": "stalled", "chefs": ["Rare"]})
    );
    assert_eq!(
        e["subscription"],
        serde_json::json!({"chefs": ["Rare"], "kitchens": [], "status": true})
    );
    hub.stop().await;
}
