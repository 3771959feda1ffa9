//! `nd-sniff --metrics ADDR`: the kitchen's `/metrics` (Prometheus text)
//! and `/healthz`, for a long-running live kitchen on a sensor host.
//!
//! What is exported, all labelled with the kitchen's name:
//!
//! - the capture: packets read;
//! - per chef (`chef`, `file` labels): packets offered, wanted and skipped,
//!   payloads, faults, restarts, swaps, whether it is running or parked,
//!   and a histogram of its call latency ([`crate::latency`]);
//! - the relay to the hub: dumplings sent, acknowledged, re-sent, dropped
//!   (oldest first, see [`crate::outbox`]), reconnects, whether it is
//!   connected, how many it holds; and the dumplings dropped before the
//!   relay (a live kitchen whose relay could not keep up).
//!
//! The page is rendered from snapshots ([`Snapshot`]) on each request; no
//! counter is touched on the packet path for it.

use std::fmt::Write as _;

use nd_http::prometheus::{escape, family};

use crate::latency::BOUNDS;
use crate::relay::RelayStats;
use crate::supervisor::{ChefState, ChefStatus};

/// What one `/metrics` request shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The kitchen's name (`--kitchen-name`).
    pub kitchen: String,
    /// Seconds since the kitchen started.
    pub uptime_secs: f64,
    /// Packets read from the capture so far.
    pub packets: u64,
    /// Every chef's counters.
    pub chefs: Vec<ChefStatus>,
    /// The relay's counters and state, when relaying to a hub.
    pub relay: Option<RelaySnapshot>,
    /// Dumplings dropped between chefs and relay (live capture only).
    pub dropped_before_relay: u64,
}

/// The relay part of a [`Snapshot`].
#[derive(Debug, Clone, Default)]
pub struct RelaySnapshot {
    /// Its counters.
    pub stats: RelayStats,
    /// Whether a hub connection is up.
    pub connected: bool,
    /// Dumplings held (unacknowledged and pending).
    pub held: u64,
}

/// One `# HELP`ed family of per-chef values.
struct ChefFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&ChefStatus) -> f64,
}

const CHEF_FAMILIES: &[ChefFamily] = &[
    ChefFamily {
        name: "nd_sniff_chef_packets_total",
        kind: "counter",
        help: "Packets offered to the chef (handed over, or filtered out by its interests).",
        value: |c| c.packets as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_packets_wanted_total",
        kind: "counter",
        help: "Packets the chef wanted and was handed.",
        value: |c| c.packets_wanted as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_packets_skipped_total",
        kind: "counter",
        help: "Packets the chef did not see (restarting, parked, or its queue was full).",
        value: |c| c.packets_skipped as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_payloads_total",
        kind: "counter",
        help: "Payloads the chef made.",
        value: |c| c.payloads as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_faults_total",
        kind: "counter",
        help: "Traps, deadline and memory faults, invalid output.",
        value: |c| c.faults as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_restarts_total",
        kind: "counter",
        help: "Fresh instances started after faults.",
        value: |c| c.restarts as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_swaps_total",
        kind: "counter",
        help: "New versions hot-swapped in.",
        value: |c| c.swaps as f64,
    },
    ChefFamily {
        name: "nd_sniff_chef_running",
        kind: "gauge",
        help: "1 while the chef is handling packets.",
        value: |c| f64::from(u8::from(c.state == ChefState::Running)),
    },
    ChefFamily {
        name: "nd_sniff_chef_parked",
        kind: "gauge",
        help: "1 if the chef faulted too often and waits for a new version.",
        value: |c| f64::from(u8::from(c.state == ChefState::Parked)),
    },
];

