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
//! - [`config`]: every knob ([`Settings`] as flags and TOML keys, resolved
//!   into a [`Config`]), with the named defaults.
//! - [`bind`] -> [`BoundHub`]: listening sockets (so tests can use port 0 and
//!   learn the real ports) and [`BoundHub::run`], which serves until a
//!   shutdown future resolves, then closes every socket with a close frame.
//!   [`BoundHub::handle`] gives a [`HubHandle`] to reload the configuration.
//! - `queue`: the bounded per-eater queue and its overflow policy.
//! - `auth`: kitchen and eater tokens, checked in constant time.
//! - `tls`: the rustls acceptor for `wss://`.
//! - `metrics`: counters for `/metrics`, and the Prometheus text.
//! - [`web`]: the HTTP side (`--web`, `--metrics`): the dashboard page
//!   (static files embedded from `hub/web/`; the page is an eater of the
//!   out port like any other), `/metrics` and `/healthz`.
//! - `serve_kitchen` / `serve_eater` (below): one task per connection.
//!
//! # Invariants
//!
//! - A dumpling's text is forwarded byte for byte; the hub only reads it.
//! - Dumplings from one kitchen reach each eater in the order they arrived
//!   (a kitchen task pushes into every eater queue before reading its next
//!   message; each queue is FIFO).
//! - A slow eater affects only itself: pushes never wait on a socket.
//! - A slow kitchen (rate limit) is held back by not reading its socket;
//!   nothing it sent is dropped for being fast.
//! - Nothing a peer sends is read before it has passed the token check.
//! - A reload is applied whole or not at all, and disconnects nobody but
//!   the peers whose token it revoked (4103 "token revoked"): each
//!   connection's task re-checks its token as soon as it is woken by the
//!   reload (idle, waiting on a write, or throttled alike), so from then on
//!   every open connection holds a token the current configuration accepts
//!   (or that role needs none).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{FutureExt, SinkExt, StreamExt};
use nd_protocol::status::{EaterStatus, InfoFromHub, KitchenStatus, SystemStatus};
use nd_protocol::{Driver, Hello};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, error, info, warn};

mod auth;
pub mod config;
mod metrics;
mod queue;
mod tls;
pub mod web;

pub use config::{
    Config, ConfigError, LogFormat, MetricsListen, Settings, SlowEaterPolicy, TlsFiles,
    DEFAULT_EATER_QUEUE, DEFAULT_EATER_QUEUE_BYTES, DEFAULT_HELLO_TIMEOUT, DEFAULT_KITCHEN_BURST,
    DEFAULT_KITCHEN_RATE, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use metrics::MAX_SERIES;
use metrics::{Refusal, SeriesId};
pub use queue::Overflow;
use queue::{EaterQueue, Queued};

/// How long shutdown waits for peers to answer our close frames.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Most dumplings written to one eater before a flush (one syscall per batch).
const WRITE_BATCH: usize = 256;
/// Most dumplings a kitchen's task hands to the eaters as one run (it
/// looks at the shutdown signal between runs).
const MAX_RUN: usize = 256;
/// What a connection over `max_connections` gets before the socket closes
/// (plain ports only; on a TLS port it is just closed).
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
Content-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";

/// A connected kitchen, as the status dumpling reports it.
struct KitchenEntry {
    /// Its hello, echoed verbatim in status dumplings.
    hello: Hello,
    /// Where it connected from.
    peer: SocketAddr,
}

/// A connected eater.
struct EaterEntry {
    /// Its hello, echoed verbatim in status dumplings.
    hello: Hello,
    /// Where it connected from.
    peer: SocketAddr,
    /// Dumplings waiting to be written to it.
    queue: EaterQueue,
    /// Dumplings written to it (for /metrics).
    written: AtomicU64,
}

/// The part of the configuration a reload replaces, ready to use.
struct Live {
    /// The configuration as resolved.
    config: Config,
    /// Accepted kitchen tokens; `None`: kitchens are not authenticated.
    kitchen_tokens: Option<auth::Tokens>,
    /// Accepted eater tokens; `None`: eaters are not authenticated.
    eater_tokens: Option<auth::Tokens>,
    /// TLS for the in and out ports; `None`: plain ws://.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Live {
    fn new(config: Config) -> anyhow::Result<Live> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        Ok(Live {
            kitchen_tokens: config.kitchen_tokens.as_deref().map(auth::Tokens::new),
            eater_tokens: config.eater_tokens.as_deref().map(auth::Tokens::new),
            tls,
            config,
        })
    }

    /// Whether a peer of `role` holding `credential` may be connected
    /// under this configuration.
    fn admits(&self, role: Role, credential: &auth::Credential) -> bool {
        let tokens = match role {
            Role::Kitchen => &self.kitchen_tokens,
            Role::Eater => &self.eater_tokens,
        };
        tokens.as_ref().is_none_or(|t| t.accepts(credential))
    }
}

