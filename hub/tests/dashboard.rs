//! The dashboard (`nd-hub --web PORT`) in a real browser: Debian's Chromium,
//! headless, driven by playwright-core (`tests/browser/dashboard.mjs`), opens
//! the page while two real kitchens replay captures into a real hub, and the
//! test asserts that the page shows what the kitchens made (an independent
//! oracle: the same replays with `--print`). Screenshots, light and dark,
//! land in `artifacts/dashboard-{light,dark}.png`.
//!
//! Needs `just build` and `just chefs` (nd-sniff and the standard chefs),
//! Chromium at /usr/bin/chromium (`.ci/run` installs it) and
//! `tests/browser/node_modules` (`just test` runs `npm ci` there).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nd_testkit::{free_port, pcaps_dir, target_dir, wait_for_port, workspace_dir, Child};

const WAIT: Duration = Duration::from_secs(120);

/// The two kitchens: (name, capture).
const KITCHENS: [(&str, &str); 2] = [("k-dns", "dns_tcp.pcap"), ("k-arp", "arp-who-has.pcap")];

fn nd_sniff(kitchen: &str, pcap: &str) -> Command {
    let exe = target_dir().join("debug").join("nd-sniff");
    assert!(exe.exists(), "{} missing: run `just build`", exe.display());
    let mut c = Command::new(exe);
    c.args(["-n", kitchen, "--read"])
        .arg(pcaps_dir().join(pcap))
        .arg("--chef-dir")
        .arg(target_dir().join("chefs"))
        .arg("--cache-dir")
        .arg(target_dir().join("chef-cache"));
    c
}

/// What the page should show, from the kitchens' own `--print` output:
/// PacketCountChef's final counts summed over both kitchens, every DNS
/// hostname looked up, and how many ARP dumplings carry a note.
fn oracle() -> (BTreeMap<String, u64>, Vec<String>, usize) {
    let mut layers = BTreeMap::new();
    let mut hostnames = Vec::new();
    let mut notes = 0;
    for (kitchen, pcap) in KITCHENS {
        let out = nd_sniff(kitchen, pcap).arg("--print").output().unwrap();
        assert!(out.status.success(), "nd-sniff --print: {out:?}");
        let mut last_counts = None;
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let d: serde_json::Value = serde_json::from_str(line).unwrap();
            let p = &d["payload"];
            match d["metadata"]["chef"].as_str().unwrap() {
                "PacketCountChef" => last_counts = Some(p["packet_counts"].clone()),
                "DNSLookupChef" if d["metadata"]["driver"] == "packet" => {
                    let h = p["lookup"]["hostname"].as_str().unwrap().to_string();
                    if !hostnames.contains(&h) {
                        hostnames.push(h);
                    }
                }
                "ARPChef" if p["notes"].is_string() => notes += 1,
                _ => {}
            }
        }
        for (layer, n) in last_counts.unwrap().as_object().unwrap() {
            *layers.entry(layer.clone()).or_insert(0) += n.as_u64().unwrap();
        }
    }
    (layers, hostnames, notes)
}

#[test]
fn the_dashboard_shows_what_the_kitchens_make() {
    let (layers, hostnames, notes) = oracle();
    assert!(!hostnames.is_empty() && notes > 0 && layers.len() > 3);

    let (in_port, out_port, web_port) = (free_port(), free_port(), free_port());
    let mut hub = Command::new(env!("CARGO_BIN_EXE_nd-hub"));
    hub.args(["-a", "127.0.0.1", "-f", "0.5"])
        .args(["-i", &in_port.to_string(), "-o", &out_port.to_string()])
        .args(["--web", &web_port.to_string()]);
    let _hub = Child::spawn("nd-hub", hub);
    wait_for_port(web_port, WAIT);

    // Plain HTTP first: the page, its config, and a 404.
    let get = |path: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", web_port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    assert!(get("/").starts_with("HTTP/1.1 200 OK"));
    assert!(get("/config.json").ends_with(&format!("{{\"out_port\":{out_port},\"tls\":false}}")));
    assert!(get("/nope").starts_with("HTTP/1.1 404"));

    let artifacts = workspace_dir().join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot: PathBuf = artifacts.join("dashboard.png");
    let expect =
        serde_json::json!({ "layers": layers, "hostnames": hostnames, "arp_notes": notes });
    let browser_dir = workspace_dir().join("tests").join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/browser (just test does)"
    );
    let mut node = Command::new("node");
    node.arg(browser_dir.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{web_port}/"))
        .arg(expect.to_string())
        .arg(&screenshot);
    let mut browser = Child::spawn("chromium", node);
    browser.wait_for_line(WAIT, |l| l == "READY");

    for (kitchen, pcap) in KITCHENS {
        let out = nd_sniff(kitchen, pcap)
            .args(["-h", &format!("127.0.0.1:{in_port}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "nd-sniff to the hub: {out:?}");
    }

    let status = browser.wait_exit(WAIT);
    assert!(
        status.success(),
        "browser script failed: {}",
        browser.stderr().join("\n")
    );
    let shown: Vec<serde_json::Value> = browser
        .stdout()
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown.len(), 2, "one report per theme: {shown:?}");
    let (light, dark) = (&shown[0], &shown[1]);

    assert_eq!(light["connection"], "open", "{light}");
    assert_eq!(
        light["errors"],
        serde_json::json!([]),
        "page errors: {light}"
    );
    // The packet-count table: exactly the kitchens' summed final counts.
    let table: BTreeMap<String, u64> = serde_json::from_value(light["layers"].clone()).unwrap();
    assert_eq!(table, layers, "packet-count table");
    // The DNS feed: every hostname looked up.
    let feed: Vec<String> = serde_json::from_value(light["hostnames"].clone()).unwrap();
    for h in &hostnames {
        assert!(feed.contains(h), "{h} missing from the DNS feed {feed:?}");
    }
    // ARP activity, with netdumplings' "new device" note.
    let arp = light["arp"].as_array().unwrap();
    assert!(
        arp.iter()
            .any(|l| l.as_str().unwrap().contains("source device is new")),
        "{arp:?}"
    );
    // Both themes render, differently.
    assert_eq!(dark["connection"], "open", "{dark}");
    assert_ne!(light["background"], dark["background"], "themes");
    assert!(artifacts.join("dashboard-light.png").exists());
    assert!(artifacts.join("dashboard-dark.png").exists());
}
