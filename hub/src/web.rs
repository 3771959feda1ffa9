//! The hub's HTTP side: a small server for
//!
//! - the dashboard (`nd-hub --web PORT`): the static page in `hub/web/`,
//!   embedded in the binary. The page itself is an eater: the browser
//!   connects to the hub's out port like any other eater, so the hub serves
//!   files here and nothing else;
//! - `/metrics` (Prometheus text) and `/healthz` (`nd-hub --metrics PORT`).
//!
//! Both may share one port. Neither is authenticated: bind `--metrics` to
//! an internal address (`--metrics 127.0.0.1:9101`) where that matters.
//!
//! Why not hyper/axum: a few fixed routes, GET only, one response per
//! connection. `httparse` (already a dependency, through tungstenite) parses
//! the request; the rest is a bounded read and a write. Hostile clients are
//! bounded: [`MAX_REQUEST_HEAD`] bytes within [`REQUEST_TIMEOUT`], then the
//! connection is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// Largest request head (request line and headers) read.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers parsed in a request.
const MAX_HEADERS: usize = 32;

/// The page's files: (path, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
];

/// What the page may load and connect to: its own files, and WebSockets
/// (the hub's out port is another port, hence any ws/wss origin).
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What one HTTP listener serves.
#[derive(Clone)]
pub(crate) struct Site {
    /// The dashboard, if served here.
    pub(crate) dashboard: Option<Dashboard>,
    /// The hub whose `/metrics` and `/healthz` are served here, if any.
    pub(crate) metrics: Option<Arc<crate::State>>,
}

/// What the dashboard page needs to find the out port.
#[derive(Clone, Copy)]
pub(crate) struct Dashboard {
    /// The hub's out port (the bound one, if 0 was asked).
    pub(crate) out_port: u16,
    /// Whether the out port speaks wss://.
    pub(crate) tls: bool,
}

/// A response: status line, content type, body.
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }
}

/// The response to a request for `path` (query string included) with `method`.
fn route(method: &str, path: &str, site: &Site) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::text("405 Method Not Allowed", "only GET");
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if let Some(state) = &site.metrics {
        match path {
            "/metrics" => {
                return Response {
                    status: "200 OK",
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: state.metrics(),
                }
            }
            // Serving at all means the hub is up: the accept loops and
            // this server stop together at shutdown.
            "/healthz" => return Response::text("200 OK", "ok"),
            _ => {}
        }
    }
    let Some(dashboard) = site.dashboard else {
        return Response::text("404 Not Found", "not found");
    };
    if path == "/config.json" {
        // Where the page's WebSocket goes: the hub's out port on the host
        // the page came from.
        return Response {
            status: "200 OK",
            content_type: "application/json",
            body: format!(
                "{{\"out_port\":{},\"tls\":{}}}",
                dashboard.out_port, dashboard.tls
            ),
        };
    }
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => Response {
            status: "200 OK",
            content_type,
            body: body.to_string(),
        },
        None => Response::text("404 Not Found", "not found"),
    }
}

/// Serves `site` on `listener` until `stop` turns true.
pub(crate) async fn serve(listener: TcpListener, site: Site, mut stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        if site.dashboard.is_some() {
            info!("dashboard: http://{addr}/");
        }
        if site.metrics.is_some() {
            info!("metrics: http://{addr}/metrics, health: http://{addr}/healthz");
        }
    }
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let site = site.clone();
                    conns.spawn(async move {
                        if let Err(e) = serve_one(stream, &site).await {
                            debug!("dashboard client {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("dashboard accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set stays small.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn serve_one(mut stream: TcpStream, site: &Site) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Ok(true); // httparse says Partial: answered with 431
            }
        }
    })
    .await;
    let complete: bool = match read {
        Ok(r) => r?,
        Err(_) => return Ok(()), // too slow: just close
    };
    if !complete {
        return Ok(());
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let (response, head_only) = match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {
            let method = req.method.unwrap_or("");
            (
                route(method, req.path.unwrap_or("/"), site),
                method == "HEAD",
            )
        }
        Ok(httparse::Status::Partial) => (
            Response::text(
                "431 Request Header Fields Too Large",
                "request head too large",
            ),
            false,
        ),
        Err(e) => (Response::text("400 Bad Request", &e.to_string()), false),
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Security-Policy: {CSP}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(response.body.as_bytes());
    }
    stream.write_all(&out).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(out_port: u16) -> Site {
        Site {
            dashboard: Some(Dashboard {
                out_port,
                tls: false,
            }),
            metrics: None,
        }
    }

    #[test]
    fn routes() {
        let site = dashboard(11348);
        assert_eq!(route("GET", "/", &site).status, "200 OK");
        assert!(route("GET", "/?hub=x", &site).body.contains("<html"));
        assert_eq!(
            route("GET", "/config.json", &site).body,
            "{\"out_port\":11348,\"tls\":false}"
        );
        assert_eq!(
            route("GET", "/app.js", &site).content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            route("GET", "/../etc/passwd", &site).status,
            "404 Not Found"
        );
        assert_eq!(route("POST", "/", &site).status, "405 Method Not Allowed");
        assert_eq!(
            route("GET", "/metrics", &site).status,
            "404 Not Found",
            "no metrics unless asked"
        );
    }
}
