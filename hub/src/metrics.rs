//! Counters for `/metrics` (Prometheus text format 0.0.4) and their rendering.
//!
//! # Cost on the hot path
//!
//! Dumplings are counted per (kitchen name, chef) [`Series`]. A kitchen
//! task looks its series up in its own small map (no lock) and adds with
//! relaxed atomics. Each queued dumpling carries its series' index (a
//! `u32`), and an eater's writer adds what it wrote per series once per
//! batch, so counting "out" costs a few atomic adds per batch, not per
//! dumpling per eater.
//!
//! # Bounded
//!
//! Kitchen and chef names come from the network. At most [`MAX_SERIES`]
//! series are created; dumplings of any further (kitchen, chef) pair are
//! counted in one series labelled `kitchen="_other",chef="_other"`, so a
//! hostile kitchen inventing chef names cannot grow the hub's memory or a
//! Prometheus server's.
//!
//! # Why not the `prometheus-client` crate
//!
//! Our counters are plain atomics on the hot path, and the per-eater
//! series (queue depth, drops) are read from the live eater table at scrape
//! time; a registry of metric objects would duplicate that state. What is
//! left is the text format, a few lines of escaping and formatting,
//! checked in the tests by the Python `prometheus_client` parser.

use nd_http::prometheus::{escape as esc, family};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Most (kitchen, chef) series kept; see the module docs.
pub const MAX_SERIES: usize = 10_000;

/// Index of a [`Series`] in [`Registry`].
pub(crate) type SeriesId = u32;

/// Dumplings of one chef from kitchens of one name.
pub(crate) struct Series {
    /// Kitchen name from the hello; empty for the hub's own status dumplings.
    kitchen: String,
    /// `metadata.chef`.
    chef: String,
    /// Valid dumplings received.
    pub(crate) dumplings_in: AtomicU64,
    /// Their bytes (WebSocket payload).
    pub(crate) bytes_in: AtomicU64,
    /// Dumplings written to eaters (one per eater that got it).
    pub(crate) dumplings_out: AtomicU64,
    /// Their bytes.
    pub(crate) bytes_out: AtomicU64,
}

/// The kitchen and chef label of the series shared by every (kitchen,
/// chef) pair past [`MAX_SERIES`].
pub(crate) const OTHER: &str = "_other";

/// Every series, by index; created on first use, never removed (counters
/// must not go backwards while the hub runs).
#[derive(Default)]
pub(crate) struct Registry {
    /// Series by [`SeriesId`]. Read-locked once per eater batch.
    series: RwLock<Vec<Arc<Series>>>,
    /// (kitchen, chef) to index, for kitchens that connect later.
    index: Mutex<HashMap<(String, String), SeriesId>>,
}

