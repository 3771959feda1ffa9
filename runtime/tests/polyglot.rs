//! Chefs in every language: each language's PacketCountChef and ARPChef
//! (and the JS and C DNSLookupChef), run through the real kitchen on every
//! shared capture, print payloads byte-identical to the Rust chefs'; and each language's `new-chef`
//! template builds and loads on the first try.
//!
//! Needs `just chefs` (which builds every language's chefs into
//! `target/polyglot/<lang>/`); `just test` runs it first.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::{nd_sniff, pcaps};
use nd_testkit::{target_dir, workspace_dir};

/// The languages besides Rust, as folders of `chefs/`.
const LANGUAGES: [&str; 4] = ["python", "js", "c", "zig"];

/// The chefs every language implements (file names in `target/polyglot/<lang>/`).
const CHEFS: [&str; 2] = ["packet_count", "arp"];

/// Chefs only some languages implement: (language, chef).
const EXTRA: [(&str, &str); 2] = [("js", "dns_lookup"), ("c", "dns_lookup")];

/// Every (language, chef) held to its Rust twin.
fn implementations() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = CHEFS
        .iter()
        .flat_map(|chef| LANGUAGES.iter().map(move |lang| (*lang, *chef)))
        .collect();
    v.extend(EXTRA);
    v
}

/// Parallel nd-sniff runs (the machine has 2 cores; runs are short).
const WORKERS: usize = 2;

fn polyglot_chef(lang: &str, chef: &str) -> PathBuf {
    let p = target_dir()
        .join("polyglot")
        .join(lang)
        .join(format!("{chef}.wasm"));
    assert!(p.exists(), "{} missing: run `just chefs`", p.display());
    p
}

fn captures() -> Vec<PathBuf> {
    let v = common::all_captures();
    assert!(
        v.len() >= 37,
        "expected the test captures (testdata/pcaps and testdata/peer), found {}",
        v.len()
    );
    v
}

/// The payloads `chef` printed on `pcap`, as the exact JSON text the chef
/// made (the kitchen passes it through unparsed), each with its driver.
fn payload_texts(chef: &Path, pcap: &Path) -> Result<Vec<(String, String)>, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(chef, dir.path().join(chef.file_name().unwrap())).unwrap();
    let out = nd_sniff()
        .arg("--read")
        .arg(pcap)
        .args(["--print", "--no-watch", "--chef-dir"])
        .arg(dir.path())
        .output()
        .expect("run nd-sniff");
    if !out.status.success() {
        return Err(format!(
            "nd-sniff exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    stdout
        .lines()
        .map(|line| {
            // `{"metadata": {...}, "payload": <the chef's text>}`
            let (head, payload) = line
                .split_once(", \"payload\": ")
                .ok_or_else(|| format!("no payload in {line}"))?;
            let payload = payload
                .strip_suffix('}')
                .ok_or_else(|| format!("unterminated {line}"))?;
            let meta: serde_json::Value = serde_json::from_str(&format!("{head}}}"))
                .map_err(|e| format!("bad metadata in {line}: {e}"))?;
            let driver = meta["metadata"]["driver"]
                .as_str()
                .unwrap_or("")
                .to_string();
            Ok((driver, payload.to_string()))
        })
        .collect()
}

/// Runs `jobs` on `WORKERS` threads, in any order.
fn parallel<T: Send>(jobs: Vec<T>, run: impl Fn(T) + Sync) {
    let queue = Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().pop() else {
                    return;
                };
                run(job);
            });
        }
    });
}