/// State shared by every connection task.
struct State {
    /// The current configuration; replaced whole by a reload.
    live: RwLock<Arc<Live>>,
    /// Signalled after every reload (once `live` holds the new
    /// configuration). Each connection task subscribes before it checks
    /// its token, so no reload can slip between that check and the task's
    /// first look at this channel; kitchens poll it per message (one atomic
    /// load), and both roles wait on it while idle, to apply new limits and
    /// to close a connection whose token was revoked.
    reloads: watch::Sender<()>,
    /// Held for the whole of a reload, so two reloads (`HubHandle` is
    /// public and cloneable) cannot interleave their checks and swaps.
    reloading: Mutex<()>,
    /// When the hub started, for `server_uptime`.
    started: Instant,
    /// Source of connection ids (map keys, so status lists are in connect order).
    next_id: AtomicU64,
    /// Valid dumplings received from kitchens.
    dumplings_in: AtomicU64,
    /// Dumplings written to eaters (status dumplings included, as netdumplings counts).
    dumplings_out: AtomicU64,
    /// Dumplings dropped because an eater was too slow, summed over eaters
    /// (including eaters that have since left).
    dumplings_dropped: AtomicU64,
    /// Invalid messages received from kitchens.
    dumplings_invalid: AtomicU64,
    /// Open connections per role (index `Role as usize`), for `max_connections`.
    open: [AtomicUsize; 2],
    /// Connected kitchens by connection id.
    kitchens: Mutex<BTreeMap<u64, KitchenEntry>>,
    /// Connected eaters by connection id. Read-locked on every dumpling
    /// (fan-out), write-locked only on connect/disconnect.
    eaters: RwLock<BTreeMap<u64, Arc<EaterEntry>>>,
    /// Per (kitchen, chef) dumpling counters.
    registry: metrics::Registry,
    /// Refusals, throttling, reloads.
    counters: metrics::Counters,
    /// The series of the hub's own status dumplings.
    status_series: SeriesId,
}

impl State {
    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Pushes a kitchen's run of dumplings, in order, into every eater's
    /// queue (one lock and one wake-up per eater for the run).
    fn fan_out(&self, run: &[Queued]) {
        if run.is_empty() {
            return;
        }
        let eaters = self.eaters.read().unwrap_or_else(|p| p.into_inner());
        let mut dropped = 0;
        for eater in eaters.values() {
            eater.queue.push_all(run.iter().cloned(), &mut dropped);
        }
        if dropped > 0 {
            self.dumplings_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    fn status(&self) -> SystemStatus {
        let kitchens = self.kitchens.lock().unwrap_or_else(|p| p.into_inner());
        let eaters = self.eaters.read().unwrap_or_else(|p| p.into_inner());
        SystemStatus {
            total_dumplings_in: self.dumplings_in.load(Ordering::Relaxed),
            total_dumplings_out: self.dumplings_out.load(Ordering::Relaxed),
            server_uptime: self.started.elapsed().as_secs_f64(),
            dumpling_kitchen_count: kitchens.len(),
            dumpling_eater_count: eaters.len(),
            dumpling_kitchens: kitchens
                .values()
                .map(|k| KitchenStatus {
                    info_from_kitchen: k.hello.info.clone(),
                    info_from_hub: InfoFromHub {
                        host: k.peer.ip().to_string(),
                        port: k.peer.port(),
                        dumplings_dropped: None,
                        queue_depth: None,
                    },
                })
                .collect(),
            dumpling_eaters: eaters
                .values()
                .map(|e| EaterStatus {
                    info_from_eater: e.hello.info.clone(),
                    info_from_hub: InfoFromHub {
                        host: e.peer.ip().to_string(),
                        port: e.peer.port(),
                        dumplings_dropped: Some(e.queue.dropped()),
                        queue_depth: Some(e.queue.len()),
                    },
                })
                .collect(),
            total_dumplings_dropped: self.dumplings_dropped.load(Ordering::Relaxed),
        }
    }

    /// The `/metrics` page.
    fn metrics(&self) -> String {
        let live = self.live();
        let eaters: Vec<metrics::EaterSample> = self
            .eaters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|e| metrics::EaterSample {
                name: e.hello.name.clone(),
                peer: e.peer.to_string(),
                queue_depth: e.queue.len(),
                queue_bytes: e.queue.bytes(),
                dropped: e.queue.dropped(),
                written: e.written.load(Ordering::Relaxed),
            })
            .collect();
        let gauges = metrics::Gauges {
            uptime_secs: self.started.elapsed().as_secs_f64(),
            kitchens: self
                .kitchens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            eaters,
            open_in: self.open[Role::Kitchen as usize].load(Ordering::Relaxed),
            open_out: self.open[Role::Eater as usize].load(Ordering::Relaxed),
            invalid: self.dumplings_invalid.load(Ordering::Relaxed),
            dropped: self.dumplings_dropped.load(Ordering::Relaxed),
            tokens_kitchen: live.kitchen_tokens.is_some(),
            tokens_eater: live.eater_tokens.is_some(),
            tls: live.tls.is_some(),
        };
        metrics::render(&self.registry, &self.counters, &gauges)
    }
}

fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
}

/// A hub whose sockets are bound but which does not serve yet.
pub struct BoundHub {
    state: Arc<State>,
    in_listeners: Vec<TcpListener>,
    out_listeners: Vec<TcpListener>,
    /// HTTP listeners (dashboard and/or metrics) with what each serves.
    http_listeners: Vec<(TcpListener, web::Site)>,
}

