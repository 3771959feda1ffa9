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
//! The server itself is `nd-http` (shared with `nd-sniff --metrics`);
//! this module is the hub's routes.

use std::sync::Arc;

use nd_http::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

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
    pub(crate) metrics: Option<Arc<crate::state::State>>,
}

/// What the dashboard page needs to find the out port.
#[derive(Clone, Copy)]
pub(crate) struct Dashboard {
    /// The hub's out port (the bound one, if 0 was asked).
    pub(crate) out_port: u16,
    /// Whether the out port speaks wss://.
    pub(crate) tls: bool,
}

/// The response to a GET of `path` (query string stripped).
fn route(path: &str, site: &Site) -> Response {
    if let Some(state) = &site.metrics {
        match path {
            "/metrics" => {
                return Response {
                    status: "200 OK",
                    content_type: nd_http::PROMETHEUS_TEXT,
                    body: state.metrics(),
                }
            }
            "/healthz" => {
                let (ready, text) = state.health();
                let status = if ready {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                return Response::text(status, &text);
            }
            _ => {}
        }
    }
    let Some(dashboard) = site.dashboard else {
        return Response::not_found();
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
        None => Response::not_found(),
    }
}

/// Serves `site` on `listener` until `stop` turns true.
pub(crate) async fn serve(listener: TcpListener, site: Site, stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        if site.dashboard.is_some() {
            info!("dashboard: http://{addr}/");
        }
        if site.metrics.is_some() {
            info!("metrics: http://{addr}/metrics, health: http://{addr}/healthz");
        }
    }
    let routes: nd_http::Routes = Arc::new(move |path: &str| route(path, &site));
    nd_http::serve(listener, routes, nd_http::Headers { csp: CSP }, stop).await;
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
        assert_eq!(route("/", &site).status, "200 OK");
        assert!(route("/index.html", &site).body.contains("<html"));
        assert_eq!(
            route("/config.json", &site).body,
            "{\"out_port\":11348,\"tls\":false}"
        );
        assert_eq!(
            route("/app.js", &site).content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(route("/../etc/passwd", &site).status, "404 Not Found");
        assert_eq!(
            route("/metrics", &site).status,
            "404 Not Found",
            "no metrics unless asked"
        );
    }
}
