//! `nd-hub` as a daemon: the binary runs as a subprocess with a `--config`
//! file, and the tests talk to it over real sockets: signals (SIGTERM
//! drain, SIGHUP reload), systemd readiness, tokens, TLS with a test CA,
//! /metrics (parsed by the Python `prometheus_client`), limits, exit codes,
//! and the systemd unit (`systemd-analyze verify`).

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use nd_eater::{Eater, EaterConfig};
use nd_testkit::{test_pki, workspace_dir};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_with_close_frames_exits_0_and_tells_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&sock_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hub = Hub::start_with("", dir, |cmd| {
        cmd.env("NOTIFY_SOCKET", &sock_path);
    });
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1 from the hub");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "READY=1");

    let mut e = eater(&hub, &hub.eater_url(), "e", None, None).await;
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "k").await;
    send(&mut k, dumpling("k", "TestChef", 1)).await;
    assert_eq!(next_n(&mut e).await.0, 1);

    hub.child.signal("TERM");
    assert_eq!(close_of(&mut k).await, (1001, "hub shutting down".into()));
    let end = tokio::time::timeout(WAIT, e.next()).await.unwrap();
    assert!(end.is_none(), "the eater's stream ends");
    assert_eq!(e.close_reason(), Some("1001 hub shutting down"));
    let status = hub.child.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "clean drain exits 0");
    let n = notify.recv(&mut buf).expect("STOPPING=1 from the hub");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_too_and_json_logs_are_one_object_per_line() {
    let mut hub = Hub::start("log_format = \"json\"\n");
    // (`eater()` waits for the human log line; here /metrics tells.)
    let mut e = Eater::connect(EaterConfig::new(hub.eater_url(), "e"))
        .await
        .unwrap();
    wait_for_eaters(&hub, 1.0);
    hub.child.signal("INT");
    // The stream ends (after the start-up status dumpling, if that came
    // after the eater registered).
    loop {
        match tokio::time::timeout(WAIT, e.next()).await.unwrap() {
            None => break,
            Some(Ok(d)) if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF => {}
            other => panic!("expected the end of the stream, got {other:?}"),
        }
    }
    assert_eq!(e.close_reason(), Some("1001 hub shutting down"));
    assert_eq!(hub.child.wait_exit(WAIT).code(), Some(0));
    let lines = hub.child.stderr();
    assert!(lines.len() >= 4, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("caught SIGINT")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_token_lists_revokes_removed_tokens_and_keeps_everyone_else() {
    let hub = Hub::start(
        "kitchen_tokens = [\"old-token\", \"kept-token\"]\n\
         eater_tokens = [\"eater-kept\", \"eater-old\"]\n",
    );
    let mut e = eater(&hub, &hub.eater_url(), "e", Some("eater-kept"), None).await;
    let mut e_old = eater(&hub, &hub.eater_url(), "e-old", Some("eater-old"), None).await;
    let mut old = kitchen(
        &endpoint(&hub.kitchen_url(), Some("old-token"), None),
        "old",
    )
    .await;
    let mut kept = kitchen(
        &endpoint(&hub.kitchen_url(), Some("kept-token"), None),
        "kept",
    )
    .await;
    send(&mut old, dumpling("old", "TestChef", 1)).await;
    send(&mut kept, dumpling("kept", "TestChef", 2)).await;
    for eater in [&mut e, &mut e_old] {
        let mut got = [next_n(eater).await.0, next_n(eater).await.0];
        got.sort();
        assert_eq!(got, [1, 2]);
    }

    let verdict = hub.reload(
        "kitchen_tokens = [\"new-token\", \"kept-token\"]\neater_tokens = [\"eater-kept\"]\n",
    );
    assert!(verdict.contains("configuration reloaded"), "{verdict}");

    // Whoever holds a removed token is cut off at once, with a reason, and
    // the hub says so...
    assert_eq!(close_of(&mut old).await, (4103, "token revoked".into()));
    let end = tokio::time::timeout(WAIT, e_old.next()).await.unwrap();
    assert!(end.is_none(), "the revoked eater's stream ends");
    assert_eq!(e_old.close_reason(), Some("4103 token revoked"));
    hub.child.wait_for_line(WAIT, |l| {
        l.contains("token revoked by a reload") && l.contains("kitchen=old")
    });
    hub.child.wait_for_line(WAIT, |l| {
        l.contains("token revoked by a reload") && l.contains("eater=e-old")
    });
    // ...and the removed token no longer opens a connection.
    let mut refused = kitchen(
        &endpoint(&hub.kitchen_url(), Some("old-token"), None),
        "late",
    )
    .await;
    assert_eq!(close_of(&mut refused).await.0, 4103);
    // The new token does, and the eater connected before the reload gets it.
    let mut new = kitchen(
        &endpoint(&hub.kitchen_url(), Some("new-token"), None),
        "new",
    )
    .await;
    send(&mut new, dumpling("new", "TestChef", 3)).await;
    assert_eq!(next_n(&mut e).await.0, 3);
    // The kitchen whose token both lists hold was not dropped.
    send(&mut kept, dumpling("kept", "TestChef", 4)).await;
    assert_eq!(next_n(&mut e).await.0, 4);

    // A broken file is refused whole; the running configuration stays.
    let verdict = hub.reload("kitchen_tokens = [\"other\"]\nno_such_key = 1\n");
    assert!(
        verdict.contains("reload failed") && verdict.contains("no_such_key"),
        "{verdict}"
    );
    let mut still = kitchen(&endpoint(&hub.kitchen_url(), Some("new-token"), None), "n2").await;
    send(&mut still, dumpling("n2", "TestChef", 5)).await;
    assert_eq!(next_n(&mut e).await.0, 5);
    // Changing a port, or the log format, needs a restart: refused, said so.
    let verdict = hub.reload("kitchen_tokens = [\"new-token\"]\nweb = 1\n");
    assert!(verdict.contains("restart"), "{verdict}");
    let verdict = hub.reload("kitchen_tokens = [\"new-token\"]\nlog_format = \"json\"\n");
    assert!(
        verdict.contains("log_format") && verdict.contains("restart"),
        "{verdict}"
    );

    let m = metrics_when(&hub, "the revoked peers gone", |m| {
        value(m, "nd_hub_eaters_connected", &[]) == Some(1.0)
            && value(m, "nd_hub_kitchens_connected", &[]) == Some(3.0)
    });
    assert_eq!(
        value(&m, "nd_hub_config_reloads_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "nd_hub_config_reloads_total", &[("result", "failed")]),
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_changes_the_status_period_at_once() {
    let hub = Hub::start(""); // a status dumpling at start, then hourly
    let mut e = eater(&hub, &hub.eater_url(), "e", None, None).await;
    let verdict = hub.reload("status_freq = 0.2\n");
    assert!(verdict.contains("configuration reloaded"), "{verdict}");
    // At most one status can be the start-up one: two mean the hourly wait
    // under way was cut short by the reload.
    let mut statuses = 0;
    while statuses < 2 {
        let d = tokio::time::timeout(WAIT, e.next())
            .await
            .expect("status dumplings at the new period")
            .expect("stream open")
            .expect("valid dumpling");
        if d.metadata.chef == nd_protocol::SYSTEM_STATUS_CHEF {
            statuses += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_new_limits_to_peers_already_connected() {
    let hub = Hub::start("kitchen_rate = 0\neater_queue = 100000\n");
    let stalled = stalled_eater(&hub).await;
    let mut e = eater(&hub, &hub.eater_url(), "e", None, None).await;
    wait_for_eaters(&hub, 2.0);
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "k").await;

    // A smaller eater queue reaches the eater that stopped reading: 500
    // dumplings of 64 KiB (33 MB, more than socket buffers hold, less than
    // the default byte bound) are dropped down to the new bound of 10.
    let verdict = hub.reload("kitchen_rate = 0\neater_queue = 10\n");
    assert!(verdict.contains("configuration reloaded"), "{verdict}");
    let pad = "p".repeat(64 << 10);
    for n in 0..500 {
        let text = nd_protocol::encode_dumpling(
            "BulkChef",
            Some("k"),
            1.5,
            nd_protocol::Driver::Packet,
            &format!("{{\"n\":{n},\"pad\":\"{pad}\"}}"),
        );
        send(&mut k, text).await;
        assert_eq!(
            next_n(&mut e).await.0,
            n,
            "the healthy eater gets all, in order"
        );
    }
    let m = hub.metrics();
    let depth = value(&m, "nd_hub_eater_queue_depth", &[("eater", "stalled")]).unwrap();
    let dropped = value(
        &m,
        "nd_hub_eater_dumplings_dropped_total",
        &[("eater", "stalled")],
    )
    .unwrap();
    // Under the old bounds (100,000 dumplings, 64 MiB) 33 MB could not have
    // dropped anything: any drop is the new bound at work.
    assert!(
        depth <= 10.0,
        "queue depth {depth} above the reloaded bound"
    );
    assert!(
        dropped >= 1.0,
        "nothing dropped: the new bound did not apply"
    );

    // A rate limit reaches the kitchen already connected: 120 dumplings at
    // 200/s with a burst of 20 take at least 0.5 s. (The queue bound goes
    // back up: a burst of 20 would overflow 10 before the writer drains it.)
    let verdict = hub.reload("kitchen_rate = 200\nkitchen_burst = 20\n");
    assert!(verdict.contains("configuration reloaded"), "{verdict}");
    throttled_to_200_per_second(&mut k, "k", &mut e, 1000).await;
    // Nobody was disconnected by either reload.
    let m = hub.metrics();
    assert_eq!(value(&m, "nd_hub_eaters_connected", &[]), Some(2.0));
    assert_eq!(value(&m, "nd_hub_kitchens_connected", &[]), Some(1.0));
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_a_valid_token_are_refused_with_4103() {
    let hub = Hub::start("kitchen_tokens = [\"k-secret\"]\neater_tokens = [\"e-secret\"]\n");
    let mut e = eater(&hub, &hub.eater_url(), "e", Some("e-secret"), None).await;

    // No token, a wrong token: the WebSocket opens, then closes with 4103
    // before the hub reads anything; what they send never reaches eaters.
    for token in [None, Some("k-wrong"), Some("e-secret")] {
        let mut k = kitchen(&endpoint(&hub.kitchen_url(), token, None), "intruder").await;
        let _ = k
            .send(Message::Text(dumpling("intruder", "X", 666).into()))
            .await;
        assert_eq!(
            close_of(&mut k).await,
            (4103, "unauthorized: missing or invalid token".into()),
            "token {token:?}"
        );
    }
    // The query form (what a Python netdumplings kitchen can send) works.
    let url = format!("{}/?token=k-secret", hub.kitchen_url());
    let mut k = kitchen(&endpoint(&url, None, None), "python-style").await;
    send(&mut k, dumpling("python-style", "TestChef", 7)).await;
    assert_eq!(
        next_n(&mut e).await.0,
        7,
        "only the authorised dumpling arrives"
    );

    // Eaters need their own token.
    let mut anon = Eater::connect(EaterConfig::new(hub.eater_url(), "anon"))
        .await
        .unwrap();
    assert!(tokio::time::timeout(WAIT, anon.next())
        .await
        .unwrap()
        .is_none());
    assert!(
        anon.close_reason().unwrap().starts_with("4103"),
        "{:?}",
        anon.close_reason()
    );

    // The hub logs before it closes, but the test reads its stderr through a
    // pipe and a reader thread: wait for each line rather than race them.
    for line in [
        "kitchen refused: no token",
        "kitchen refused: wrong token",
        "eater refused: no token",
    ] {
        hub.child.wait_for_line(WAIT, |l| l.contains(line));
    }
    let log = hub.child.stderr().join("\n");
    assert!(
        !log.contains("k-wrong") && !log.contains("k-secret"),
        "tokens never logged"
    );
    let m = hub.metrics();
    assert_eq!(
        value(
            &m,
            "nd_hub_connections_refused_total",
            &[("port", "in"), ("reason", "unauthorized")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &m,
            "nd_hub_connections_refused_total",
            &[("port", "out"), ("reason", "unauthorized")]
        ),
        Some(1.0)
    );
}

#[test]
fn without_tokens_the_hub_says_so_once() {
    let hub = Hub::start("");
    std::thread::sleep(Duration::from_millis(200));
    let warnings: Vec<String> = hub
        .child
        .stderr()
        .into_iter()
        .filter(|l| l.contains("no tokens configured"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_kitchen_and_eater_with_a_test_ca_and_a_certificate_rotated_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, _, _) = test_pki(dir.path(), "one");
    let hub = Hub::start_with(
        "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
        dir,
        |_| {},
    );
    let wss_in = format!("wss://localhost:{}", hub.in_port);
    let wss_out = format!("wss://localhost:{}", hub.out_port);

    let mut e = eater(&hub, &wss_out, "tls-eater", None, Some(&ca1)).await;
    let mut k = kitchen(&endpoint(&wss_in, None, Some(&ca1)), "tls-kitchen").await;
    for n in 1..=3 {
        send(&mut k, dumpling("tls-kitchen", "TestChef", n)).await;
    }
    for n in 1..=3 {
        assert_eq!(next_n(&mut e).await.0, n);
    }

    // Verification is real: without the CA, or in plain ws://, no connection.
    let err = endpoint(&wss_out, None, None)
        .connect()
        .await
        .expect_err("an unknown issuer is refused");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(endpoint(&hub.eater_url(), None, None)
        .connect()
        .await
        .is_err());

    // Rotate: a new CA and certificate in place, SIGHUP. New connections
    // see the new certificate; the open ones carry on.
    let (ca2, _, _) = test_pki(hub.dir.path(), "two");
    let verdict = hub.reload("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n");
    assert!(verdict.contains("configuration reloaded"), "{verdict}");
    assert!(endpoint(&wss_out, None, Some(&ca1))
        .connect()
        .await
        .is_err());
    let mut e2 = eater(&hub, &wss_out, "tls-eater-2", None, Some(&ca2)).await;
    send(&mut k, dumpling("tls-kitchen", "TestChef", 4)).await;
    assert_eq!(
        next_n(&mut e).await.0,
        4,
        "the eater from before the rotation"
    );
    assert_eq!(next_n(&mut e2).await.0, 4);

    // A rotation to a key that does not match is refused; the hub keeps serving.
    std::fs::write(
        hub.path("key.pem"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let verdict = hub.reload("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n");
    assert!(verdict.contains("reload failed"), "{verdict}");
    let mut e3 = eater(&hub, &wss_out, "tls-eater-3", None, Some(&ca2)).await;
    send(&mut k, dumpling("tls-kitchen", "TestChef", 5)).await;
    assert_eq!(next_n(&mut e3).await.0, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_what_was_sent() {
    let hub = Hub::start("");
    let (status, body) = hub.http_get("/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.starts_with("ok\nlisteners: serving\n"), "{body}");
    assert!(body.contains("\nlast reload: ok\n"), "{body}");

    let mut e1 = eater(&hub, &hub.eater_url(), "first", None, None).await;
    let mut e2 = eater(&hub, &hub.eater_url(), "second \"quoted\"", None, None).await;
    wait_for_eaters(&hub, 2.0);
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "kA").await;
    let mut bytes = [0u64; 2];
    for n in 0..10 {
        let chef = if n < 7 { "ChefA" } else { "ChefB" };
        let text = dumpling("kA", chef, n);
        bytes[(n >= 7) as usize] += text.len() as u64;
        send(&mut k, text).await;
    }
    send(&mut k, "not json".into()).await;
    send(&mut k, "{\"metadata\": {}}".into()).await;
    for e in [&mut e1, &mut e2] {
        for n in 0..10 {
            assert_eq!(next_n(e).await.0, n);
        }
    }
    // The eater's writer counts after its batch is flushed, and the hub may
    // still be reading the two invalid messages: wait for the last counts.
    let m = metrics_when(&hub, "every dumpling counted", |m| {
        value(m, "nd_hub_dumplings_invalid_total", &[]) == Some(2.0)
            && ["first", "second \"quoted\""].iter().all(|name| {
                value(m, "nd_hub_eater_dumplings_out_total", &[("eater", name)]) == Some(10.0)
            })
    });
    let v = |name: &str, labels: &[(&str, &str)]| value(&m, name, labels);
    let a = [("kitchen", "kA"), ("chef", "ChefA")];
    let b = [("kitchen", "kA"), ("chef", "ChefB")];
    assert_eq!(v("nd_hub_dumplings_in_total", &a), Some(7.0));
    assert_eq!(v("nd_hub_dumplings_in_total", &b), Some(3.0));
    assert_eq!(
        v("nd_hub_dumpling_bytes_in_total", &a),
        Some(bytes[0] as f64)
    );
    assert_eq!(
        v("nd_hub_dumpling_bytes_in_total", &b),
        Some(bytes[1] as f64)
    );
    assert_eq!(v("nd_hub_dumplings_out_total", &a), Some(14.0));
    assert_eq!(v("nd_hub_dumplings_out_total", &b), Some(6.0));
    assert_eq!(
        v("nd_hub_dumpling_bytes_out_total", &a),
        Some(2.0 * bytes[0] as f64)
    );
    assert_eq!(v("nd_hub_dumplings_invalid_total", &[]), Some(2.0));
    assert_eq!(v("nd_hub_kitchens_connected", &[]), Some(1.0));
    assert_eq!(v("nd_hub_eaters_connected", &[]), Some(2.0));
    assert_eq!(v("nd_hub_connections_open", &[("port", "in")]), Some(1.0));
    assert_eq!(v("nd_hub_connections_open", &[("port", "out")]), Some(2.0));
    for name in ["first", "second \"quoted\""] {
        assert_eq!(
            v("nd_hub_eater_dumplings_out_total", &[("eater", name)]),
            Some(10.0),
            "{name}"
        );
        assert_eq!(v("nd_hub_eater_queue_depth", &[("eater", name)]), Some(0.0));
        assert_eq!(
            v("nd_hub_eater_dumplings_dropped_total", &[("eater", name)]),
            Some(0.0)
        );
    }
    assert_eq!(v("nd_hub_dumplings_dropped_total", &[]), Some(0.0));
    assert_eq!(
        v(
            "nd_hub_info",
            &[("tls", "false"), ("kitchen_tokens", "false")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_with_503_and_a_fast_kitchen_is_slowed_not_cut() {
    let hub = Hub::start("max_connections = 2\nkitchen_rate = 200\nkitchen_burst = 20\n");

    // Two idle TCP connections fill the in port; a third is refused.
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", hub.in_port)).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = endpoint(&hub.kitchen_url(), None, None)
        .connect()
        .await
        .expect_err("a third connection is refused");
    assert!(err.to_string().contains("503"), "{err}");
    // The out port has its own budget.
    let mut e = eater(&hub, &hub.eater_url(), "e", None, None).await;
    drop(idle);
    metrics_when(&hub, "the idle connections closed", |m| {
        value(m, "nd_hub_connections_open", &[("port", "in")]) == Some(0.0)
    });

    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "fast").await;
    throttled_to_200_per_second(&mut k, "fast", &mut e, 0).await;
    let m = hub.metrics();
    assert!(value(&m, "nd_hub_kitchen_throttled_seconds_total", &[]).unwrap() > 0.3);
    assert_eq!(
        value(
            &m,
            "nd_hub_connections_refused_total",
            &[("port", "in"), ("reason", "max_connections")]
        ),
        Some(1.0)
    );
}

/// Sends 120 dumplings (`payload.n` from `first`) from `kitchen`, whose
/// hub allows 200/s with a burst of 20: `eater` gets all of them, in order,
/// and that takes at least 0.5 s.
async fn throttled_to_200_per_second(
    k: &mut nd_client::HubStream,
    kitchen: &str,
    e: &mut Eater,
    first: u64,
) {
    let start = Instant::now();
    for n in first..first + 120 {
        send(k, dumpling(kitchen, "TestChef", n)).await;
    }
    for n in first..first + 120 {
        assert_eq!(next_n(e).await.0, n);
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "not throttled: {took:?}"
    );
}

#[test]
fn exit_codes_tell_a_supervisor_what_happened() {
    let hub_bin = env!("CARGO_BIN_EXE_nd-hub");
    let dist = workspace_dir().join("hub").join("dist");
    let run = |args: &[&str]| {
        let out = Command::new(hub_bin).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The shipped example configuration is valid.
    let example = dist.join("nd-hub.toml");
    let (code, err) = run(&["--config", example.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(0), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "in_port = 1\neater_qeue = 5\n").unwrap();
    let (code, err) = run(&["--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(78));
    assert!(
        err.contains("eater_qeue") && err.contains("line 2"),
        "{err}"
    );

    let (code, err) = run(&["--config", "/nonexistent/nd-hub.toml"]);
    assert_eq!(code, Some(78));
    assert!(err.contains("/nonexistent/nd-hub.toml"), "{err}");

    let tls = dir.path().join("tls.toml");
    std::fs::write(
        &tls,
        "tls_cert = \"missing.pem\"\ntls_key = \"missing.key\"\n",
    )
    .unwrap();
    let (code, err) = run(&["--config", tls.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(78));
    assert!(err.contains("missing.pem"), "{err}");

    let (code, _) = run(&["--eater-queue", "0"]);
    assert_eq!(
        code,
        Some(78),
        "a value out of range is a configuration error"
    );
    let (code, _) = run(&["--no-such-flag"]);
    assert_eq!(code, Some(2), "usage error");

    // A port in use is a runtime failure (1), which a supervisor may retry.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, err) = run(&["-a", "127.0.0.1", "-i", &port, "-o", "0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("hub error"), "{err}");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = workspace_dir()
        .join("hub")
        .join("dist")
        .join("nd-hub.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    nd_testkit::systemd_verify(
        "nd-hub.service",
        &text,
        "/usr/local/bin/nd-hub",
        env!("CARGO_BIN_EXE_nd-hub"),
    );
}

#[test]
fn install_sh_gives_the_service_user_its_configuration_and_nobody_else() {
    let id = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&id.stdout).trim() != "0" {
        eprintln!("not root: install.sh sets file owners; skipping");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dist = workspace_dir().join("hub").join("dist");
    let dest = tempfile::tempdir().unwrap();
    // The staged tree must be reachable by the users below.
    std::fs::set_permissions(dest.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(dist.join("install.sh"))
        .env("DESTDIR", dest.path())
        .env("ND_HUB_BIN", env!("CARGO_BIN_EXE_nd-hub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dest.path();
    // The user sysusers created is the one the unit runs as.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nd-hub:"))
        .expect("an nd-hub user");
    let fields: Vec<&str> = line.split(':').collect();
    let (uid, gid) = (fields[2], fields[3]);
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/nd-hub.service")).unwrap();
    assert!(unit.lines().any(|l| l == "User=nd-hub"), "{unit}");
    assert!(unit.lines().any(|l| l == "Group=nd-hub"), "{unit}");

    // A token file beside the config, installed as the unit's comments say.
    let etc = root.join("etc/nd-hub");
    let tokens = etc.join("kitchen-tokens");
    std::fs::write(&tokens, "a-kitchen-token\n").unwrap();
    std::os::unix::fs::chown(&tokens, Some(0), Some(gid.parse().unwrap())).unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = etc.join("nd-hub.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("kitchen_tokens_file = \"kitchen-tokens\"\n");
    std::fs::write(&config, text).unwrap();
    // As an older install left it (root:root, 600): installing again keeps
    // the file and makes it readable by the service.
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(dist.join("install.sh"))
        .env("DESTDIR", dest.path())
        .env("ND_HUB_BIN", env!("CARGO_BIN_EXE_nd-hub"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("kitchen_tokens_file"));

    let check_as = |uid: &str, gid: &str| {
        Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg(root.join("usr/local/bin/nd-hub"))
            .arg("--config")
            .arg(&config)
            .arg("--check-config")
            .output()
            .unwrap()
    };
    // The service's user reads the config and the token file...
    let out = check_as(uid, gid);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    // ...another user (a DynamicUser=, say) cannot, and is told so (78).
    let out = check_as("65534", "65534");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("ermission denied"), "{stderr}");
}

/// Sends `n` dumplings of about 1 KB each, then a ping, and waits for its
/// pong: the hub answers only after handing everything before it to the
/// eaters' queues (what a kitchen counts as acknowledged).
async fn send_and_acknowledge(k: &mut nd_client::HubStream, n: u64) {
    use futures_util::StreamExt;
    let pad = "x".repeat(1000);
    for i in 1..=n {
        let text = nd_protocol::encode_dumpling(
            "TestChef",
            Some("k"),
            1.5,
            nd_protocol::Driver::Packet,
            &format!("{{\"n\":{i},\"pad\":\"{pad}\"}}"),
        );
        k.feed(Message::Text(text.into())).await.unwrap();
    }
    k.send(Message::Ping(b"all".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, async {
        while let Some(m) = k.next().await {
            if let Ok(Message::Pong(p)) = m {
                return p.to_vec();
            }
        }
        panic!("kitchen connection ended before the pong");
    })
    .await
    .expect("a pong in time");
    assert_eq!(pong, b"all");
}

/// An eater named "stalled" that reads nothing, and a kitchen that has had
/// `n` dumplings acknowledged: (eater, kitchen, the eater's queue depth
/// then, per /metrics).
async fn stalled_eater_with_a_queue(
    hub: &Hub,
    n: u64,
) -> (nd_client::HubStream, nd_client::HubStream, f64) {
    let stalled = stalled_eater(hub).await;
    wait_for_eaters(hub, 1.0);
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "k").await;
    send_and_acknowledge(&mut k, n).await;
    let samples = hub.metrics();
    let queued = value(
        &samples,
        "nd_hub_eater_queue_depth",
        &[("eater", "stalled")],
    )
    .expect("the stalled eater's queue depth");
    (stalled, k, queued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_out_what_eaters_have_queued_before_closing() {
    use futures_util::StreamExt;
    const N: u64 = 5_000;
    let mut hub = Hub::start("");
    // The eater reads nothing until the hub has been told to stop.
    let (mut slow, mut k, queued) = stalled_eater_with_a_queue(&hub, N).await;
    // 5 MB do not fit in the socket buffers: most of it is in the queue.
    assert!(queued > 1000.0, "only {queued} dumplings queued");

    hub.child.signal("TERM");
    assert_eq!(close_of(&mut k).await, (1001, "hub shutting down".into()));
    // Now read, slowly: every dumpling arrives, in order, before the close.
    let mut next = 1;
    let close = tokio::time::timeout(WAIT * 2, async {
        while let Some(msg) = slow.next().await {
            match msg.expect("a clean stream") {
                Message::Text(t) => {
                    let d: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    if d["metadata"]["chef"] == nd_protocol::SYSTEM_STATUS_CHEF {
                        continue;
                    }
                    assert_eq!(d["payload"]["n"], next, "in order, none missing");
                    next += 1;
                    if next % 500 == 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Message::Close(f) => return f.map(|f| (u16::from(f.code), f.reason.to_string())),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("the drain ends in time");
    assert_eq!(next - 1, N, "every acknowledged dumpling was delivered");
    assert_eq!(close, Some((1001, "hub shutting down".into())));
    assert_eq!(hub.child.wait_exit(WAIT).code(), Some(0));
    let log = hub.child.stderr().join("\n");
    assert!(!log.contains("not written within drain_timeout"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_runs_out_of_time_counts_and_logs_what_it_left() {
    // Far more than the socket buffers hold, within the eater's queue.
    const N: u64 = 20_000;
    let mut hub = Hub::start("drain_timeout = 1\neater_queue = 50000\n");
    let (_stalled, mut k, queued) = stalled_eater_with_a_queue(&hub, N).await;
    assert!(queued > 5000.0, "only {queued} queued");
    // The kitchen leaves first, so only the eater's part of the shutdown is timed.
    k.close(None).await.unwrap();
    let started = Instant::now();
    hub.child.signal("TERM");
    assert_eq!(hub.child.wait_exit(WAIT).code(), Some(0));
    // drain_timeout (1 s), then at most the grace for the eater's close
    // answer (it never reads, so it never answers), and a second of slack.
    let took = started.elapsed();
    let most = Duration::from_secs(2) + nd_hub::SHUTDOWN_GRACE;
    assert!(took < most, "{took:?}");
    assert!(
        took >= Duration::from_secs(1),
        "gave up before drain_timeout: {took:?}"
    );
    let lines = hub.child.stderr();
    let line = lines
        .iter()
        .find(|l| l.contains("not written within drain_timeout"))
        .unwrap_or_else(|| panic!("no undelivered count in {lines:?}"));
    assert!(line.contains("eater=stalled"), "{line}");
    let undelivered: u64 = line
        .split("undelivered=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // What the socket buffers took was written; the rest is counted.
    assert!(undelivered > 0 && undelivered <= N, "{line}");
    assert!(
        undelivered as f64 >= queued - 300.0,
        "{undelivered} of {queued} queued: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_a_failed_reload_and_503_while_draining() {
    let mut hub = Hub::start("");
    // A reload that adds the dashboard port is refused whole; the hub keeps serving.
    let verdict = hub.reload(&format!("web = {}\n", nd_testkit::free_port()));
    assert!(verdict.contains("reload failed"), "{verdict}");
    let (status, body) = hub.http_get("/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(
        body.contains("last reload: failed, running the previous configuration"),
        "{body}"
    );
    // While a stalled eater holds the drain open, /healthz says 503.
    let (_stalled, _k, _) = stalled_eater_with_a_queue(&hub, 20_000).await;
    hub.child.signal("TERM");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = hub.http_get("/healthz");
        if status == "HTTP/1.1 503 Service Unavailable" {
            assert!(body.starts_with("shutting down\n"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never 503: {status} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(hub.child.wait_exit(WAIT).code(), Some(0));
}

/// A refused `subscribe` message ends only that eater: 1008 with the
/// reason, nothing panics in the hub (its stderr says so), and the next
/// eater is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_subscribe_message_closes_that_eater_and_nothing_else() {
    use futures_util::StreamExt;
    let hub = Hub::start("");
    let mut bad = endpoint(&hub.eater_url(), None, None)
        .connect()
        .await
        .unwrap();
    bad.send(Message::Text("{\"eater_name\": \"bad\"}".into()))
        .await
        .unwrap();
    wait_for_eaters(&hub, 1.0);
    bad.send(Message::Text("{\"subscribe\": {\"chefs\": 7}}".into()))
        .await
        .unwrap();
    assert_eq!(
        close_of(&mut bad).await,
        (
            1008,
            "invalid subscription: \"chefs\" must be a list of strings".into()
        )
    );
    // The socket ends without our answering the close: the hub is done.
    let _ = tokio::time::timeout(WAIT, async { while bad.next().await.is_some() {} }).await;
    let mut good = eater(&hub, &hub.eater_url(), "good", None, None).await;
    let mut k = kitchen(&endpoint(&hub.kitchen_url(), None, None), "k").await;
    send(&mut k, dumpling("k", "TestChef", 1)).await;
    assert_eq!(next_n(&mut good).await.0, 1);
    let log = hub.child.stderr().join("\n");
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("invalid subscription"), "{log}");
}