/// Reloads a running hub's configuration (SIGHUP in `nd-hub`).
#[derive(Clone)]
pub struct HubHandle {
    state: Arc<State>,
}

impl HubHandle {
    /// Replaces the tokens, limits, status period and TLS certificate with
    /// those of `config` (what applies to open connections and what to new
    /// ones only: [`config`]'s "What a reload changes"). Disconnects only the
    /// peers whose token `config` revokes. Refused whole (the old
    /// configuration stays) if `config` changes what needs a restart
    /// (addresses, ports) or its TLS files cannot be loaded.
    pub fn reload(&self, config: Config) -> anyhow::Result<()> {
        self.reload_from(|| Ok(config))
    }

    /// [`HubHandle::reload`] with the configuration `load` gives; a `load`
    /// that fails (an unreadable file, say) counts as a failed reload too.
    pub fn reload_from(&self, load: impl FnOnce() -> anyhow::Result<Config>) -> anyhow::Result<()> {
        let result = load().and_then(|config| self.try_reload(config));
        let counter = match result {
            Ok(()) => &self.state.counters.reloads_ok,
            Err(_) => &self.state.counters.reloads_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn try_reload(&self, config: Config) -> anyhow::Result<()> {
        let _one_at_a_time = self
            .state
            .reloading
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let old = self.state.live();
        if let Some(why) = old.config.restart_needed(&config) {
            anyhow::bail!(why);
        }
        let live = Arc::new(Live::new(config)?);
        announce_auth(&live.config);
        *self.state.live.write().unwrap_or_else(|p| p.into_inner()) = live;
        // Every connection task applies the new configuration itself (new
        // rate, new queue bounds) and closes itself if its token was revoked.
        self.state.reloads.send_replace(());
        Ok(())
    }

    /// `max_connections` as now configured.
    pub fn max_connections(&self) -> usize {
        self.state.live().config.max_connections
    }

    /// The `/metrics` page as it would be served now.
    pub fn metrics(&self) -> String {
        self.state.metrics()
    }
}

/// Logs, once, whether peers must authenticate.
fn announce_auth(config: &Config) {
    match (&config.kitchen_tokens, &config.eater_tokens) {
        (None, None) => warn!(
            "no tokens configured: any kitchen and any eater may connect (as in netdumplings)"
        ),
        (k, e) => {
            let describe = |t: &Option<Vec<String>>| match t {
                None => "not required".to_string(),
                Some(t) if t.is_empty() => "required, but none is valid: all refused".to_string(),
                Some(t) => format!("required ({} accepted)", t.len()),
            };
            info!(
                "kitchen tokens {}; eater tokens {}",
                describe(k),
                describe(e)
            );
        }
    }
}

/// Binds the in and out ports on every address `config.address` resolves
/// to, and the HTTP ports if asked; loads the TLS certificate.
///
/// `localhost` usually resolves to both 127.0.0.1 and ::1; an address that
/// cannot be bound (no IPv6, say) is skipped with a warning as long as one
/// address works.
pub async fn bind(config: Config) -> anyhow::Result<BoundHub> {
    let live = Live::new(config.clone())?;
    let in_listeners = bind_all(&config.address, config.in_port).await?;
    let mut out_listeners = bind_all(&config.address, config.out_port).await?;
    // With port 0 each address gets its own port; that is fine for tests,
    // which bind a single address.
    out_listeners.sort_by_key(|l| l.local_addr().map(|a| a.is_ipv6()).unwrap_or(true));
    let out_port = out_listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    let mut http: Vec<(Option<String>, u16, web::Site)> = Vec::new();
    if let Some(port) = config.web_port {
        http.push((
            None,
            port,
            web::Site {
                dashboard: Some(web::Dashboard {
                    out_port,
                    tls: config.tls.is_some(),
                }),
                metrics: None,
            },
        ));
    }
    let mut registry = metrics::Registry::default();
    let (status_series, _) = registry.series("", nd_protocol::SYSTEM_STATUS_CHEF);
    let state = Arc::new(State {
        live: RwLock::new(Arc::new(live)),
        reloads: watch::Sender::new(()),
        reloading: Mutex::new(()),
        started: Instant::now(),
        next_id: AtomicU64::new(1),
        dumplings_in: AtomicU64::new(0),
        dumplings_out: AtomicU64::new(0),
        dumplings_dropped: AtomicU64::new(0),
        dumplings_invalid: AtomicU64::new(0),
        open: [AtomicUsize::new(0), AtomicUsize::new(0)],
        kitchens: Mutex::new(BTreeMap::new()),
        eaters: RwLock::new(BTreeMap::new()),
        registry: std::mem::take(&mut registry),
        counters: metrics::Counters::default(),
        status_series,
    });
    if let Some(m) = &config.metrics {
        let same = http
            .iter_mut()
            .find(|(host, port, _)| *port == m.port && m.port != 0 && *host == m.host);
        match same {
            Some((_, _, site)) => site.metrics = Some(state.clone()),
            None => http.push((
                m.host.clone(),
                m.port,
                web::Site {
                    dashboard: None,
                    metrics: Some(state.clone()),
                },
            )),
        }
    }
    let mut http_listeners = Vec::new();
    for (host, port, site) in http {
        for l in bind_all(host.as_deref().unwrap_or(&config.address), port).await? {
            http_listeners.push((l, site.clone()));
        }
    }
    Ok(BoundHub {
        state,
        in_listeners,
        out_listeners,
        http_listeners,
    })
}

async fn bind_all(host: &str, port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host:?}"))?
        .collect();
    let mut listeners = Vec::new();
    let mut last_err = None;
    for addr in &addrs {
        match TcpListener::bind(addr).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                debug!("cannot bind {addr}: {e}");
                last_err = Some((addr, e));
            }
        }
    }
    if listeners.is_empty() {
        return Err(match last_err {
            Some((addr, e)) => anyhow::anyhow!("cannot listen on {addr}: {e}"),
            None => anyhow::anyhow!("{host:?} resolves to no address"),
        });
    }
    if let Some((addr, e)) = last_err {
        warn!("not listening on {addr}: {e}");
    }
    Ok(listeners)
}

