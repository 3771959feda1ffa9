//! Tries to escape the sandbox and reports, in its interval payload, what
//! each attempt got. Under the kitchen every attempt must fail.
use netdumplings_chef::{export_chef, json, Chef, Value};

#[derive(Default)]
pub struct Sandbox;

fn attempt<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> Value {
    match r {
        Ok(v) => json!({ "ok": format!("{v:?}") }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

impl Chef for Sandbox {
    const NAME: &'static str = "SandboxChef";
    fn interval(&mut self) -> Option<Value> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Some(json!({
            "read_file": attempt(std::fs::read_to_string("/etc/passwd")),
            "read_dir": attempt(std::fs::read_dir("/").map(|d| d.count())),
            "write_file": attempt(std::fs::write("/tmp/nd-sandbox-escape", b"x")),
            "tcp_connect": attempt(std::net::TcpStream::connect("127.0.0.1:11347")),
            "udp_bind": attempt(std::net::UdpSocket::bind("0.0.0.0:0")),
            "dns": attempt(std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|a| a.count())),
            "env": env.len(),
            "args": std::env::args().count(),
            "wall_clock": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }))
    }
}
export_chef!(Sandbox);
