//! The terminal eaters (`nd-print`, `nd-hubstatus`, `nd-hubdetails`)
//! against a real `nd-hub` fed by a real kitchen (`nd-sniff --read`), all
//! subprocesses on loopback; and the Python netdumplings `nd-print` beside
//! ours on the same hub, printing the same text.
//!
//! Needs `just build` (the hub and the kitchen binaries of the other crates)
//! and `just chefs`, `just peer`; `just test` does all three first.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nd_testkit::{free_port, pcaps_dir, peer_venv, target_dir, wait_for_port, Child};

const WAIT: Duration = Duration::from_secs(60);

/// (chef, kitchen, driver, payload) of a dumpling.
type Key = (String, String, String, serde_json::Value);

fn bin(name: &str) -> PathBuf {
    let p = target_dir().join("debug").join(name);
    assert!(p.exists(), "{} missing: run `just build`", p.display());
    p
}

fn pcap(name: &str) -> PathBuf {
    pcaps_dir().join(name)
}

/// Our eater binary `name` with `args`, pointed at the hub's out port.
fn eater(name: &str, out_port: u16, args: &[&str]) -> Command {
    let exe = match name {
        "nd-print" => env!("CARGO_BIN_EXE_nd-print"),
        "nd-hubstatus" => env!("CARGO_BIN_EXE_nd-hubstatus"),
        "nd-hubdetails" => env!("CARGO_BIN_EXE_nd-hubdetails"),
        other => panic!("no eater {other}"),
    };
    let mut c = Command::new(exe);
    c.args(["-h", &format!("127.0.0.1:{out_port}")]).args(args);
    c
}

/// Replays `file` through the standard chefs as kitchen `name`, either to
/// the hub or (`hub: None`) printing dumplings as JSON lines; returns stdout.
fn kitchen(name: &str, file: &str, hub: Option<u16>) -> String {
    let mut c = Command::new(bin("nd-sniff"));
    c.args(["-n", name, "--read"])
        .arg(pcap(file))
        .arg("--chef-dir")
        .arg(target_dir().join("chefs"))
        .arg("--cache-dir")
        .arg(target_dir().join("chef-cache"));
    match hub {
        Some(port) => c.args(["-h", &format!("127.0.0.1:{port}")]),
        None => c.arg("--print"),
    };
    let out = c.output().expect("run nd-sniff");
    assert!(
        out.status.success(),
        "nd-sniff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The key of each JSON dumpling line, in order.
fn keys<S: AsRef<str>>(lines: &[S]) -> Vec<Key> {
    lines
        .iter()
        .map(|l| l.as_ref())
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let d: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            let m = &d["metadata"];
            (
                m["chef"].as_str().unwrap_or("").to_string(),
                m["kitchen"].as_str().unwrap_or("").to_string(),
                m["driver"].as_str().unwrap_or("").to_string(),
                d["payload"].clone(),
            )
        })
        .collect()
}

fn sorted(mut v: Vec<Key>) -> Vec<Key> {
    v.sort_by_key(|k| format!("{k:?}"));
    v
}

struct Hub {
    _child: Child,
    in_port: u16,
    out_port: u16,
}

fn hub() -> Hub {
    let (in_port, out_port) = (free_port(), free_port());
    let mut c = Command::new(bin("nd-hub"));
    c.args(["-a", "127.0.0.1"])
        .args(["-i", &in_port.to_string(), "-o", &out_port.to_string()])
        .args(["-f", "0.2"]);
    let child = Child::spawn("nd-hub", c);
    wait_for_port(in_port, WAIT);
    wait_for_port(out_port, WAIT);
    Hub {
        _child: child,
        in_port,
        out_port,
    }
}