impl BoundHub {
    /// Addresses kitchens connect to.
    pub fn in_addrs(&self) -> Vec<SocketAddr> {
        self.in_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Addresses eaters connect to.
    pub fn out_addrs(&self) -> Vec<SocketAddr> {
        self.out_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Addresses the dashboard page is served on (none without `web_port`).
    pub fn web_addrs(&self) -> Vec<SocketAddr> {
        self.http_addrs(|s| s.dashboard.is_some())
    }

    /// Addresses /metrics and /healthz are served on (none without `metrics`).
    pub fn metrics_addrs(&self) -> Vec<SocketAddr> {
        self.http_addrs(|s| s.metrics.is_some())
    }

    fn http_addrs(&self, which: impl Fn(&web::Site) -> bool) -> Vec<SocketAddr> {
        self.http_listeners
            .iter()
            .filter(|(_, s)| which(s))
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// A handle to reload the configuration while the hub runs.
    pub fn handle(&self) -> HubHandle {
        HubHandle {
            state: self.state.clone(),
        }
    }

    /// Serves until `shutdown` resolves, then sends every peer a close frame
    /// (1001 "going away"), waits up to [`SHUTDOWN_GRACE`] for them to answer,
    /// and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = self.state.clone();
        let mut tasks = JoinSet::new();
        let scheme = if state.live().tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        announce_auth(&state.live().config);
        for l in self.in_listeners {
            info!("dumplings in: {scheme}://{}", l.local_addr()?);
            tasks.spawn(accept_loop(
                l,
                state.clone(),
                stop_rx.clone(),
                Role::Kitchen,
            ));
        }
        for (l, site) in self.http_listeners {
            tasks.spawn(web::serve(l, site, stop_rx.clone()));
        }
        for l in self.out_listeners {
            info!("dumplings out: {scheme}://{}", l.local_addr()?);
            tasks.spawn(accept_loop(l, state.clone(), stop_rx.clone(), Role::Eater));
        }
        tasks.spawn(status_loop(state.clone(), stop_rx.clone()));
        info!("dumpling hub initiated; waiting for connections");
        shutdown.await;
        info!("shutting down: closing every connection");
        let _ = stop_tx.send(true);
        // Accept loops stop accepting and wait for their connections.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE * 2, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("some connections did not close in time; dropping them");
            tasks.abort_all();
        }
        info!("dumpling hub signing off. Thanks!");
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Kitchen = 0,
    Eater = 1,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Kitchen => "kitchen",
            Role::Eater => "eater",
        }
    }
}

