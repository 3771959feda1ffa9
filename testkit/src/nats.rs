//! Real `nats-server` processes for the bus tests: one server, or a
//! three-node cluster, on free loopback ports with JetStream on, each in
//! its own temporary directory. Debian's server (2.9) is what `.ci/run`
//! and `./x test` install.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{free_port, Child};

/// How long a server may take to say it is ready.
const READY: Duration = Duration::from_secs(30);

/// The `nats-server` binary: `$ND_NATS_SERVER`, else the one on PATH, else
/// Debian's `/usr/sbin/nats-server`.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ND_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    let bin = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"));
    assert!(
        bin.is_file(),
        "nats-server is not installed: `apt-get install nats-server` (./x test installs it)"
    );
    bin
}

/// One `nats-server` with JetStream, restartable on the same port and
/// store (so a stream survives the restart, as on a real host).
pub struct NatsServer {
    /// The client port.
    pub port: u16,
    /// The cluster port (cluster members only).
    pub cluster_port: Option<u16>,
    /// Its name (`n0`, `n1`, ...).
    pub name: String,
    /// Routes to the other members.
    routes: Vec<u16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// A single server.
    pub fn start() -> NatsServer {
        let mut s = NatsServer {
            port: free_port(),
            cluster_port: None,
            name: "n0".into(),
            routes: Vec::new(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        s.restart();
        s
    }

    /// A three-node cluster (JetStream clustered: streams with replicas 3
    /// survive the loss of one node).
    pub fn cluster() -> Vec<NatsServer> {
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes: Vec<NatsServer> = (0..3)
            .map(|i| NatsServer {
                port: free_port(),
                cluster_port: Some(cluster_ports[i]),
                name: format!("n{i}"),
                routes: cluster_ports
                    .iter()
                    .copied()
                    .filter(|&p| p != cluster_ports[i])
                    .collect(),
                dir: tempfile::tempdir().expect("temp dir"),
                child: None,
            })
            .collect();
        // Start all before waiting on any: a clustered JetStream server
        // waits for its peers.
        for n in &mut nodes {
            n.spawn();
        }
        for n in &nodes {
            n.wait_ready();
        }
        nodes
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port and store).
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let mut cmd = Command::new(nats_server_bin());
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .arg("-sd")
            .arg(self.dir.path())
            .args(["--server_name", &self.name]);
        if let Some(cp) = self.cluster_port {
            let routes: Vec<String> = self
                .routes
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.args(["--cluster_name", "nd-test"])
                .args(["--cluster", &format!("nats://127.0.0.1:{cp}")])
                .args(["--routes", &routes.join(",")]);
        }
        self.child = Some(Child::spawn(&format!("nats-server {}", self.name), cmd));
    }

    fn wait_ready(&self) {
        if let Some(c) = &self.child {
            c.wait_for_line(READY, |l| l.contains("Server is ready"));
        }
    }

    /// Kills it (SIGKILL: a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.signal("KILL");
            c.wait_exit(Duration::from_secs(10));
        }
    }

    /// What it logged.
    pub fn log(&self) -> Vec<String> {
        self.child.as_ref().map(Child::stderr).unwrap_or_default()
    }
}