/// Waits until the hub's status dumpling counts `n` eaters (besides the
/// nd-hubdetails asking), so nothing is sent before they listen.
fn wait_for_eaters(hub: &Hub, n: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let out = eater(
            "nd-hubdetails",
            hub.out_port,
            &["--json", "--timeout", "30"],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "nd-hubdetails: {out:?}");
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // Not counting nd-hubdetails itself, nor a previous one the hub has
        // not yet seen leave.
        let others = status["dumpling_eaters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["info_from_eater"]["eater_name"] != "detailseater")
            .count() as u64;
        if others == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "eaters never registered: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nd_print_filters_and_json_match_the_kitchen() {
    let hub = hub();
    // The oracle: what the same kitchens make, printed without a hub.
    let arp_alone = keys(
        &kitchen("k-arp", "arp-who-has.pcap", None)
            .lines()
            .collect::<Vec<_>>(),
    );
    let dns_alone = keys(
        &kitchen("k-dns", "dns_udp.pcap", None)
            .lines()
            .collect::<Vec<_>>(),
    );
    let everything: Vec<Key> = arp_alone.iter().chain(&dns_alone).cloned().collect();
    let arp_packets: Vec<Key> = everything
        .iter()
        .filter(|k| k.0 == "ARPChef" && k.2 == "packet")
        .cloned()
        .collect();
    assert!(arp_packets.len() >= 2 && dns_alone.len() >= 3);

    let count = everything.len().to_string();
    let chefs = [
        "-c",
        "ARPChef",
        "-c",
        "DNSLookupChef",
        "-c",
        "PacketCountChef",
    ];
    let mut all_args = vec!["--json", "--count", count.as_str()];
    all_args.extend(chefs);
    let mut all = Child::spawn(
        "nd-print --json",
        eater("nd-print", hub.out_port, &all_args),
    );
    let arp_only = Child::spawn(
        "nd-print -c ARPChef --no-interval-dumplings",
        eater(
            "nd-print",
            hub.out_port,
            &["--json", "-c", "ARPChef", "--no-interval-dumplings"],
        ),
    );
    let dns_kitchen = Child::spawn(
        "nd-print -k k-dns",
        eater("nd-print", hub.out_port, &["--json", "-k", "k-dns"]),
    );
    wait_for_eaters(&hub, 3);
    kitchen("k-arp", "arp-who-has.pcap", Some(hub.in_port));
    kitchen("k-dns", "dns_udp.pcap", Some(hub.in_port));

    // --count N: exits 0 by itself after N dumplings, which are all of them.
    let status = all.wait_exit(WAIT);
    assert!(status.success(), "nd-print --count: {status}");
    assert_eq!(
        sorted(keys(&all.stdout())),
        sorted(everything.clone()),
        "nd-print --json printed what the kitchens made"
    );

    let got = arp_only.wait_for_stdout_count(WAIT, arp_packets.len(), |l| l.starts_with('{'));
    assert_eq!(
        keys(&got),
        arp_packets,
        "-c ARPChef --no-interval-dumplings"
    );
    let got = dns_kitchen.wait_for_stdout_count(WAIT, dns_alone.len(), |l| l.contains("k-dns"));
    assert_eq!(
        sorted(keys(&got)),
        sorted(dns_alone),
        "-k k-dns: only that kitchen's dumplings"
    );
    // Nothing from the other kitchen slipped through (the hub's own status
    // dumplings have no kitchen, so -k filters them out too).
    assert!(dns_kitchen.stdout().iter().all(|l| l.contains("\"k-dns\"")));
}

#[test]
fn our_nd_print_prints_what_the_python_nd_print_prints() {
    let hub = hub();
    let args = ["--no-color", "-c", "ARPChef", "-c", "DNSLookupChef"];
    let ours = Child::spawn("nd-print", eater("nd-print", hub.out_port, &args));
    let mut py = Command::new(peer_venv().join("bin").join("nd-print"));
    py.args(["-h", &format!("127.0.0.1:{}", hub.out_port)])
        .args(args);
    let theirs = Child::spawn("nd-print(py)", py);
    // How many dumplings of those two chefs the kitchens make (the oracle).
    let expected = [("k-arp", "arp-who-has.pcap"), ("k-dns", "dns_udp.pcap")]
        .iter()
        .flat_map(|(k, f)| keys(&kitchen(k, f, None).lines().collect::<Vec<_>>()))
        .filter(|k| k.0 == "ARPChef" || k.0 == "DNSLookupChef")
        .count();
    assert!(expected >= 5, "{expected}");
    wait_for_eaters(&hub, 2);
    kitchen("k-arp", "arp-who-has.pcap", Some(hub.in_port));
    kitchen("k-dns", "dns_udp.pcap", Some(hub.in_port));
    let text = |c: &Child| {
        c.wait_for_stdout_count(WAIT, expected, |l| l.contains(" from k-"));
        // Then the last payload's lines: both printers pretty-print each
        // payload (an object for these chefs) ending with a `}` line.
        c.wait_for_stdout_count(WAIT, expected, |l| l == "}");
        let out = c.stdout();
        let start = out.iter().position(|l| l.contains(" from k-")).unwrap();
        out[start..].join("\n").trim_end().to_string()
    };
    let (ours, theirs) = (text(&ours), text(&theirs));
    assert_eq!(ours, theirs, "the same text from both nd-prints");
    assert!(
        ours.contains("\"notes\": \"source device is new\""),
        "{ours}"
    );
}

#[test]
fn nd_hubstatus_and_nd_hubdetails_report_the_hub() {
    let hub = hub();
    let made = kitchen("k-arp", "arp-who-has.pcap", None).lines().count();
    assert!(made >= 3, "{made}");
    let _listener = Child::spawn("nd-print", eater("nd-print", hub.out_port, &["--json"]));
    wait_for_eaters(&hub, 1);
    kitchen("k-arp", "arp-who-has.pcap", Some(hub.in_port));
    // Let a status period pass so the kitchen's departure is counted.
    std::thread::sleep(Duration::from_millis(500));

    let out = eater(
        "nd-hubstatus",
        hub.out_port,
        &["--no-color", "--lines", "--count", "2"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "nd-hubstatus: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("nd-hub status from ws://127.0.0.1:"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("uptime: ")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    // Everything the kitchen made came in. The kitchen has gone; the
    // printer and nd-hubstatus itself are the eaters.
    assert!(
        lines[1].contains(&format!("dumplings in: {made}  out: ")),
        "{made} in? {text}"
    );
    assert!(lines[1].contains("kitchens: 0  eaters: 2 "), "{text}");
    assert!(!text.contains('\x1b'), "no colour when asked: {text:?}");

    let out = eater("nd-hubdetails", hub.out_port, &["--no-color"])
        .output()
        .unwrap();
    assert!(out.status.success(), "nd-hubdetails: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("Connected to nd-hub at ws://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("Waiting for a SystemStatus dumpling..."),
        "{text}"
    );
    // netdumplings' pretty print: sorted keys, 4 spaces.
    assert!(
        text.contains("\n    \"dumpling_eater_count\": 2,\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n    \"total_dumplings_in\": {made},\n")),
        "{text}"
    );
}

/// The whole pipeline over TLS with tokens: `nd-hub` serving wss:// with a
/// certificate from a test CA and requiring kitchen and eater tokens;
/// `nd-sniff` and `nd-print` given `wss://` URLs, the CA file and token
/// files. What nd-print prints equals what the kitchen makes (its `--print`
/// output); a kitchen with a wrong token is refused with a clear error.
#[test]
fn nd_sniff_and_nd_print_over_wss_with_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = nd_testkit::test_pki(dir.path(), "test");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let kitchen_tokens = write("kitchen-tokens", "# kitchens\nk-token-1\nk-token-2\n");
    let eater_tokens = write("eater-tokens", "e-token\n");
    let kitchen_token = write("kitchen.token", "k-token-2\n");
    let eater_token = write("eater.token", "e-token\n");
    let wrong_token = write("wrong.token", "k-token-3\n");

    let (in_port, out_port) = (free_port(), free_port());
    let mut c = Command::new(bin("nd-hub"));
    c.args(["-a", "127.0.0.1", "-f", "3600"])
        .args(["-i", &in_port.to_string(), "-o", &out_port.to_string()])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--kitchen-tokens-file")
        .arg(&kitchen_tokens)
        .arg("--eater-tokens-file")
        .arg(&eater_tokens);
    let hub = Child::spawn("nd-hub", c);
    hub.wait_for_line(WAIT, |l| l.contains("dumpling hub initiated"));

    let file = "linuxsll-arp.pcap";
    let expected: Vec<Key> = keys(&kitchen("tls", file, None).lines().collect::<Vec<_>>())
        .into_iter()
        .filter(|k| k.0 == "ARPChef" && k.2 == "packet")
        .map(|(chef, _, driver, payload)| (chef, "tls".into(), driver, payload))
        .collect();
    assert!(expected.len() >= 10, "{expected:?}");

    let mut printer = Command::new(env!("CARGO_BIN_EXE_nd-print"));
    printer
        .args(["-h", &format!("wss://localhost:{out_port}")])
        .arg("--ca-file")
        .arg(&ca)
        .arg("--token-file")
        .arg(&eater_token)
        .args(["--json", "--chef", "ARPChef", "--no-interval-dumplings"])
        .args(["--count", &expected.len().to_string()]);
    let mut printer = Child::spawn("nd-print", printer);
    hub.wait_for_line(WAIT, |l| l.contains("dumpling eater connected"));

    let sniff = |token: &PathBuf| {
        let mut c = Command::new(bin("nd-sniff"));
        c.args(["-n", "tls", "--read"])
            .arg(pcap(file))
            .arg("--chef-dir")
            .arg(target_dir().join("chefs"))
            .arg("--cache-dir")
            .arg(target_dir().join("chef-cache"))
            .args(["-h", &format!("wss://localhost:{in_port}")])
            .arg("--ca-file")
            .arg(&ca)
            .arg("--token-file")
            .arg(token);
        c
    };
    // A wrong token: refused by the hub, and nd-sniff says why.
    let intruder = Child::spawn("nd-sniff (wrong token)", sniff(&wrong_token));
    intruder.wait_for_line(WAIT, |l| {
        l.contains("refused this kitchen") && l.contains("unauthorized")
    });
    drop(intruder);
    hub.wait_for_line(WAIT, |l| l.contains("kitchen refused: wrong token"));

    let out = sniff(&kitchen_token).output().unwrap();
    assert!(
        out.status.success(),
        "nd-sniff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = printer.wait_exit(WAIT);
    assert!(status.success(), "nd-print: {:?}", printer.stderr());
    assert_eq!(keys(&printer.stdout()), expected);
}

/// (kitchen names, eater names) in the next status dumpling `watcher` gets.
async fn next_status(watcher: &mut nd_eater::Eater) -> (Vec<String>, Vec<String>) {
    let (k, e, _) = next_status_at(watcher).await;
    (k, e)
}

/// [`next_status`] and the status dumpling's creation time (the hub's clock).
async fn next_status_at(watcher: &mut nd_eater::Eater) -> (Vec<String>, Vec<String>, f64) {
    let d = tokio::time::timeout(WAIT, watcher.next())
        .await
        .expect("a status dumpling")
        .unwrap()
        .unwrap();
    let p = d.payload_value();
    let names = |list: &str, info: &str, key: &str| -> Vec<String> {
        p[list]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x[info][key].as_str().map(String::from))
            .collect()
    };
    (
        names("dumpling_kitchens", "info_from_kitchen", "kitchen_name"),
        names("dumpling_eaters", "info_from_eater", "eater_name"),
        d.metadata.creation_time,
    )
}

/// kill -9 of a kitchen or an eater (no close frame, the kernel just drops
/// the sockets): the hub's next status dumpling, within one status period,
/// no longer lists it.
#[test]
fn a_killed_kitchen_or_eater_leaves_the_hub_status_within_one_period() {
    const PERIOD: Duration = Duration::from_millis(500);
    let (in_port, out_port) = (free_port(), free_port());
    let mut c = Command::new(bin("nd-hub"));
    c.args(["-a", "127.0.0.1", "-f", "0.5"]).args([
        "-i",
        &in_port.to_string(),
        "-o",
        &out_port.to_string(),
    ]);
    let _hub = Child::spawn("nd-hub", c);
    wait_for_port(out_port, WAIT);

    let victim_eater = Child::spawn(
        "nd-print",
        eater("nd-print", out_port, &["-n", "victim-eater", "--json"]),
    );
    let mut k = Command::new(bin("nd-sniff"));
    k.args(["-n", "victim-kitchen", "--read"])
        .arg(pcap("modbusBig.pcap"))
        .args(["--repeat", "100000", "--realtime"])
        .arg("--chef-dir")
        .arg(target_dir().join("chefs"))
        .arg("--cache-dir")
        .arg(target_dir().join("chef-cache"))
        .args(["-h", &format!("127.0.0.1:{in_port}")]);
    let victim_kitchen = Child::spawn("nd-sniff", k);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut watcher = nd_eater::Eater::connect(
            nd_eater::EaterConfig::new(format!("127.0.0.1:{out_port}"), "watcher")
                .chef("SystemStatusChef"),
        )
        .await
        .unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (k, e) = next_status(&mut watcher).await;
            if k.contains(&"victim-kitchen".to_string()) && e.contains(&"victim-eater".to_string())
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "victims never listed");
        }
        for (victim, is_kitchen) in [(&victim_kitchen, true), (&victim_eater, false)] {
            let now = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
            };
            victim.signal("KILL");
            let killed = now();
            // Judged on the hub's clock (each status says when it was made),
            // not on when this test got to read it: a status made more than
            // one period after the kill must not list the victim.
            loop {
                let (k, e, made) = next_status_at(&mut watcher).await;
                let listed = if is_kitchen {
                    k.contains(&"victim-kitchen".to_string())
                } else {
                    e.contains(&"victim-eater".to_string())
                };
                if !listed {
                    break;
                }
                let after = made - killed;
                assert!(
                    after <= PERIOD.as_secs_f64(),
                    "still listed in a status made {after:.3} s after the kill \
                     (status period {PERIOD:?})"
                );
            }
            assert!(now() - killed < WAIT.as_secs_f64(), "no status without it");
        }
    });
}

/// Every tool fails the same clear way when it cannot start: the hub is not
/// there (exit 1, the tool's name, the reason, a hint), or its token file
/// cannot be read (exit 1, before any connection is tried).
#[test]
fn every_tool_says_why_it_cannot_start() {
    let dead = free_port(); // nothing listens here
    for tool in ["nd-print", "nd-hubstatus", "nd-hubdetails"] {
        let out = eater(tool, dead, &[]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {err}");
        assert!(err.starts_with(&format!("{tool}: ")), "{tool}: {err}");
        assert!(err.contains("Is nd-hub running?"), "{tool}: {err}");

        let out = eater(tool, dead, &["--token-file", "/nonexistent/token"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {err}");
        assert!(
            err.starts_with(&format!("{tool}: cannot read the token")),
            "{tool}: {err}"
        );
        assert!(!err.contains("Is nd-hub running?"), "{tool}: {err}");
    }
}