/// Decrements a role's open-connection count when a connection task ends.
struct OpenGuard {
    state: Arc<State>,
    role: Role,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.state.open[self.role as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    role: Role,
) {
    let mut conns = JoinSet::new();
    // Refusals are logged at most once per second (a flood must not flood the log).
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let live = state.live();
                    let open = &state.open[role as usize];
                    if open.load(Ordering::Relaxed) >= live.config.max_connections {
                        state.counters.refused(role == Role::Eater, Refusal::MaxConnections);
                        if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                            warn!(
                                "{peer}: refused: {} {} connections open (max_connections)",
                                open.load(Ordering::Relaxed), role.name()
                            );
                            last_refusal_log = Some(Instant::now());
                        }
                        if live.tls.is_none() {
                            // Best effort, never waits: the socket buffer takes it.
                            let _ = stream.try_write(TOO_MANY);
                        }
                        continue;
                    }
                    open.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    let guard = OpenGuard { state: state.clone(), role };
                    let stop = stop.clone();
                    conns.spawn(async move {
                        let state = guard.state.clone();
                        serve_connection(state, live, stream, peer, stop, role).await;
                        drop(guard);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// TLS (if configured), then the kitchen or eater protocol.
async fn serve_connection(
    state: Arc<State>,
    live: Arc<Live>,
    stream: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    role: Role,
) {
    let deadline = tokio::time::Instant::now() + live.config.hello_timeout;
    match live.tls.clone() {
        None => serve_role(state, live, stream, peer, stop, role, deadline).await,
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => serve_role(state, live, tls, peer, stop, role, deadline).await,
            Ok(Err(e)) => {
                state
                    .counters
                    .refused(role == Role::Eater, Refusal::Handshake);
                debug!("{peer}: TLS handshake failed: {e}");
            }
            Err(_) => {
                state
                    .counters
                    .refused(role == Role::Eater, Refusal::Handshake);
                debug!("{peer}: no TLS handshake in time");
            }
        },
    }
}

async fn serve_role<S>(
    state: Arc<State>,
    live: Arc<Live>,
    stream: S,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    role: Role,
    deadline: tokio::time::Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Subscribed before the token check reads the configuration: a reload
    // after that read is then seen by the connection's task.
    let reloads = state.reloads.subscribe();
    let Some((ws, hello, credential)) =
        handshake(&state, &live, stream, peer, role, deadline).await
    else {
        return;
    };
    drop(live);
    let peer = Peer {
        addr: peer,
        credential,
        reloads,
    };
    match role {
        Role::Kitchen => serve_kitchen(state, ws, hello, peer, stop).await,
        Role::Eater => serve_eater(state, ws, hello, peer, stop).await,
    }
}

/// A connected, authenticated peer, as its task keeps it.
struct Peer {
    /// Where it connected from.
    addr: SocketAddr,
    /// The token it presented, checked again after every reload.
    credential: auth::Credential,
    /// Tells the task a reload happened (see [`State::reloads`]).
    reloads: watch::Receiver<()>,
}

/// Completes the WebSocket handshake, checks the token (against the
/// configuration as it is now, not as it was at accept time), reads the
/// hello, all before `deadline`.
async fn handshake<S>(
    state: &State,
    live: &Live,
    stream: S,
    peer: SocketAddr,
    role: Role,
    deadline: tokio::time::Instant,
) -> Option<(WebSocketStream<S>, Hello, auth::Credential)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let eater = role == Role::Eater;
    let mut presented: Option<String> = None;
    // tungstenite's callback type; it never errs here (the token is checked
    // after the upgrade, so the refusal can carry a close reason).
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        presented = auth::presented_token(req);
        Ok(resp)
    };
    let mut ws = match tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(ws_config(&live.config)),
        ),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            state.counters.refused(eater, Refusal::Handshake);
            debug!("{peer}: WebSocket handshake failed: {e}");
            return None;
        }
        Err(_) => {
            state.counters.refused(eater, Refusal::Handshake);
            debug!("{peer}: no WebSocket handshake in time");
            return None;
        }
    };
    let credential = auth::Credential::new(presented.as_deref());
    if !state.live().admits(role, &credential) {
        state.counters.refused(eater, Refusal::Unauthorized);
        let why = if credential.presented() {
            "wrong token"
        } else {
            "no token"
        };
        warn!("{peer}: {} refused: {why}", role.name());
        let code = nd_protocol::CloseCode::Unauthorized;
        close(&mut ws, WsCloseCode::from(code.code()), code.reason()).await;
        return None;
    }
    let first = tokio::time::timeout_at(deadline, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => {
                    return String::from_utf8(b.to_vec())
                        .map_err(|_| "hello is binary, not UTF-8 JSON".to_string())
                }
                Some(Ok(Message::Close(_))) | None => return Err(String::new()),
                Some(Ok(_)) => continue, // ping/pong before hello
                Some(Err(e)) => return Err(format!("read error before hello: {e}")),
            }
        }
    })
    .await;
    let text = match first {
        Ok(Ok(t)) => t,
        Ok(Err(reason)) => {
            state.counters.refused(eater, Refusal::BadHello);
            if !reason.is_empty() {
                warn!("{peer}: {reason}");
                close(&mut ws, WsCloseCode::Policy, &reason).await;
            }
            return None;
        }
        Err(_) => {
            state.counters.refused(eater, Refusal::NoHello);
            warn!(
                "{peer}: no hello within {:?}; closing",
                live.config.hello_timeout
            );
            close(&mut ws, WsCloseCode::Policy, "no hello received in time").await;
            return None;
        }
    };
    let name_key = match role {
        Role::Kitchen => "kitchen_name",
        Role::Eater => "eater_name",
    };
    match nd_protocol::parse_hello(&text, name_key) {
        Ok(hello) => Some((ws, hello, credential)),
        Err(e) => {
            state.counters.refused(eater, Refusal::BadHello);
            warn!("{peer}: invalid hello: {e}");
            close(&mut ws, WsCloseCode::Policy, &format!("invalid hello: {e}")).await;
            None
        }
    }
}

/// A close frame for `code` and `reason` (cut to the 123 bytes the
/// protocol allows, on a character boundary).
fn close_frame(code: WsCloseCode, reason: &str) -> CloseFrame {
    let mut reason = reason.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// Sends a close frame and waits (briefly) for the peer's answer.
async fn close<S>(ws: &mut WebSocketStream<S>, code: WsCloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = close_frame(code, reason);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        if ws.close(Some(frame)).await.is_ok() {
            // Drain until the peer's close arrives or the socket ends.
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The per-kitchen rate limit: a token bucket refilled at `rate` per
/// second, holding at most `burst`.
struct Bucket {
    /// Dumplings per second; `None`: unlimited.
    rate: Option<f64>,
    /// Largest number of tokens held.
    burst: f64,
    /// Tokens now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl Bucket {
    fn new(config: &Config) -> Bucket {
        Bucket {
            rate: config.kitchen_rate,
            burst: config.kitchen_burst,
            tokens: config.kitchen_burst,
            last: Instant::now(),
        }
    }

    /// New limits (a reload), keeping the tokens already earned.
    fn update(&mut self, config: &Config) {
        self.rate = config.kitchen_rate;
        self.burst = config.kitchen_burst;
        self.tokens = self.tokens.min(self.burst);
    }

    /// Takes one token; how long to wait first if there is none.
    fn take(&mut self) -> Option<Duration> {
        let rate = self.rate?;
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-self.tokens / rate))
        }
    }
}