#[test]
fn every_language_matches_the_rust_chefs_byte_for_byte() {
    let captures = captures();
    let reference = |chef: &str| {
        target_dir()
            .join("polyglot")
            .join("rust")
            .join(format!("{chef}.wasm"))
    };
    // Compile every component once, one at a time, so that the parallel runs
    // below all hit the kitchen's compile cache (the Python and JavaScript
    // components take seconds to compile).
    let first = &captures[0];
    let pairs = implementations();
    let mut chefs: Vec<&str> = pairs.iter().map(|(_, chef)| *chef).collect();
    chefs.sort();
    chefs.dedup();
    for chef in &chefs {
        payload_texts(&reference(chef), first).expect("the Rust reference chef runs");
    }
    for (lang, chef) in &pairs {
        let _ = payload_texts(&polyglot_chef(lang, chef), first);
    }

    let mut jobs = Vec::new();
    for pcap in &captures {
        for chef in &chefs {
            jobs.push(("rust", *chef, pcap.clone()));
        }
        for (lang, chef) in &pairs {
            jobs.push((*lang, *chef, pcap.clone()));
        }
    }
    let results = Mutex::new(BTreeMap::new());
    parallel(jobs, |(lang, chef, pcap)| {
        let wasm = if lang == "rust" {
            reference(chef)
        } else {
            polyglot_chef(lang, chef)
        };
        let out = payload_texts(&wasm, &pcap);
        results.lock().unwrap().insert((lang, chef, pcap), out);
    });
    let results = results.into_inner().unwrap();

    let mut failures = Vec::new();
    let mut compared = 0;
    for chef in chefs {
        let mut non_empty = 0;
        for pcap in &captures {
            let want = results[&("rust", chef, pcap.clone())]
                .as_ref()
                .unwrap_or_else(|e| panic!("Rust {chef} on {}: {e}", pcap.display()));
            non_empty += usize::from(!want.is_empty());
            let langs = pairs.iter().filter(|(_, c)| *c == chef).map(|(l, _)| *l);
            for lang in langs {
                compared += 1;
                let name = pcap.file_name().unwrap().to_string_lossy();
                match &results[&(lang, chef, pcap.clone())] {
                    Err(e) => failures.push(format!("{lang} {chef} on {name}: {e}")),
                    Ok(got) if got == want => {}
                    Ok(got) => {
                        let first_diff = got
                            .iter()
                            .zip(want)
                            .find(|(g, w)| g != w)
                            .map(|(g, w)| format!("\n    got  {g:?}\n    want {w:?}"))
                            .unwrap_or_default();
                        failures.push(format!(
                            "{lang} {chef} on {name}: {} payloads, want {}{first_diff}",
                            got.len(),
                            want.len()
                        ));
                    }
                }
            }
        }
        // The comparison means something only if the chefs said something:
        // PacketCountChef and DNSLookupChef report on every capture (at the
        // final interval), ARPChef where there is ARP.
        let expected = if chef == "arp" { 5 } else { captures.len() };
        assert!(
            non_empty >= expected,
            "{chef}: only {non_empty} captures gave payloads"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} (language, chef, capture) runs differ from Rust:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Copies what `scripts/new-chef.sh` and a language's `build.sh` need into
/// a scratch tree laid out like the repository, so that scaffolding a chef
/// never touches the real source tree.
fn scratch_repo(lang: &str) -> tempfile::TempDir {
    let root = workspace_dir();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir_all(t.join("chefs")).unwrap();
    std::fs::create_dir_all(t.join("scripts")).unwrap();
    let copy = |from: &Path, to: &Path| {
        let status = Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success(), "cp {}", from.display());
    };
    copy(&root.join("wit"), t);
    copy(
        &root.join("scripts").join("new-chef.sh"),
        &t.join("scripts"),
    );
    std::fs::create_dir_all(t.join("chefs").join(lang)).unwrap();
    for entry in std::fs::read_dir(root.join("chefs").join(lang)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let dest = t.join("chefs").join(lang).join(&name);
        match name.to_str().unwrap() {
            // Big or built: link, don't copy.
            "node_modules" | "target" => std::os::unix::fs::symlink(entry.path(), dest).unwrap(),
            _ => copy(&entry.path(), &dest),
        }
    }
    std::os::unix::fs::symlink(root.join(".tools"), t.join(".tools")).unwrap();
    // Host crates the Rust chef SDK compiles in (nd-scapy and its nd-decode).
    for krate in ["scapy", "decode"] {
        std::os::unix::fs::symlink(root.join(krate), t.join(krate)).unwrap();
    }
    tmp
}

#[test]
fn new_chef_templates_build_and_load_in_every_language() {
    let mut failures = Vec::new();
    for lang in std::iter::once("rust").chain(LANGUAGES) {
        let scratch = scratch_repo(lang);
        let t = scratch.path();
        let run = |cmd: &mut Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?} failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let result = (|| {
            run(Command::new(t.join("scripts/new-chef.sh")).args([lang, "ZzProbeChef"]))?;
            let out_dir = if lang == "rust" {
                // The scaffolded crate only; the shared target dir keeps
                // crates.io dependencies compiled.
                run(Command::new("cargo")
                    .current_dir(t.join("chefs/rust"))
                    .env("CARGO_TARGET_DIR", target_dir())
                    .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
                    .args(["-p", "chef-zz-probe-chef"]))?;
                target_dir().join("wasm32-wasip2/release")
            } else {
                run(Command::new(t.join("chefs").join(lang).join("build.sh"))
                    .env("CARGO_TARGET_DIR", t.join("target")))?;
                t.join("target/polyglot").join(lang)
            };
            let file = if lang == "rust" {
                "chef_zz_probe_chef.wasm"
            } else {
                "zz_probe_chef.wasm"
            };
            let wasm = out_dir.join(file);
            let texts = payload_texts(&wasm, &pcaps().join("dns_udp.pcap"))?;
            // The template counts packets (2 in dns_udp.pcap) and reports at each interval.
            match texts.last() {
                Some((driver, json)) if driver == "interval" => {
                    let v: serde_json::Value =
                        serde_json::from_str(json).map_err(|e| e.to_string())?;
                    if v["packets"] != 2 {
                        return Err(format!("template payload {json}, want packets = 2"));
                    }
                    Ok(())
                }
                other => Err(format!("template printed {other:?}")),
            }
        })();
        if let Err(e) = result {
            failures.push(format!("{lang}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "templates failed:\n{}",
        failures.join("\n")
    );
}

/// The imports of a component's world, as `wasm-tools component wit` prints them.
fn component_imports(wasm: &Path) -> Vec<String> {
    let wasm_tools = workspace_dir().join(".tools/venv/bin/wasm-tools");
    let out = Command::new(&wasm_tools)
        .args(["component", "wit"])
        .arg(wasm)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `just chefs`)", wasm_tools.display()));
    assert!(out.status.success(), "wasm-tools on {}", wasm.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("import "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn compiled_language_and_js_chefs_import_nothing_but_the_kitchen() {
    // C, Zig and JavaScript chefs are built to import no WASI at all: the
    // sandbox has nothing to withhold. Python's CPython imports WASI (files,
    // sockets, clocks, ...), granted nothing: see the next test.
    for lang in ["c", "zig", "js"] {
        for chef in CHEFS {
            let imports = component_imports(&polyglot_chef(lang, chef));
            assert!(!imports.is_empty(), "{lang} {chef}: no imports parsed");
            for i in &imports {
                assert!(
                    i.starts_with("netdumplings:chef/"),
                    "{lang} {chef} imports {i}"
                );
            }
        }
    }
    for chef in CHEFS {
        let imports = component_imports(&polyglot_chef("python", chef));
        assert!(
            imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
            "expected CPython to import WASI: {imports:?}"
        );
        for i in &imports {
            assert!(
                i.starts_with("netdumplings:chef/") || i.starts_with("wasi:"),
                "python {chef} imports {i}"
            );
        }
    }
}

#[test]
fn a_python_chef_gets_no_capabilities() {
    // Built here from runtime/tests/chefs/python-sandbox with the Python SDK.
    let root = workspace_dir();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("sandbox.wasm");
    let out = Command::new(root.join(".tools/venv/bin/componentize-py"))
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "chef", "componentize", "-p"])
        .arg(root.join("runtime/tests/chefs/python-sandbox"))
        .arg("-p")
        .arg(root.join("chefs/python/sdk"))
        .args(["app", "-o"])
        .arg(&wasm)
        .output()
        .expect("componentize-py (run `just chefs`)");
    assert!(
        out.status.success(),
        "componentize-py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts = payload_texts(&wasm, &pcaps().join("dns_udp.pcap")).expect("runs");
    let (_, last) = texts.last().expect("an interval payload");
    let p: serde_json::Value = serde_json::from_str(last).unwrap();
    common::assert_sandbox_denied(&p);
}
