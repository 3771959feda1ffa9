//! The small HTTP/1.1 server both daemons embed: `nd-hub` for its
//! dashboard, `/metrics` and `/healthz`, `nd-sniff` for its `/metrics` and
//! `/healthz`.
//!
//! Why not hyper/axum: a few fixed routes, GET only, one response per
//! connection. `httparse` parses the request; the rest is a bounded read
//! and a write. Hostile clients are bounded: [`MAX_REQUEST_HEAD`] bytes
//! within [`REQUEST_TIMEOUT`], then the connection is closed.
//!
//! # Layout
//!
//! - [`Response`]: status, content type, body.
//! - [`Routes`]: what the embedding program answers for a method and path.
//! - [`serve`]: accepts on a listener until a stop signal, one task per
//!   connection.
//! - [`prometheus`]: label escaping and family headers for `/metrics`.

#![forbid(unsafe_code)]

pub mod prometheus;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Largest request head (request line and headers) read.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers parsed in a request.
const MAX_HEADERS: usize = 32;
/// Content type of Prometheus' text exposition format.
pub const PROMETHEUS_TEXT: &str = prometheus::CONTENT_TYPE;

/// A response: status line, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code and reason, e.g. `200 OK`.
    pub status: &'static str,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// A plain-text response; the body gets a final newline.
    pub fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    /// A 404.
    pub fn not_found() -> Response {
        Response::text("404 Not Found", "not found")
    }
}

/// What a server answers: called for every GET or HEAD request with the
/// path, query string stripped. (Other methods get 405 without asking.)
pub type Routes = Arc<dyn Fn(&str) -> Response + Send + Sync>;

/// Headers every response carries (`csp`: its Content-Security-Policy).
#[derive(Debug, Clone, Copy)]
pub struct Headers {
    /// The `Content-Security-Policy` value.
    pub csp: &'static str,
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            csp: "default-src 'none'; frame-ancestors 'none'",
        }
    }
}

/// Serves `routes` on `listener` until `stop` turns true (or its sender is
/// gone); connections still open then are dropped.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    headers: Headers,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let routes = routes.clone();
                    conns.spawn(async move {
                        if let Err(e) = serve_one(stream, &routes, headers).await {
                            debug!("HTTP client {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set stays small.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here, not in select!.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The response to `method` `target` (the request line's path, query
/// string included).
pub fn answer(method: &str, target: &str, routes: &Routes) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::text("405 Method Not Allowed", "only GET");
    }
    routes(target.split(['?', '#']).next().unwrap_or("/"))
}

async fn serve_one(
    mut stream: TcpStream,
    routes: &Routes,
    headers: Headers,
) -> std::io::Result<()> {
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
    let mut parsed = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut parsed);
    let (response, head_only) = match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {
            let method = req.method.unwrap_or("");
            (
                answer(method, req.path.unwrap_or("/"), routes),
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
         X-Content-Type-Options: nosniff\r\nContent-Security-Policy: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len(),
        headers.csp,
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

    fn routes() -> Routes {
        Arc::new(|path: &str| match path {
            "/healthz" => Response::text("200 OK", "ok"),
            _ => Response::not_found(),
        })
    }

    #[test]
    fn only_get_and_head_reach_the_routes_without_their_query() {
        let r = routes();
        assert_eq!(answer("GET", "/healthz?x=1", &r).status, "200 OK");
        assert_eq!(answer("HEAD", "/healthz", &r).status, "200 OK");
        assert_eq!(answer("GET", "/nope", &r).status, "404 Not Found");
        assert_eq!(
            answer("POST", "/healthz", &r).status,
            "405 Method Not Allowed"
        );
    }

    #[tokio::test]
    async fn answers_over_a_socket_and_bounds_a_huge_head() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let server = tokio::spawn(serve(listener, routes(), Headers::default(), stop));
        let get = |request: Vec<u8>| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&request).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
        let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_REQUEST_HEAD + 10));
        let big = get(huge).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big}");
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }
}