/// Why a connection is closed after a reload: its token was revoked.
const TOKEN_REVOKED: &str = "token revoked";

/// Applies a reload to a kitchen: its new rate limit; `false` if the
/// kitchen's token is no longer accepted.
fn kitchen_reloaded(state: &State, credential: &auth::Credential, bucket: &mut Bucket) -> bool {
    let live = state.live();
    bucket.update(&live.config);
    live.admits(Role::Kitchen, credential)
}

async fn serve_kitchen<S>(
    state: Arc<State>,
    mut ws: WebSocketStream<S>,
    hello: Hello,
    peer: Peer,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Peer {
        addr: peer,
        credential,
        mut reloads,
    } = peer;
    let name = hello.name.clone();
    let id = state.new_id();
    info!(kitchen = %name, %peer, "dumpling kitchen connected");
    state
        .kitchens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, KitchenEntry { hello, peer });
    // This kitchen's metrics series by chef (no lock on the hot path).
    let mut series: HashMap<String, (SeriesId, Arc<metrics::Series>)> = HashMap::new();
    // The last chef's series: a kitchen sends runs of one chef's dumplings,
    // and a string compare is cheaper than hashing the name every time.
    let mut last: Option<(String, (SeriesId, Arc<metrics::Series>))> = None;
    let mut bucket = Bucket::new(&state.live().config);
    let revoked = || {
        warn!(kitchen = %name, %peer, "{TOKEN_REVOKED} by a reload; closing");
        WsCloseCode::from(nd_protocol::CloseCode::Unauthorized.code())
    };
    // Dumplings read and validated but not yet handed to the eaters. Messages
    // that are already buffered (a busy kitchen's, read 128 KiB at a time)
    // are taken without waiting and handed over as one run, before the loop
    // waits for more: one lock and one wake-up per eater per run instead of
    // per dumpling, and no added latency.
    let mut run: Vec<Queued> = Vec::with_capacity(MAX_RUN);
    let mut tally = Tally::default();

    let reason = loop {
        let ready = if run.len() < MAX_RUN {
            ws.next().now_or_never()
        } else {
            None
        };
        let msg = match ready {
            Some(msg) => msg,
            None => {
                hand_off(&state, &mut run, &mut tally);
                tokio::select! {
                    _ = stopped(&mut stop) => {
                        close(&mut ws, WsCloseCode::Away, "hub shutting down").await;
                        break "hub shutting down".to_string();
                    }
                    Ok(()) = reloads.changed() => {
                        if !kitchen_reloaded(&state, &credential, &mut bucket) {
                            close(&mut ws, revoked(), TOKEN_REVOKED).await;
                            break TOKEN_REVOKED.to_string();
                        }
                        continue;
                    }
                    msg = ws.next() => msg,
                }
            }
        };
        let text: Utf8Bytes = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(b))) => match Utf8Bytes::try_from(b) {
                // netdumplings' hub json.loads() binary frames too.
                Ok(t) => t,
                Err(_) => {
                    state.dumplings_invalid.fetch_add(1, Ordering::Relaxed);
                    error!(kitchen = %name, "received invalid dumpling: binary frame is not UTF-8");
                    continue;
                }
            },
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(f) => format!("closed by kitchen ({} {})", u16::from(f.code), f.reason),
                    None => "closed by kitchen".to_string(),
                };
            }
            Some(Ok(Message::Ping(_))) => {
                // A kitchen's ping acknowledges what it sent before (see
                // nd-runtime's relay); tungstenite answers it on the next
                // read. Hand the run over first, so the answer means "in the
                // eaters' queues", not just "read".
                hand_off(&state, &mut run, &mut tally);
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                // Tell the peer why, with the code RFC 6455 gives the case.
                use tokio_tungstenite::tungstenite::Error as WsError;
                let (code, why) = match &e {
                    WsError::Capacity(c) => (WsCloseCode::Size, format!("message too big: {c}")),
                    WsError::Utf8(_) => (
                        WsCloseCode::Invalid,
                        "invalid UTF-8 in a text message".to_string(),
                    ),
                    WsError::Protocol(p) => (WsCloseCode::Protocol, format!("protocol error: {p}")),
                    _ => break format!("connection error: {e}"),
                };
                warn!(kitchen = %name, "{why}; closing");
                close(&mut ws, code, &why).await;
                break why;
            }
            None => break "connection lost".to_string(),
        };
        if reloads.has_changed().unwrap_or(false) {
            reloads.mark_unchanged();
            if !kitchen_reloaded(&state, &credential, &mut bucket) {
                // What was read before the reload still goes out now, not
                // after the close handshake's grace period.
                hand_off(&state, &mut run, &mut tally);
                close(&mut ws, revoked(), TOKEN_REVOKED).await;
                break TOKEN_REVOKED.to_string();
            }
        }
        if let Some(wait) = bucket.take() {
            hand_off(&state, &mut run, &mut tally);
            // Not reading the socket meanwhile is the back-pressure. A
            // reload cuts the wait short (the new rate applies from the next
            // message; a revoked kitchen is closed at once).
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(&mut stop) => {}
                Ok(()) = reloads.changed() => {
                    if !kitchen_reloaded(&state, &credential, &mut bucket) {
                        close(&mut ws, revoked(), TOKEN_REVOKED).await;
                        break TOKEN_REVOKED.to_string();
                    }
                }
            }
            state
                .counters
                .throttled_us
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
        }
        match nd_protocol::validate_dumpling(text.as_str()) {
            Ok(summary) => {
                debug!(kitchen = %name, chef = %summary.chef, bytes = text.len(), "dumpling in");
                if !matches!(&last, Some((chef, _)) if *chef == *summary.chef) {
                    let found = match series.get(summary.chef.as_ref()) {
                        Some(found) => found.clone(),
                        None => {
                            let found = state.registry.series(&name, &summary.chef);
                            // Bounded like the registry: a kitchen inventing
                            // names keeps looking them up instead.
                            if series.len() < metrics::MAX_SERIES {
                                series.insert(summary.chef.to_string(), found.clone());
                            }
                            found
                        }
                    };
                    last = Some((summary.chef.to_string(), found));
                }
                let Some((_, (sid, s))) = &last else {
                    continue; // never: set just above
                };
                tally.add(s, text.len());
                run.push(Queued { text, series: *sid });
            }
            Err(e) => {
                state.dumplings_invalid.fetch_add(1, Ordering::Relaxed);
                error!(kitchen = %name, "received invalid dumpling: {e}");
            }
        }
    };
    // What was read before the kitchen went away is still delivered.
    hand_off(&state, &mut run, &mut tally);
    state
        .kitchens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    info!(kitchen = %name, %peer, "dumpling kitchen disconnected: {reason}");
}