impl Registry {
    /// The series of (`kitchen`, `chef`), created if new (or the overflow
    /// series once [`MAX_SERIES`] exist).
    pub(crate) fn series(&self, kitchen: &str, chef: &str) -> (SeriesId, Arc<Series>) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let key = (kitchen.to_string(), chef.to_string());
        let key = if index.contains_key(&key) || index.len() < MAX_SERIES {
            key
        } else {
            (OTHER.to_string(), OTHER.to_string())
        };
        let mut series = self.series.write().unwrap_or_else(|p| p.into_inner());
        let id = *index.entry(key).or_insert_with_key(|(kitchen, chef)| {
            series.push(Arc::new(Series {
                kitchen: kitchen.clone(),
                chef: chef.clone(),
                dumplings_in: AtomicU64::new(0),
                bytes_in: AtomicU64::new(0),
                dumplings_out: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
            }));
            (series.len() - 1) as SeriesId
        });
        (id, series[id as usize].clone())
    }

    /// The (kitchen, chef) of series `id` (an eater's filter asks once per
    /// series; `(OTHER, OTHER)` for the shared overflow series).
    pub(crate) fn names(&self, id: SeriesId) -> Option<(String, String)> {
        let series = self.series.read().unwrap_or_else(|p| p.into_inner());
        series
            .get(id as usize)
            .map(|s| (s.kitchen.clone(), s.chef.clone()))
    }

    /// Adds what one eater batch wrote: `(series, bytes)` per dumpling.
    pub(crate) fn count_out(&self, written: impl Iterator<Item = (SeriesId, usize)>) {
        // Sum per series first: a batch holds few distinct series.
        let mut sums: Vec<(SeriesId, u64, u64)> = Vec::new();
        for (id, bytes) in written {
            match sums.iter_mut().find(|s| s.0 == id) {
                Some(s) => {
                    s.1 += 1;
                    s.2 += bytes as u64;
                }
                None => sums.push((id, 1, bytes as u64)),
            }
        }
        let series = self.series.read().unwrap_or_else(|p| p.into_inner());
        for (id, n, bytes) in sums {
            if let Some(s) = series.get(id as usize) {
                s.dumplings_out.fetch_add(n, Ordering::Relaxed);
                s.bytes_out.fetch_add(bytes, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self) -> Vec<Arc<Series>> {
        self.series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why the hub refused or closed a connection before it was a kitchen or
/// an eater; a label of `nd_hub_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More than `max_connections` on the port.
    MaxConnections,
    /// The TLS or WebSocket handshake failed or timed out.
    Handshake,
    /// No valid token.
    Unauthorized,
    /// No hello within the hello timeout.
    NoHello,
    /// A hello that is not netdumplings' hello.
    BadHello,
}

impl Refusal {
    const ALL: [Refusal; 5] = [
        Refusal::MaxConnections,
        Refusal::Handshake,
        Refusal::Unauthorized,
        Refusal::NoHello,
        Refusal::BadHello,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::Handshake => "handshake",
            Refusal::Unauthorized => "unauthorized",
            Refusal::NoHello => "no_hello",
            Refusal::BadHello => "bad_hello",
        }
    }
}

/// Connection-level counters.
#[derive(Default)]
pub(crate) struct Counters {
    /// Refusals by [`Refusal`] (index = position in `Refusal::ALL`), per role
    /// (0 = kitchens, 1 = eaters).
    refused: [[AtomicU64; 5]; 2],
    /// Microseconds kitchens spent waiting for the rate limit.
    pub(crate) throttled_us: AtomicU64,
    /// Reloads that took effect.
    pub(crate) reloads_ok: AtomicU64,
    /// Reloads refused (bad file, restart needed, bad certificate).
    pub(crate) reloads_failed: AtomicU64,
}

impl Counters {
    pub(crate) fn refused(&self, eater: bool, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[eater as usize][i].fetch_add(1, Ordering::Relaxed);
    }
}

/// One eater, as `/metrics` shows it.
pub(crate) struct EaterSample {
    pub(crate) name: String,
    pub(crate) peer: String,
    pub(crate) queue_depth: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) dropped: u64,
    pub(crate) written: u64,
    /// Its subscription's chefs and kitchens (comma-joined, empty: all)
    /// and whether it takes status dumplings.
    pub(crate) chefs: String,
    pub(crate) kitchens: String,
    pub(crate) status: bool,
}

/// Everything `/metrics` shows that is not in [`Registry`] or [`Counters`].
pub(crate) struct Gauges {
    pub(crate) uptime_secs: f64,
    pub(crate) kitchens: usize,
    pub(crate) eaters: Vec<EaterSample>,
    pub(crate) open_in: usize,
    pub(crate) open_out: usize,
    pub(crate) invalid: u64,
    pub(crate) dropped: u64,
    pub(crate) tokens_kitchen: bool,
    pub(crate) tokens_eater: bool,
    pub(crate) tls: bool,
}

/// The `/metrics` page.
pub(crate) fn render(registry: &Registry, counters: &Counters, g: &Gauges) -> String {
    let mut o = String::with_capacity(4096);
    family(
        &mut o,
        "nd_hub_info",
        "gauge",
        "The hub's version and features (value always 1).",
    );
    let _ = writeln!(
        o,
        "nd_hub_info{{version=\"{}\",tls=\"{}\",kitchen_tokens=\"{}\",eater_tokens=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        g.tls,
        g.tokens_kitchen,
        g.tokens_eater
    );
    family(
        &mut o,
        "nd_hub_uptime_seconds",
        "gauge",
        "Seconds since the hub started.",
    );
    let _ = writeln!(o, "nd_hub_uptime_seconds {:.3}", g.uptime_secs);
    family(
        &mut o,
        "nd_hub_kitchens_connected",
        "gauge",
        "Kitchens connected (hello received).",
    );
    let _ = writeln!(o, "nd_hub_kitchens_connected {}", g.kitchens);
    family(
        &mut o,
        "nd_hub_eaters_connected",
        "gauge",
        "Eaters connected (hello received).",
    );
    let _ = writeln!(o, "nd_hub_eaters_connected {}", g.eaters.len());
    family(
        &mut o,
        "nd_hub_connections_open",
        "gauge",
        "Open connections per port, handshakes in progress included.",
    );
    let _ = writeln!(o, "nd_hub_connections_open{{port=\"in\"}} {}", g.open_in);
    let _ = writeln!(o, "nd_hub_connections_open{{port=\"out\"}} {}", g.open_out);

    let series = registry.snapshot();
    let per_series = |o: &mut String, name: &str, help: &str, get: &dyn Fn(&Series) -> u64| {
        family(o, name, "counter", help);
        for s in &series {
            let _ = writeln!(
                o,
                "{name}{{kitchen=\"{}\",chef=\"{}\"}} {}",
                esc(&s.kitchen),
                esc(&s.chef),
                get(s)
            );
        }
    };
    per_series(
        &mut o,
        "nd_hub_dumplings_in_total",
        "Valid dumplings received, per kitchen name and chef.",
        &|s| s.dumplings_in.load(Ordering::Relaxed),
    );
    per_series(
        &mut o,
        "nd_hub_dumpling_bytes_in_total",
        "Bytes of valid dumplings received, per kitchen name and chef.",
        &|s| s.bytes_in.load(Ordering::Relaxed),
    );
    per_series(
        &mut o,
        "nd_hub_dumplings_out_total",
        "Dumplings written to eaters (one per eater), per kitchen name and chef; \
         the hub's status dumplings have kitchen=\"\".",
        &|s| s.dumplings_out.load(Ordering::Relaxed),
    );
    per_series(
        &mut o,
        "nd_hub_dumpling_bytes_out_total",
        "Bytes written to eaters, per kitchen name and chef.",
        &|s| s.bytes_out.load(Ordering::Relaxed),
    );
    family(
        &mut o,
        "nd_hub_dumplings_invalid_total",
        "counter",
        "Messages from kitchens that were not valid dumplings (dropped).",
    );
    let _ = writeln!(o, "nd_hub_dumplings_invalid_total {}", g.invalid);
    family(
        &mut o,
        "nd_hub_dumplings_dropped_total",
        "counter",
        "Dumplings dropped because an eater was too slow, over all eaters ever connected.",
    );
    let _ = writeln!(o, "nd_hub_dumplings_dropped_total {}", g.dropped);

    let per_eater =
        |o: &mut String, name: &str, kind: &str, help: &str, get: &dyn Fn(&EaterSample) -> u64| {
            family(o, name, kind, help);
            for e in &g.eaters {
                let _ = writeln!(
                    o,
                    "{name}{{eater=\"{}\",peer=\"{}\"}} {}",
                    esc(&e.name),
                    esc(&e.peer),
                    get(e)
                );
            }
        };
    per_eater(
        &mut o,
        "nd_hub_eater_queue_depth",
        "gauge",
        "Dumplings waiting in a connected eater's queue.",
        &|e| e.queue_depth as u64,
    );
    per_eater(
        &mut o,
        "nd_hub_eater_queue_bytes",
        "gauge",
        "Bytes waiting in a connected eater's queue.",
        &|e| e.queue_bytes as u64,
    );
    per_eater(
        &mut o,
        "nd_hub_eater_dumplings_dropped_total",
        "counter",
        "Dumplings a connected eater missed because it was too slow.",
        &|e| e.dropped,
    );
    per_eater(
        &mut o,
        "nd_hub_eater_dumplings_out_total",
        "counter",
        "Dumplings written to a connected eater (status dumplings included).",
        &|e| e.written,
    );
    family(
        &mut o,
        "nd_hub_eater_subscription",
        "gauge",
        "A connected eater's subscription (value always 1; chefs and kitchens comma-separated, empty: all).",
    );
    for e in &g.eaters {
        let _ = writeln!(
            o,
            "nd_hub_eater_subscription{{eater=\"{}\",peer=\"{}\",chefs=\"{}\",kitchens=\"{}\",status=\"{}\"}} 1",
            esc(&e.name),
            esc(&e.peer),
            esc(&e.chefs),
            esc(&e.kitchens),
            e.status
        );
    }

    family(
        &mut o,
        "nd_hub_connections_refused_total",
        "counter",
        "Connections refused or closed before their hello was accepted, by port and reason.",
    );
    for (role, port) in [(0, "in"), (1, "out")] {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "nd_hub_connections_refused_total{{port=\"{port}\",reason=\"{}\"}} {}",
                r.label(),
                counters.refused[role][i].load(Ordering::Relaxed)
            );
        }
    }
    family(
        &mut o,
        "nd_hub_kitchen_throttled_seconds_total",
        "counter",
        "Time kitchens were held back by the per-kitchen rate limit.",
    );
    let _ = writeln!(
        o,
        "nd_hub_kitchen_throttled_seconds_total {:.6}",
        counters.throttled_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    family(
        &mut o,
        "nd_hub_config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP), by result.",
    );
    let _ = writeln!(
        o,
        "nd_hub_config_reloads_total{{result=\"ok\"}} {}",
        counters.reloads_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "nd_hub_config_reloads_total{{result=\"failed\"}} {}",
        counters.reloads_failed.load(Ordering::Relaxed)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_reused_and_bounded() {
        let r = Registry::default();
        let (a, _) = r.series("k", "c");
        assert_eq!(r.series("k", "c").0, a);
        for i in 0..MAX_SERIES + 10 {
            r.series("k", &format!("chef{i}"));
        }
        assert_eq!(r.snapshot().len(), MAX_SERIES + 1, "capped, plus _other");
        let (other, s) = r.series("k", "yet another");
        assert_eq!(s.chef, "_other");
        assert_eq!(r.series("z", "z").0, other);
        r.count_out([(a, 10), (a, 5), (other, 1)].into_iter());
        let snap = r.snapshot();
        assert_eq!(snap[a as usize].dumplings_out.load(Ordering::Relaxed), 2);
        assert_eq!(snap[a as usize].bytes_out.load(Ordering::Relaxed), 15);
    }
}
