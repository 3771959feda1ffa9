//! Prometheus text parsed by the reference parser, Python's
//! `prometheus_client` (in the peer's venv): an independent oracle for
//! both daemons' `/metrics` pages.

use std::io::Write as _;
use std::process::Command;

use crate::peer_venv;

/// One sample: name, labels, value.
pub type Sample = (String, serde_json::Map<String, serde_json::Value>, f64);

/// Parses Prometheus text with the reference Python parser (an independent
/// oracle: it raises on anything malformed).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        for fam in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in fam.samples:\n\
        \x20       print(json.dumps([s.name, s.labels, s.value]))\n";
    let mut child = Command::new(peer_venv().join("bin").join("python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python from the peer venv (just peer)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client cannot parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The value of the sample `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(v))
        })
        .map(|s| s.2)
}