/// A kitchen's counts of valid dumplings in, for the chef of the dumplings
/// being read, not yet added to the shared counters. They are added once
/// per run ([`hand_off`]) rather than per dumpling: the eaters' writers, on
/// other cores, count what they write in the same [`metrics::Series`], and
/// a counter updated per dumpling made that cache line bounce between cores.
#[derive(Default)]
struct Tally {
    /// The series counted; a run of one chef's dumplings is the usual case.
    series: Option<Arc<metrics::Series>>,
    /// Dumplings and bytes counted for `series` since the last flush.
    dumplings: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, series: &Arc<metrics::Series>, bytes: usize) {
        if !matches!(&self.series, Some(s) if Arc::ptr_eq(s, series)) {
            self.flush_series();
            self.series = Some(series.clone());
        }
        self.dumplings += 1;
        self.bytes += bytes as u64;
    }

    fn flush_series(&mut self) {
        if let Some(s) = &self.series {
            if self.dumplings > 0 {
                s.dumplings_in.fetch_add(self.dumplings, Ordering::Relaxed);
                s.bytes_in.fetch_add(self.bytes, Ordering::Relaxed);
            }
        }
        self.dumplings = 0;
        self.bytes = 0;
    }
}

/// Hands a kitchen's run to the eaters, counted in first (so counts never
/// show more out than in), and empties it. Every dumpling of the run was
/// counted in `tally` when it was pushed.
fn hand_off(state: &State, run: &mut Vec<Queued>, tally: &mut Tally) {
    tally.flush_series();
    if !run.is_empty() {
        state
            .dumplings_in
            .fetch_add(run.len() as u64, Ordering::Relaxed);
    }
    state.fan_out(run);
    run.clear();
}

/// Applies a reload to an eater: its queue's new bounds; `false` if the
/// eater's token is no longer accepted.
fn eater_reloaded(state: &State, entry: &EaterEntry, credential: &auth::Credential) -> bool {
    let live = state.live();
    entry
        .queue
        .set_limits(live.config.eater_queue, live.config.eater_queue_bytes);
    live.admits(Role::Eater, credential)
}

