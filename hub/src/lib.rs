//! `nd-hub`: receives dumplings from kitchens and fans them out to eaters.
//!
//! Wire-compatible with netdumplings 0.5.1's `DumplingHub`: two WebSocket
//! servers (kitchens on the in port, eaters on the out port), the same hello
//! messages, the same `SystemStatusChef` dumplings. Unlike it, every eater has
//! a bounded queue, every peer has limits, tokens and TLS can be required,
//! and nothing panics on input.
//!
//! # Layout
//!
//! Each connection is one task; the modules follow a connection's life.
//!
//! - [`config`]: every knob ([`Settings`] as flags and TOML keys, resolved
//!   into a [`Config`]), with the named defaults.
//! - `listen`: [`bind`] -> [`BoundHub`] (listening sockets, so tests can use
//!   port 0 and learn the real ports), the accept loops (`max_connections`,
//!   TLS), and [`BoundHub::run`], which serves until a shutdown future
//!   resolves and then drains (below).
//! - `handshake`: a new connection's upgrade, token check and hello.
//! - `kitchen`: a kitchen's task: read, validate, hand runs to the eaters.
//!   `rate`: its token bucket (`kitchen_rate`).
//! - `eater`: an eater's task: write its queue, in batches; read its
//!   `subscribe` messages. `queue`: the bounded per-eater queue and its
//!   overflow policy. `filter`: its subscription, applied before the queue.
//! - `status`: the `SystemStatusChef` dumplings.
//! - `bus`: hubs federated through NATS JetStream (`--nats`); absent, and
//!   nothing of it runs, without it.
//! - `state`: what every task shares (live configuration, connected peers,
//!   counters, the fan-out).
//! - `reload`: [`HubHandle`] (SIGHUP) and the one token re-check every
//!   connection runs after a reload.
//! - `auth`: kitchen and eater tokens, checked in constant time. `tls`: the
//!   rustls acceptor for `wss://`.
//! - `metrics`: counters for `/metrics`, and the Prometheus text.
//! - [`web`]: the HTTP side (`--web`, `--metrics`): the dashboard page
//!   (static files embedded from `hub/web/`; the page is an eater of the
//!   out port like any other), `/metrics` and `/healthz`.
//!
//! Module dependencies point one way: connection modules (`listen`,
//! `handshake`, `kitchen`, `eater`, `status`) use `state`, `reload`,
//! `queue`, `rate`, `metrics`; those use nothing above them.
//!
//! # Shutdown (drain)
//!
//! On SIGTERM/SIGINT ([`BoundHub::run`]'s future): the accept loops stop,
//! kitchens are closed with 1001 without reading further (what they sent
//! and we did not acknowledge stays theirs to re-send), then every eater's
//! queue is written out within `drain_timeout`, then eaters are closed with
//! 1001. What an eater could not be sent in time is counted and logged.
//!
//! # Invariants
//!
//! - A dumpling's text is forwarded byte for byte; the hub only reads it.
//! - Dumplings from one kitchen reach each eater in the order they arrived
//!   (a kitchen task pushes into every eater queue before reading its next
//!   message; each queue is FIFO).
//! - A slow eater affects only itself: pushes never wait on a socket.
//! - An eater's queue holds only dumplings its subscription wants (`filter`
//!   runs before the push); a replaced subscription applies from the next
//!   dumpling the fan-out handles (what is already queued is still sent).
//! - A slow kitchen (rate limit) is held back by not reading its socket;
//!   nothing it sent is dropped for being fast.
//! - Nothing a peer sends is read before it has passed the token check.
//! - A reload is applied whole or not at all, and disconnects nobody but
//!   the peers whose token it revoked (4103 "token revoked"): each
//!   connection's task re-checks its token as soon as it is woken by the
//!   reload (idle, waiting on a write, or throttled alike), so from then on
//!   every open connection holds a token the current configuration accepts
//!   (or that role needs none).
//! - Every dumpling a kitchen's ping acknowledged is in every eater's queue
//!   then, and a SIGTERM writes those queues out before closing (within
//!   `drain_timeout`). On a bus (`--nats`): stored by the stream then (or,
//!   with the bus down, in this hub's log and its eaters' queues); see
//!   `bus` for the guarantees across hubs.

#![forbid(unsafe_code)]

use tokio::sync::watch;

mod auth;
mod bus;
pub mod config;
mod eater;
mod filter;
mod handshake;
mod kitchen;
mod listen;
mod metrics;
mod queue;
mod rate;
mod reload;
mod state;
mod status;
mod tls;
pub mod web;

pub use config::{
    Config, ConfigError, LogFormat, MetricsListen, NatsConfig, Settings, SlowEaterPolicy, TlsFiles,
    DEFAULT_EATER_QUEUE, DEFAULT_EATER_QUEUE_BYTES, DEFAULT_HELLO_TIMEOUT, DEFAULT_KITCHEN_BURST,
    DEFAULT_KITCHEN_RATE, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use handshake::SHUTDOWN_GRACE;
pub use listen::{bind, BoundHub};
pub use metrics::MAX_SERIES;
pub use queue::Overflow;
pub use reload::HubHandle;

/// Resolves once shutdown was requested (or the hub is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here, not in select!.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Checks what [`bind`] would load, without binding: the TLS certificate
/// and key (the token files were read by [`Settings::resolve`]).
pub fn check(config: &Config) -> anyhow::Result<()> {
    state::Live::new(config.clone()).map(|_| ())
}
