//! Interop with the real Python netdumplings 0.5.1 (installed by `just peer`).
//!
//! Python kitchens and eaters against our hub; our eater and a Rust kitchen
//! against the Python hub. Assertions are on what arrives.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use futures_util::SinkExt;
use nd_eater::{Eater, EaterConfig};
use nd_protocol::status::SystemStatus;
use nd_testkit::{free_port, peer_venv, wait_for_port, workspace_dir, Child};
use tokio_tungstenite::tungstenite::Message;

fn python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(peer_venv().join("bin").join("python"));
    cmd.arg(workspace_dir().join("tests").join("peer").join(script))
        .args(args);
    cmd
}

async fn start_our_hub() -> (SocketAddr, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let hub = nd_hub::bind(nd_hub::Config {
        address: "127.0.0.1".into(),
        in_port: 0,
        out_port: 0,
        status_freq: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let (i, o) = (hub.in_addrs()[0], hub.out_addrs()[0]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hub.run(async move {
        let _ = rx.await;
    }));
    (i, o, tx)
}

/// netdumplings' own hub on free ports, status every second, once both
/// ports accept: (the process, in port, out port).
async fn start_python_hub() -> (Child, u16, u16) {
    let (in_port, out_port) = (free_port(), free_port());
    let mut cmd = Command::new(peer_venv().join("bin").join("nd-hub"));
    cmd.args(["-a", "127.0.0.1", "-i", &in_port.to_string()])
        .args(["-o", &out_port.to_string(), "-f", "1"]);
    let hub = Child::spawn("nd-hub(py)", cmd);
    tokio::task::spawn_blocking(move || {
        wait_for_port(in_port, Duration::from_secs(30));
        wait_for_port(out_port, Duration::from_secs(30));
    })
    .await
    .unwrap();
    (hub, in_port, out_port)
}

/// Waits until our hub's status reports `n` eaters (so a Python eater that
/// takes a second to start is registered before anything is sent).
async fn wait_for_eaters(out: SocketAddr, n: u64) {
    let mut watcher =
        Eater::connect(EaterConfig::new(out.to_string(), "watcher").chef("SystemStatusChef"))
            .await
            .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = tokio::time::timeout_at(deadline, watcher.next())
            .await
            .expect("eaters registered in time")
            .unwrap()
            .unwrap();
        // The watcher itself counts as one eater.
        if d.payload_value()["dumpling_eater_count"].as_u64() == Some(n + 1) {
            break;
        }
    }
    watcher
        .close(nd_protocol::CloseCode::ConnectionCancelled)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_kitchen_to_python_eater_through_our_hub() {
    let (in_addr, out_addr, _stop) = start_our_hub().await;
    const N: usize = 200;
    let py_eater = Child::spawn(
        "py_eater",
        python(
            "py_eater.py",
            &[&out_addr.to_string(), "py_eater", "PyChef", &N.to_string()],
        ),
    );
    let mut ours =
        Eater::connect(EaterConfig::new(out_addr.to_string(), "rust_eater").chef("PyChef"))
            .await
            .unwrap();
    wait_for_eaters(out_addr, 2).await;

    let mut py_kitchen = Child::spawn(
        "py_kitchen",
        python(
            "py_kitchen.py",
            &[&in_addr.to_string(), "py_kitchen", "PyChef", &N.to_string()],
        ),
    );

    // Our eater sees the Python kitchen's dumplings, in order.
    for i in 0..N {
        let d = tokio::time::timeout(Duration::from_secs(30), ours.next())
            .await
            .expect("dumpling in time")
            .unwrap()
            .unwrap();
        assert_eq!(d.metadata.chef, "PyChef");
        assert_eq!(d.metadata.kitchen.as_deref(), Some("py_kitchen"));
        assert_eq!(
            d.payload_value(),
            serde_json::json!({"seq": i, "from": "python"})
        );
        assert!(d.metadata.creation_time > 1.5e9);
    }
    // So does the Python eater, which then closes with 4102 and exits.
    let lines = tokio::task::spawn_blocking(move || {
        py_eater.wait_for_stdout_count(Duration::from_secs(30), N, |l| l.contains("\"payload\""))
    })
    .await
    .unwrap();
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["chef"], "PyChef");
        assert_eq!(v["kitchen"], "py_kitchen");
        assert_eq!(v["driver"], "packet");
        assert_eq!(v["payload"]["seq"], i);
    }
    let status = tokio::task::spawn_blocking(move || py_kitchen.wait_exit(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(status.success(), "python kitchen exit: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nd_print_prints_what_our_hub_fans_out() {
    let (in_addr, out_addr, _stop) = start_our_hub().await;
    let venv = peer_venv();
    let mut cmd = Command::new(venv.join("bin").join("nd-print"));
    cmd.args(["--no-color", "-h", &out_addr.to_string(), "-c", "PrintChef"]);
    let printer = Child::spawn("nd-print(py)", cmd);
    wait_for_eaters(out_addr, 1).await;

    let (mut k, _) = tokio_tungstenite::connect_async(format!("ws://{in_addr}"))
        .await
        .unwrap();
    let hello = r#"{"kitchen_name": "rusty", "interface": "lo", "filter": "udp", "chefs": ["PrintChef"], "poke_interval": 1.0}"#;
    k.send(Message::Text(hello.into())).await.unwrap();
    let text = nd_protocol::encode_dumpling(
        "PrintChef",
        Some("rusty"),
        1_700_000_000.25,
        nd_protocol::Driver::Interval,
        r#"{"b": 2, "a": [1, "x"]}"#,
    );
    k.send(Message::Text(text.into())).await.unwrap();

    let printer = tokio::task::spawn_blocking(move || {
        printer.wait_for_line(Duration::from_secs(30), |l| {
            l.contains("PrintChef from rusty")
        });
        // The payload's closing brace: the pretty-print is complete (lines
        // arrive one by one; a snapshot taken earlier can miss the end).
        printer.wait_for_line(Duration::from_secs(10), |l| l == "}");
        printer
    })
    .await
    .unwrap();
    let out = printer.stdout().join("\n");
    assert!(out.contains("[interval] PrintChef from rusty"), "{out}");
    // netdumplings pretty-prints with sort_keys and indent 4.
    assert!(
        out.contains("{\n    \"a\": [\n        1,\n        \"x\"\n    ],\n    \"b\": 2\n}"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_eater_and_a_rust_kitchen_work_against_the_python_hub() {
    let (_py_hub, in_port, out_port) = start_python_hub().await;

    let mut eater = Eater::connect(EaterConfig::new(
        format!("127.0.0.1:{out_port}"),
        "rust_eater",
    ))
    .await
    .unwrap();
    // The Python hub registers an eater when it reads its hello and sends
    // status dumplings only to registered eaters: the first one says ours is.
    loop {
        let d = tokio::time::timeout(Duration::from_secs(30), eater.next())
            .await
            .expect("a status dumpling in time")
            .unwrap()
            .unwrap();
        if d.metadata.chef == "SystemStatusChef" {
            break;
        }
    }
    let (mut k, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{in_port}"))
        .await
        .unwrap();
    let hello = serde_json::json!({"kitchen_name": "rust_kitchen", "interface": "lo", "filter": "udp",
        "chefs": ["RustChef"], "poke_interval": 1.0});
    k.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    const N: u64 = 300;
    for i in 0..N {
        let text = nd_protocol::encode_dumpling(
            "RustChef",
            Some("rust_kitchen"),
            nd_protocol::now_epoch_secs(),
            nd_protocol::Driver::Packet,
            &serde_json::json!({ "seq": i }).to_string(),
        );
        k.send(Message::Text(text.into())).await.unwrap();
    }
    let mut next = 0;
    let mut saw_status = false;
    while next < N || !saw_status {
        let d = tokio::time::timeout(Duration::from_secs(30), eater.next())
            .await
            .expect("dumpling in time")
            .unwrap()
            .unwrap();
        if d.metadata.chef == "SystemStatusChef" {
            let s: SystemStatus =
                serde_json::from_str(d.payload.get()).expect("python status parses");
            assert_eq!(d.metadata.kitchen, None);
            if s.dumpling_kitchen_count == 1 && s.dumpling_eater_count == 1 {
                assert_eq!(
                    s.dumpling_kitchens[0].info_from_kitchen["kitchen_name"],
                    "rust_kitchen"
                );
                assert_eq!(
                    s.dumpling_eaters[0].info_from_eater["eater_name"],
                    "rust_eater"
                );
                saw_status = true;
            }
            continue;
        }
        assert_eq!(d.metadata.kitchen.as_deref(), Some("rust_kitchen"));
        assert_eq!(d.payload_value()["seq"], next);
        next += 1;
    }
}

/// A Python netdumplings kitchen cannot add headers, but its hub address
/// goes into `ws://{hub}` verbatim: `HOST:PORT/?token=TOKEN` authenticates
/// it to our hub when kitchen tokens are required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_kitchen_passes_a_token_in_its_hub_address() {
    let hub = nd_hub::bind(nd_hub::Config {
        address: "127.0.0.1".into(),
        in_port: 0,
        out_port: 0,
        kitchen_tokens: Some(vec!["py-secret".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let (in_addr, out_addr) = (hub.in_addrs()[0], hub.out_addrs()[0]);
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hub.run(async move {
        let _ = rx.await;
    }));
    let mut ours = Eater::connect(EaterConfig::new(out_addr.to_string(), "rust_eater"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    const N: usize = 20;
    let mut py_kitchen = Child::spawn(
        "py_kitchen",
        python(
            "py_kitchen.py",
            &[
                &format!("{in_addr}/?token=py-secret"),
                "py_kitchen",
                "PyChef",
                &N.to_string(),
            ],
        ),
    );
    for i in 0..N {
        let d = tokio::time::timeout(Duration::from_secs(30), ours.next())
            .await
            .expect("dumpling in time")
            .unwrap()
            .unwrap();
        assert_eq!(d.metadata.kitchen.as_deref(), Some("py_kitchen"));
        assert_eq!(d.payload_value()["seq"], i);
    }
    let status = tokio::task::spawn_blocking(move || py_kitchen.wait_exit(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(status.success());
}

/// Sends `chef` dumplings numbered `ns` from a Rust kitchen named "mixed".
async fn send_mixed(in_addr: &str, dumplings: &[(&str, u64)]) {
    let (mut k, _) = tokio_tungstenite::connect_async(format!("ws://{in_addr}"))
        .await
        .unwrap();
    let hello = r#"{"kitchen_name": "mixed", "interface": "lo", "filter": "udp", "chefs": ["Wanted", "Unwanted"], "poke_interval": 1.0}"#;
    k.send(Message::Text(hello.into())).await.unwrap();
    for (chef, n) in dumplings {
        let text = nd_protocol::encode_dumpling(
            chef,
            Some("mixed"),
            1_700_000_000.25,
            nd_protocol::Driver::Packet,
            &format!("{{\"n\": {n}}}"),
        );
        k.send(Message::Text(text.into())).await.unwrap();
    }
    k.close(None).await.unwrap();
}

/// The chefs interleaved, the wanted one last (so once it is printed,
/// everything before it was too, in order).
const MIXED: &[(&str, u64)] = &[
    ("Unwanted", 1),
    ("Wanted", 2),
    ("Unwanted", 3),
    ("Unwanted", 4),
    ("Wanted", 5),
];

/// netdumplings' own `nd-print` cannot change its hello, but its hub
/// address goes into `ws://{hub}` verbatim: `?chef=Wanted` subscribes it at
/// our hub, and it prints only that chef's dumplings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nd_print_subscribed_by_url_query_prints_only_its_chef() {
    let (in_addr, out_addr, _stop) = start_our_hub().await;
    let mut cmd = Command::new(peer_venv().join("bin").join("nd-print"));
    // No -c: any filtering is the hub's.
    cmd.args([
        "--no-color",
        "-h",
        &format!("{out_addr}/?chef=Wanted&status=0"),
    ]);
    let printer = Child::spawn("nd-print(py)", cmd);
    wait_for_eaters(out_addr, 1).await;
    send_mixed(&in_addr.to_string(), MIXED).await;
    let printer = tokio::task::spawn_blocking(move || {
        printer.wait_for_line(Duration::from_secs(30), |l| l.contains("\"n\": 5"));
        printer
    })
    .await
    .unwrap();
    let out = printer.stdout().join("\n");
    assert_eq!(out.matches("] Wanted from mixed").count(), 2, "{out}");
    assert!(
        !out.contains("Unwanted"),
        "the hub sent what was not asked for: {out}"
    );
    assert!(!out.contains("SystemStatusChef"), "status=0: {out}");
    assert!(
        out.find("\"n\": 2") < out.find("\"n\": 5"),
        "in order: {out}"
    );
}

/// Our `nd-print --chef` against netdumplings' hub, which ignores the
/// subscription in our hello and sends everything: the local filter still
/// shows only that chef.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_nd_print_chef_filter_still_works_against_the_python_hub() {
    let (_py_hub, in_port, out_port) = start_python_hub().await;
    let mut cmd = Command::new(nd_testkit::target_dir().join("debug").join("nd-print"));
    cmd.args(["--json", "--count", "2", "--chef", "Wanted"])
        .args(["-h", &format!("127.0.0.1:{out_port}")]);
    let mut printer = Child::spawn("nd-print", cmd);
    // The Python hub registers an eater on its hello; its status dumplings
    // (every second) list it once it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut watcher = Eater::connect(
            EaterConfig::new(format!("127.0.0.1:{out_port}"), "w").chef("SystemStatusChef"),
        )
        .await
        .unwrap();
        let d = tokio::time::timeout(Duration::from_secs(30), watcher.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if d.payload_value()["dumpling_eater_count"].as_u64() >= Some(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "our nd-print never registered"
        );
    }
    send_mixed(&format!("127.0.0.1:{in_port}"), MIXED).await;
    let status = printer.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{:?}", printer.stderr());
    let ns: Vec<u64> = printer
        .stdout()
        .iter()
        .map(|l| {
            let d: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(d["metadata"]["chef"], "Wanted", "{l}");
            d["payload"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ns, [2, 5]);
}