async fn serve_eater<S>(
    state: Arc<State>,
    ws: WebSocketStream<S>,
    hello: Hello,
    peer: Peer,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Peer {
        addr: peer,
        credential,
        mut reloads,
    } = peer;
    let name = hello.name.clone();
    let id = state.new_id();
    // Read after `reloads` was subscribed: a reload from here on is seen
    // below, whether or not it found this eater registered.
    let config = state.live().config.clone();
    let entry = Arc::new(EaterEntry {
        hello,
        peer,
        queue: EaterQueue::new(
            config.eater_queue,
            config.eater_queue_bytes,
            config.slow_eater,
        ),
        written: AtomicU64::new(0),
    });
    state
        .eaters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, entry.clone());
    info!(eater = %name, %peer, "dumpling eater connected");

    let (mut sink, mut source) = ws.split();
    // The reader only watches for the eater closing (eaters send nothing
    // else); it answers pings through tungstenite's automatic replies.
    let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<String>();
    let reader = tokio::spawn(async move {
        let reason = loop {
            match source.next().await {
                Some(Ok(Message::Close(frame))) => {
                    break match frame {
                        Some(f) => format!("closed by eater ({} {})", u16::from(f.code), f.reason),
                        None => "closed by eater".to_string(),
                    }
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => break format!("connection error: {e}"),
                None => break "connection lost".to_string(),
            }
        };
        let _ = gone_tx.send(reason);
    });

    let mut batch = Vec::with_capacity(WRITE_BATCH);
    // (series, bytes) of the batch being written, for the metrics.
    let mut written: Vec<(SeriesId, usize)> = Vec::with_capacity(WRITE_BATCH);
    let revoked = || {
        warn!(eater = %name, %peer, "{TOKEN_REVOKED} by a reload; closing");
        Some((
            WsCloseCode::from(nd_protocol::CloseCode::Unauthorized.code()),
            TOKEN_REVOKED.to_string(),
        ))
    };
    let shutting_down = || Some((WsCloseCode::Away, "hub shutting down".to_string()));
    // Why the loop ended, and the close frame to send (none if the eater
    // went away by itself).
    let (reason, close_with) = loop {
        tokio::select! {
            biased;
            r = &mut gone_rx => break (r.unwrap_or_else(|_| "connection lost".into()), None),
            _ = stopped(&mut stop) => break ("hub shutting down".to_string(), shutting_down()),
            Ok(()) = reloads.changed() => {
                if !eater_reloaded(&state, &entry, &credential) {
                    break (TOKEN_REVOKED.to_string(), revoked());
                }
                continue;
            }
            () = entry.queue.wait_batch(&mut batch, WRITE_BATCH) => {}
        }
        if entry.queue.overflowed() {
            let (items, bytes) = entry.queue.limits();
            let why =
                format!("eater too slow: more than {items} dumplings or {bytes} bytes queued");
            break (why.clone(), Some((WsCloseCode::Policy, why)));
        }
        let n = batch.len() as u64;
        // The write may wait long (an eater that does not read): a reload
        // meanwhile is still applied, and a revoked eater closed, without
        // abandoning a write that is going to complete.
        let ended = {
            let write = async {
                for q in batch.drain(..) {
                    written.push((q.series, q.text.len()));
                    sink.feed(Message::Text(q.text)).await?;
                }
                sink.flush().await
            };
            tokio::pin!(write);
            loop {
                tokio::select! {
                    r = &mut write => break r.err().map(|e| (format!("write error: {e}"), None)),
                    r = &mut gone_rx => {
                        break Some((r.unwrap_or_else(|_| "connection lost".into()), None));
                    }
                    _ = stopped(&mut stop) => {
                        break Some(("hub shutting down".to_string(), shutting_down()));
                    }
                    Ok(()) = reloads.changed() => {
                        if !eater_reloaded(&state, &entry, &credential) {
                            break Some((TOKEN_REVOKED.to_string(), revoked()));
                        }
                    }
                }
            }
        };
        match ended {
            None => {
                state.dumplings_out.fetch_add(n, Ordering::Relaxed);
                entry.written.fetch_add(n, Ordering::Relaxed);
                state.registry.count_out(written.drain(..));
            }
            Some(end) => break end,
        }
    };
    state
        .eaters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some((code, why)) = close_with {
        let frame = close_frame(code, &why);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            if sink.send(Message::Close(Some(frame))).await.is_ok() {
                let _ = (&mut gone_rx).await;
            }
        })
        .await;
    }
    reader.abort();
    info!(
        eater = %name, %peer, dropped = entry.queue.dropped(),
        "dumpling eater disconnected: {reason}"
    );
}

/// Sends a status dumpling at start-up (as netdumplings does), then every
/// `status_freq` (re-read each period: a reload may change it).
async fn status_loop(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut reloads = state.reloads.subscribe();
    let mut first = true;
    let mut last = tokio::time::Instant::now();
    loop {
        if !std::mem::take(&mut first) {
            // Re-read after a reload: a new period counts from the last
            // status, not from the end of the old period.
            loop {
                let next = last + state.live().config.status_freq;
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tokio::time::sleep_until(next) => break,
                    Ok(()) = reloads.changed() => {}
                }
            }
        }
        last = tokio::time::Instant::now();
        let status = state.status();
        let payload = match serde_json::to_string(&status) {
            Ok(p) => p,
            Err(e) => {
                error!("cannot serialise status: {e}");
                continue;
            }
        };
        let text = nd_protocol::encode_dumpling(
            nd_protocol::SYSTEM_STATUS_CHEF,
            None,
            nd_protocol::now_epoch_secs(),
            Driver::Interval,
            &payload,
        );
        state.fan_out(&[Queued {
            text: Utf8Bytes::from(text),
            series: state.status_series,
        }]);
    }
}

/// Resolves once shutdown was requested (or the hub is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here, not in select!.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Checks what [`bind`] would load, without binding: the TLS certificate
/// and key (the token files were read by [`Settings::resolve`]).
pub fn check(config: &Config) -> anyhow::Result<()> {
    Live::new(config.clone()).map(|_| ())
}
