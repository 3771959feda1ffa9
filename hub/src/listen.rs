//! Binding the ports, accepting connections (within `max_connections`),
//! TLS, and the serve-until-shutdown loop of [`BoundHub::run`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::handshake::{handshake, Peer, SHUTDOWN_GRACE};
use crate::metrics::{self, Refusal};
use crate::reload::{announce_auth, HubHandle};
use crate::state::{Live, Role, State};
use crate::{eater, kitchen, status, stopped, web};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// What a connection over `max_connections` gets before the socket closes
/// (plain ports only; on a TLS port it is just closed).
pub(crate) const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
Content-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";

/// A hub whose sockets are bound but which does not serve yet.
pub struct BoundHub {
    pub(crate) state: Arc<State>,
    pub(crate) in_listeners: Vec<TcpListener>,
    pub(crate) out_listeners: Vec<TcpListener>,
    /// HTTP listeners (dashboard and/or metrics) with what each serves.
    pub(crate) http_listeners: Vec<(TcpListener, web::Site)>,
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
        undelivered_at_shutdown: AtomicU64::new(0),
        serving: AtomicBool::new(false),
        last_reload_error: Mutex::new(None),
        open: [AtomicUsize::new(0), AtomicUsize::new(0)],
        kitchens: Mutex::new(BTreeMap::new()),
        eaters: RwLock::new(BTreeMap::new()),
        registry: std::mem::take(&mut registry),
        counters: metrics::Counters::default(),
        status_series,
        bus: std::sync::OnceLock::new(),
    });
    if let Some(nats) = &config.nats {
        let sink = Arc::new(crate::state::BusSink(Arc::downgrade(&state)));
        let bus = crate::bus::Bus::start(nats.clone(), sink).await?;
        let _ = state.bus.set(bus);
    }
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

pub(crate) async fn bind_all(host: &str, port: u16) -> anyhow::Result<Vec<TcpListener>> {
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

    /// Serves until `shutdown` resolves, then drains (see the crate's
    /// "Shutdown"): stops accepting, closes every kitchen (1001) without
    /// reading further, writes out every eater's queue within
    /// `drain_timeout`, closes every eater (1001), and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        // Accept loops, kitchens, the status loop and HTTP stop on `stop`;
        // eaters on `drain`, sent once the kitchens are done.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (drain_tx, drain_rx) = watch::channel(false);
        let state = self.state.clone();
        let mut kitchens = JoinSet::new();
        let mut eaters = JoinSet::new();
        let mut others = JoinSet::new();
        let scheme = if state.live().tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        announce_auth(&state.live().config);
        for l in self.in_listeners {
            info!("dumplings in: {scheme}://{}", l.local_addr()?);
            let (accepting, conns) = (stop_rx.clone(), stop_rx.clone());
            kitchens.spawn(accept_loop(
                l,
                state.clone(),
                accepting,
                conns,
                Role::Kitchen,
            ));
        }
        // HTTP stays up through the drain: /healthz then says 503.
        let (http_tx, http_rx) = watch::channel(false);
        let mut http = JoinSet::new();
        for (l, site) in self.http_listeners {
            http.spawn(web::serve(l, site, http_rx.clone()));
        }
        for l in self.out_listeners {
            info!("dumplings out: {scheme}://{}", l.local_addr()?);
            let (accepting, conns) = (stop_rx.clone(), drain_rx.clone());
            eaters.spawn(accept_loop(l, state.clone(), accepting, conns, Role::Eater));
        }
        others.spawn(status::status_loop(state.clone(), stop_rx.clone()));
        state.serving.store(true, Ordering::Relaxed);
        info!("dumpling hub initiated; waiting for connections");
        shutdown.await;
        info!("shutting down: closing kitchens, then writing out what eaters have queued");
        state.serving.store(false, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        // Kitchen tasks end once what they read is in the eaters' queues.
        join_within(&mut kitchens, SHUTDOWN_GRACE * 2, "kitchen").await;
        join_within(&mut others, SHUTDOWN_GRACE, "status").await;
        if let Some(bus) = state.bus.get() {
            // What the kitchens sent goes to the stream (bounded wait) and
            // to this hub's eaters before the drain.
            bus.shutdown().await;
        }
        let drain = state.live().config.drain_timeout;
        let queued: usize = state
            .eaters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|e| e.queue.len())
            .sum();
        info!("draining: {queued} dumplings queued for eaters (drain_timeout {drain:?})");
        let _ = drain_tx.send(true);
        join_within(&mut eaters, drain + SHUTDOWN_GRACE * 2, "eater").await;
        let _ = http_tx.send(true);
        join_within(&mut http, SHUTDOWN_GRACE, "HTTP").await;
        let undelivered = state.undelivered_at_shutdown.load(Ordering::Relaxed);
        if undelivered > 0 {
            warn!("{undelivered} queued dumplings could not be written to eaters within drain_timeout");
        }
        info!("dumpling hub signing off. Thanks!");
        Ok(())
    }
}

/// Waits up to `limit` for `tasks` to end, then aborts what is left.
async fn join_within(tasks: &mut JoinSet<()>, limit: Duration, what: &str) {
    let done =
        tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} }).await;
    if done.is_err() {
        warn!("some {what} connections did not close in time; dropping them");
        tasks.abort_all();
    }
}

/// Decrements a role's open-connection count when a connection task ends.
pub(crate) struct OpenGuard {
    pub(crate) state: Arc<State>,
    pub(crate) role: Role,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.state.open[self.role as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections on `listener` until `stop`, then waits for them.
/// `conn_stop` is what the connections themselves stop on (kitchens:
/// `stop`; eaters: the later drain signal).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    conn_stop: watch::Receiver<bool>,
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
                    let stop = conn_stop.clone();
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
pub(crate) async fn serve_connection(
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

pub(crate) async fn serve_role<S>(
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
    let Some(accepted) = handshake(&state, &live, stream, peer, role, deadline).await else {
        return;
    };
    drop(live);
    let (ws, hello) = (accepted.ws, accepted.hello);
    let peer = Peer {
        addr: peer,
        credential: accepted.credential,
        reloads,
        subscription: accepted.subscription,
        history: accepted.history,
    };
    match role {
        Role::Kitchen => kitchen::serve_kitchen(state, ws, hello, peer, stop).await,
        Role::Eater => eater::serve_eater(state, ws, hello, peer, stop).await,
    }
}