/// The `/metrics` page for `s`.
pub fn render(s: &Snapshot) -> String {
    let mut o = String::with_capacity(4096);
    let k = escape(&s.kitchen);
    family(
        &mut o,
        "nd_sniff_info",
        "gauge",
        "The kitchen's version (value always 1).",
    );
    let _ = writeln!(
        o,
        "nd_sniff_info{{kitchen=\"{k}\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    family(
        &mut o,
        "nd_sniff_uptime_seconds",
        "gauge",
        "Seconds since the kitchen started.",
    );
    let _ = writeln!(
        o,
        "nd_sniff_uptime_seconds{{kitchen=\"{k}\"}} {}",
        s.uptime_secs
    );
    family(
        &mut o,
        "nd_sniff_packets_total",
        "counter",
        "Packets read from the capture.",
    );
    let _ = writeln!(o, "nd_sniff_packets_total{{kitchen=\"{k}\"}} {}", s.packets);

    let labels: Vec<String> = s
        .chefs
        .iter()
        .map(|c| {
            format!(
                "kitchen=\"{k}\",chef=\"{}\",file=\"{}\"",
                escape(&c.name),
                escape(&c.file)
            )
        })
        .collect();
    for f in CHEF_FAMILIES {
        family(&mut o, f.name, f.kind, f.help);
        for (c, l) in s.chefs.iter().zip(&labels) {
            let _ = writeln!(o, "{}{{{l}}} {}", f.name, (f.value)(c));
        }
    }
    let name = "nd_sniff_chef_call_seconds";
    family(
        &mut o,
        name,
        "histogram",
        "How long calls into the chef took (batches and interval pokes).",
    );
    for (c, l) in s.chefs.iter().zip(&labels) {
        let lat = &c.call_latency;
        for (bound, n) in BOUNDS.iter().zip(lat.cumulative()) {
            let _ = writeln!(o, "{name}_bucket{{{l},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(o, "{name}_bucket{{{l},le=\"+Inf\"}} {}", lat.count);
        let _ = writeln!(o, "{name}_sum{{{l}}} {}", lat.sum_seconds);
        let _ = writeln!(o, "{name}_count{{{l}}} {}", lat.count);
    }

    family(
        &mut o,
        "nd_sniff_dropped_before_relay_total",
        "counter",
        "Dumplings dropped because the relay could not keep up (live capture).",
    );
    let _ = writeln!(
        o,
        "nd_sniff_dropped_before_relay_total{{kitchen=\"{k}\"}} {}",
        s.dropped_before_relay
    );
    if let Some(r) = &s.relay {
        let rows: [(&str, &str, &str, f64); 7] = [
            (
                "nd_sniff_relay_sent_total",
                "counter",
                "Dumplings written to a hub (re-sends included).",
                r.stats.sent as f64,
            ),
            (
                "nd_sniff_relay_acknowledged_total",
                "counter",
                "Dumplings a hub acknowledged.",
                r.stats.acknowledged as f64,
            ),
            (
                "nd_sniff_relay_resent_total",
                "counter",
                "Dumplings written again after a reconnect.",
                r.stats.resent as f64,
            ),
            (
                "nd_sniff_relay_dropped_total",
                "counter",
                "Dumplings dropped, oldest first, because the buffer was full.",
                r.stats.dropped as f64,
            ),
            (
                "nd_sniff_relay_reconnects_total",
                "counter",
                "Connections to a hub after the first.",
                r.stats.reconnects as f64,
            ),
            (
                "nd_sniff_relay_connected",
                "gauge",
                "1 while connected to a hub.",
                f64::from(u8::from(r.connected)),
            ),
            (
                "nd_sniff_relay_held",
                "gauge",
                "Dumplings held for the hub (unacknowledged and pending).",
                r.held as f64,
            ),
        ];
        for (name, kind, help, v) in rows {
            family(&mut o, name, kind, help);
            let _ = writeln!(o, "{name}{{kitchen=\"{k}\"}} {v}");
        }
    }
    o
}

/// A running `/metrics` server (its own thread and tokio runtime, so it
/// answers whatever the capture and chef threads are doing).
pub struct MetricsServer {
    stop: tokio::sync::watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

impl MetricsServer {
    /// Stops serving and waits for the thread.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.thread.join();
    }
}

/// Serves `/metrics` and `/healthz` on `addr` (`HOST:PORT`, or `PORT` for
/// 127.0.0.1), each request rendered from a fresh `snapshot()`. Binding
/// happens here, so a taken port is an error before anything else starts.
pub fn serve(
    addr: &str,
    snapshot: impl Fn() -> Snapshot + Send + Sync + 'static,
) -> anyhow::Result<MetricsServer> {
    use anyhow::Context as _;
    let addr = if addr.parse::<u16>().is_ok() {
        format!("127.0.0.1:{addr}")
    } else {
        addr.to_string()
    };
    let listener = std::net::TcpListener::bind(&addr)
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    tracing::info!("metrics: http://{local}/metrics, health: http://{local}/healthz");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let routes: nd_http::Routes = std::sync::Arc::new(move |path: &str| match path {
        "/metrics" => nd_http::Response {
            status: "200 OK",
            content_type: nd_http::PROMETHEUS_TEXT,
            body: render(&snapshot()),
        },
        "/healthz" => {
            let (ready, text) = health(&snapshot());
            let status = if ready {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            nd_http::Response::text(status, &text)
        }
        _ => nd_http::Response::not_found(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => nd_http::serve(l, routes, nd_http::Headers::default(), stopped).await,
                    Err(e) => tracing::error!("metrics listener: {e}"),
                }
            })
        })?;
    Ok(MetricsServer { stop, thread })
}

/// `/healthz`: ready while at least one chef runs and, when relaying,
/// while the relay is connected; and a line per part saying why.
pub fn health(s: &Snapshot) -> (bool, String) {
    let running = s
        .chefs
        .iter()
        .filter(|c| c.state == ChefState::Running)
        .count();
    let mut lines = vec![format!("chefs: {running} of {} running", s.chefs.len())];
    let mut ready = running > 0;
    if let Some(r) = &s.relay {
        lines.push(format!(
            "hub: {} ({} dumplings held)",
            if r.connected {
                "connected"
            } else {
                "not connected"
            },
            r.held
        ));
        ready &= r.connected;
    }
    lines.insert(0, if ready { "ok" } else { "not ready" }.to_string());
    (ready, lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Latency;

    fn chef(name: &str, state: ChefState) -> ChefStatus {
        let mut call_latency = Latency::default();
        call_latency.observe(std::time::Duration::from_micros(200));
        ChefStatus {
            name: name.into(),
            file: format!("/chefs/{name}.wasm"),
            digest: String::new(),
            state,
            packets: 10,
            packets_wanted: 4,
            packets_skipped: 1,
            payloads: 3,
            faults: 2,
            restarts: 1,
            swaps: 5,
            last_fault: None,
            last_swap_ms: None,
            call_latency,
        }
    }

    #[test]
    fn every_chef_gets_every_family_and_a_histogram() {
        let s = Snapshot {
            kitchen: "k\"1".into(),
            chefs: vec![chef("A", ChefState::Running), chef("B", ChefState::Parked)],
            ..Default::default()
        };
        let page = render(&s);
        let l = "kitchen=\"k\\\"1\",chef=\"B\",file=\"/chefs/B.wasm\"";
        assert!(
            page.contains(&format!("nd_sniff_chef_swaps_total{{{l}}} 5\n")),
            "{page}"
        );
        assert!(page.contains(&format!("nd_sniff_chef_parked{{{l}}} 1\n")));
        assert!(page.contains(&format!("nd_sniff_chef_running{{{l}}} 0\n")));
        // 200 us: not in the 100 us bucket, in the 500 us one and above.
        assert!(page.contains(&format!(
            "nd_sniff_chef_call_seconds_bucket{{{l},le=\"0.0001\"}} 0\n"
        )));
        assert!(page.contains(&format!(
            "nd_sniff_chef_call_seconds_bucket{{{l},le=\"0.0005\"}} 1\n"
        )));
        assert!(page.contains(&format!("nd_sniff_chef_call_seconds_count{{{l}}} 1\n")));
        assert!(!page.contains("nd_sniff_relay_"), "no relay when printing");
        let (ready, _) = health(&s);
        assert!(ready, "one chef runs");
    }

    #[test]
    fn a_disconnected_relay_is_not_ready() {
        let mut s = Snapshot {
            chefs: vec![chef("A", ChefState::Running)],
            relay: Some(RelaySnapshot::default()),
            ..Default::default()
        };
        let (ready, text) = health(&s);
        assert!(!ready && text.contains("hub: not connected"), "{text}");
        s.relay.as_mut().unwrap().connected = true;
        assert!(health(&s).0);
        assert!(render(&s).contains("nd_sniff_relay_connected{kitchen=\"\"} 1\n"));
    }
}
