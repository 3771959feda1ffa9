//! Test helpers shared by every crate's integration tests.
//!
//! - [`free_port`]: a loopback port nobody listens on (for subprocesses that
//!   must be told their port up front).
//! - [`Child`]: a subprocess killed on drop, with its stdout/stderr collected
//!   line by line on background threads, and [`Child::wait_for_line`].
//! - [`peer_venv`]: where `just peer` installed the Python netdumplings peer.
//! - [`workspace_dir`], [`pcaps_dir`], [`target_dir`]: paths tests need.
//! - [`prometheus`]: `/metrics` text parsed by Python's `prometheus_client`.

#![forbid(unsafe_code)]

pub mod nats;
pub mod prometheus;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn workspace_dir() -> PathBuf {
    // This crate lives in <root>/testkit.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit has a parent")
        .to_path_buf()
}

/// The cargo target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_dir().join(d)
            }
        }
        None => workspace_dir().join("target"),
    }
}

/// The test corpus inside the repository: `testdata/pcaps` (real captures,
/// their oracles and licences; `testdata/pcaps/README.md`).
///
/// Always inside the checkout, never beside it: a user's clone, a package
/// build or CI must pass the tests from the repository alone.
pub fn pcaps_dir() -> PathBuf {
    workspace_dir().join("testdata").join("pcaps")
}

/// The Python netdumplings 0.5.1 virtualenv made by `just peer`.
///
/// Panics with instructions when it is missing: the interop tests must not
/// silently pass without the real peer.
pub fn peer_venv() -> PathBuf {
    let venv = std::env::var_os("ND_PEER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join(".peer").join("venv"));
    assert!(
        venv.join("bin").join("nd-hub").exists(),
        "the Python netdumplings peer is not installed at {}; run `just peer` (or `just test`)",
        venv.display()
    );
    venv
}

/// A free TCP port on 127.0.0.1 for a server a test starts.
///
/// Not `bind(0)`: the kernel draws those from the ephemeral range
/// (32768-60999 on Linux), the same range it draws the local ports of
/// outgoing connections from, so a test opening many client sockets could
/// take the port before the server binds it. These come from below that
/// range, from a process-wide counter (seeded by the pid, so that two test
/// binaries running at once start far apart); each is checked bindable.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    /// The pool: 20000..32000.
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = (std::process::id() as u64 * 7919 % SPAN as u64) as u32;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (seed + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// Lines a child printed so far, shared with its reader threads.
#[derive(Default)]
struct Lines {
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_closed: bool,
    stderr_closed: bool,
}

/// Which output of a child.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A subprocess that is killed when dropped; its output is collected.
pub struct Child {
    child: std::process::Child,
    name: String,
    lines: Arc<(Mutex<Lines>, Condvar)>,
}

impl Child {
    /// Spawns `cmd` with piped stdout/stderr.
    pub fn spawn(name: &str, mut cmd: Command) -> Child {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let lines = Arc::new((Mutex::new(Lines::default()), Condvar::new()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        for (stream, is_out) in [
            (Box::new(out) as Box<dyn std::io::Read + Send>, true),
            (Box::new(err), false),
        ] {
            let lines = lines.clone();
            let echo = std::env::var_os("ND_TEST_ECHO").is_some();
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        eprintln!("[{name}] {line}");
                    }
                    let (m, cv) = &*lines;
                    let mut l = m.lock().unwrap();
                    if is_out {
                        l.stdout.push(line);
                    } else {
                        l.stderr.push(line);
                    }
                    cv.notify_all();
                }
                let (m, cv) = &*lines;
                let mut l = m.lock().unwrap();
                if is_out {
                    l.stdout_closed = true;
                } else {
                    l.stderr_closed = true;
                }
                cv.notify_all();
            });
        }
        Child {
            child,
            name: name.to_string(),
            lines,
        }
    }

    /// OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stdout.clone()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stderr.clone()
    }

    /// Waits until some line (stdout or stderr) satisfies `pred`; returns it.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.lines;
        let mut l = m.lock().unwrap();
        loop {
            if let Some(line) = l.stdout.iter().chain(l.stderr.iter()).find(|s| pred(s)) {
                return line.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "{}: no matching line within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.name,
                    l.stdout.join("\n"),
                    l.stderr.join("\n")
                );
            }
            l = cv.wait_timeout(l, deadline - now).unwrap().0;
        }
    }

    /// Waits until stdout holds at least `n` lines satisfying `pred`.
    pub fn wait_for_stdout_count(
        &self,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        self.wait_for_count(Stream::Stdout, timeout, n, pred)
    }

    /// Waits until stderr holds at least `n` lines satisfying `pred`.
    pub fn wait_for_stderr_count(
        &self,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        self.wait_for_count(Stream::Stderr, timeout, n, pred)
    }

    fn wait_for_count(
        &self,
        stream: Stream,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.lines;
        let mut l = m.lock().unwrap();
        loop {
            let lines = match stream {
                Stream::Stdout => &l.stdout,
                Stream::Stderr => &l.stderr,
            };
            let hits: Vec<String> = lines.iter().filter(|s| pred(s)).cloned().collect();
            if hits.len() >= n {
                return hits;
            }
            let now = Instant::now();
            let closed = match stream {
                Stream::Stdout => l.stdout_closed,
                Stream::Stderr => l.stderr_closed,
            };
            if now >= deadline || closed {
                panic!(
                    "{}: {} of {n} lines on {stream:?} within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.name,
                    hits.len(),
                    l.stdout.join("\n"),
                    l.stderr.join("\n")
                );
            }
            l = cv
                .wait_timeout(l, (deadline - now).min(Duration::from_millis(200)))
                .unwrap()
                .0;
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.child.id());
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit; returns its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads drain the pipes.
                let (m, cv) = &*self.lines;
                let mut l = m.lock().unwrap();
                let drain_deadline = Instant::now() + Duration::from_secs(2);
                while !(l.stdout_closed && l.stderr_closed) && Instant::now() < drain_deadline {
                    l = cv.wait_timeout(l, Duration::from_millis(50)).unwrap().0;
                }
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {timeout:?}\n--- stderr ---\n{}",
                    self.name,
                    self.stderr().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A test CA and a certificate for localhost/127.0.0.1 signed by it, as
/// PEM files in `dir`: (`{prefix}-ca.pem`, `cert.pem`, `key.pem`). A second
/// call with another prefix rotates the certificate in place under a new CA.
pub fn test_pki(dir: &Path, prefix: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("nd test CA {prefix}"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let paths = (
        dir.join(format!("{prefix}-ca.pem")),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.1, one request): (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("HTTP port open");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// `systemd-analyze verify` of the unit `text` (its `ExecStart=` program
/// `installed` replaced by `binary`, since verify checks that it exists):
/// panics on any error or warning (verify exits 0 on warnings such as an
/// unknown key; none are allowed).
pub fn systemd_verify(file_name: &str, text: &str, installed: &str, binary: &str) {
    assert!(text.contains(&format!("ExecStart={installed} ")), "{text}");
    let text = text.replace(installed, binary);
    let dir = std::env::temp_dir().join(format!("nd-verify-{}-{file_name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(file_name);
    std::fs::write(&copy, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup.sh installs it)");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "{stderr}");
}
