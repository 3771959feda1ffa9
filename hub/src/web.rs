//! The dashboard (`nd-hub --web PORT`): a small HTTP server for the static
//! page in `hub/web/`, embedded in the binary. The page itself is an eater:
//! the browser connects to the hub's out port like any other eater, so the
//! hub serves files here and nothing else.
//!
//! Why not hyper/axum: four fixed files, GET only, one response per
//! connection. `httparse` (already a dependency, through tungstenite) parses
//! the request; the rest is a bounded read and a write. Hostile clients are
//! bounded: [`MAX_REQUEST_HEAD`] bytes within [`REQUEST_TIMEOUT`], then the
//! connection is closed.

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
fn route(method: &str, path: &str, out_port: u16) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::text("405 Method Not Allowed", "only GET");
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if path == "/config.json" {
        // Where the page's WebSocket goes: the hub's out port on the host
        // the page came from.
        return Response {
            status: "200 OK",
            content_type: "application/json",
            body: format!("{{\"out_port\":{out_port}}}"),
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

/// Serves the dashboard on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, out_port: u16, mut stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!("dashboard: http://{addr}/");
    }
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(async move {
                        if let Err(e) = serve_one(stream, out_port).await {
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

async fn serve_one(mut stream: TcpStream, out_port: u16) -> std::io::Result<()> {
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
                route(method, req.path.unwrap_or("/"), out_port),
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

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/", 1).status, "200 OK");
        assert!(route("GET", "/?hub=x", 1).body.contains("<html"));
        assert_eq!(
            route("GET", "/config.json", 11348).body,
            "{\"out_port\":11348}"
        );
        assert_eq!(
            route("GET", "/app.js", 1).content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(route("GET", "/../etc/passwd", 1).status, "404 Not Found");
        assert_eq!(route("POST", "/", 1).status, "405 Method Not Allowed");
    }
}
