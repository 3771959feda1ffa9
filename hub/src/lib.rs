//! `nd-hub`: receives dumplings from kitchens and fans them out to eaters.
//!
//! Wire-compatible with netdumplings 0.5.1's `DumplingHub`: two WebSocket
//! servers (kitchens on the in port, eaters on the out port), the same hello
//! messages, the same `SystemStatusChef` dumplings. Unlike it, every eater has
//! a bounded queue, every peer has limits, and nothing panics on input.
//!
//! # Layout
//!
//! - [`Config`]: every knob, with the named defaults below.
//! - [`bind`] -> [`BoundHub`]: listening sockets (so tests can use port 0 and
//!   learn the real ports) and [`BoundHub::run`], which serves until a
//!   shutdown future resolves, then closes every socket with a close frame.
//! - `queue`: the bounded per-eater queue and its overflow policy.
//! - [`web`]: the dashboard page (`--web PORT`), static files embedded from
//!   `hub/web/`; the page is an eater of the out port like any other.
//! - `kitchen` / `eater` (private functions below): one task per connection.
//!
//! # Invariants
//!
//! - A dumpling's text is forwarded byte for byte; the hub only reads it.
//! - Dumplings from one kitchen reach each eater in the order they arrived
//!   (a kitchen task pushes into every eater queue before reading its next
//!   message; each queue is FIFO).
//! - A slow eater affects only itself: pushes never wait on a socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use nd_protocol::status::{EaterStatus, InfoFromHub, KitchenStatus, SystemStatus};
use nd_protocol::{Driver, Hello};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, error, info, warn};

mod queue;
pub mod web;

use queue::EaterQueue;
pub use queue::{Overflow, SlowEaterPolicy};

/// Largest WebSocket message the hub accepts (a bigger one closes the
/// connection with code 1009). PacketCount/ARP/DNS dumplings are < 100 KiB;
/// 16 MiB leaves room for chatty chefs without letting one peer pin memory.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// How long a new connection may take to complete the WebSocket handshake
/// and send its hello before it is closed.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Dumplings an eater may have waiting before the slow-eater policy applies.
pub const DEFAULT_EATER_QUEUE: usize = 10_000;
/// Bytes an eater may have waiting before the slow-eater policy applies.
pub const DEFAULT_EATER_QUEUE_BYTES: usize = 64 << 20;
/// How long shutdown waits for peers to answer our close frames.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Most dumplings written to one eater before a flush (one syscall per batch).
const WRITE_BATCH: usize = 256;

/// Everything that configures a hub.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host name or address to listen on; every address it resolves to is bound.
    pub address: String,
    /// Port for kitchens (0 picks a free port; see [`BoundHub::in_addrs`]).
    pub in_port: u16,
    /// Port for eaters.
    pub out_port: u16,
    /// Time between two `SystemStatusChef` dumplings.
    pub status_freq: Duration,
    /// Largest accepted WebSocket message.
    pub max_message_size: usize,
    /// Deadline for the handshake plus the hello message.
    pub hello_timeout: Duration,
    /// Per-eater queue limit, in dumplings.
    pub eater_queue: usize,
    /// Per-eater queue limit, in bytes.
    pub eater_queue_bytes: usize,
    /// What happens when an eater's queue is full.
    pub slow_eater: SlowEaterPolicy,
    /// Port for the dashboard page (`--web`), on the same address; none
    /// serves no page.
    pub web_port: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: nd_protocol::HUB_HOST.to_string(),
            in_port: nd_protocol::HUB_IN_PORT,
            out_port: nd_protocol::HUB_OUT_PORT,
            status_freq: Duration::from_secs(nd_protocol::HUB_STATUS_FREQ_SECS),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            eater_queue: DEFAULT_EATER_QUEUE,
            eater_queue_bytes: DEFAULT_EATER_QUEUE_BYTES,
            slow_eater: SlowEaterPolicy::DropOldest,
            web_port: None,
        }
    }
}

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
}

/// State shared by every connection task.
struct State {
    /// The configuration the hub was started with.
    config: Config,
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
    /// Connected kitchens by connection id.
    kitchens: Mutex<BTreeMap<u64, KitchenEntry>>,
    /// Connected eaters by connection id. Read-locked on every dumpling
    /// (fan-out), write-locked only on connect/disconnect.
    eaters: RwLock<BTreeMap<u64, Arc<EaterEntry>>>,
}

impl State {
    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Pushes one dumpling into every eater's queue.
    fn fan_out(&self, text: &Utf8Bytes) {
        let eaters = self.eaters.read().unwrap_or_else(|p| p.into_inner());
        for eater in eaters.values() {
            if eater.queue.push(text.clone()) == Overflow::DroppedOldest {
                self.dumplings_dropped.fetch_add(1, Ordering::Relaxed);
            }
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

    fn ws_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.config.max_message_size))
            .max_frame_size(Some(self.config.max_message_size))
    }
}

/// A hub whose sockets are bound but which does not serve yet.
pub struct BoundHub {
    state: Arc<State>,
    in_listeners: Vec<TcpListener>,
    out_listeners: Vec<TcpListener>,
    /// The dashboard's HTTP listeners (empty without `Config::web_port`).
    web_listeners: Vec<TcpListener>,
}

/// Binds the in and out ports on every address `config.address` resolves to.
///
/// `localhost` usually resolves to both 127.0.0.1 and ::1; an address that
/// cannot be bound (no IPv6, say) is skipped with a warning as long as one
/// address works.
pub async fn bind(config: Config) -> anyhow::Result<BoundHub> {
    let in_listeners = bind_all(&config.address, config.in_port).await?;
    let mut out_listeners = bind_all(&config.address, config.out_port).await?;
    // With port 0 each address gets its own port; that is fine for tests,
    // which bind a single address.
    out_listeners.sort_by_key(|l| l.local_addr().map(|a| a.is_ipv6()).unwrap_or(true));
    let web_listeners = match config.web_port {
        Some(port) => bind_all(&config.address, port).await?,
        None => Vec::new(),
    };
    let state = Arc::new(State {
        config,
        started: Instant::now(),
        next_id: AtomicU64::new(1),
        dumplings_in: AtomicU64::new(0),
        dumplings_out: AtomicU64::new(0),
        dumplings_dropped: AtomicU64::new(0),
        dumplings_invalid: AtomicU64::new(0),
        kitchens: Mutex::new(BTreeMap::new()),
        eaters: RwLock::new(BTreeMap::new()),
    });
    Ok(BoundHub {
        state,
        in_listeners,
        out_listeners,
        web_listeners,
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
        self.web_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` resolves, then sends every peer a close frame
    /// (1001 "going away"), waits up to [`SHUTDOWN_GRACE`] for them to answer,
    /// and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = self.state.clone();
        let mut tasks = JoinSet::new();
        // The page's WebSocket goes to the out port (the bound one, if 0 was asked).
        let out_port = self.out_addrs().first().map_or(0, |a| a.port());
        for l in self.in_listeners {
            info!("dumplings in: ws://{}", l.local_addr()?);
            tasks.spawn(accept_loop(
                l,
                state.clone(),
                stop_rx.clone(),
                Role::Kitchen,
            ));
        }
        for l in self.web_listeners {
            tasks.spawn(web::serve(l, out_port, stop_rx.clone()));
        }
        for l in self.out_listeners {
            info!("dumplings out: ws://{}", l.local_addr()?);
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

#[derive(Clone, Copy, Debug)]
enum Role {
    Kitchen,
    Eater,
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    role: Role,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let stop = stop.clone();
                    conns.spawn(async move {
                        match role {
                            Role::Kitchen => serve_kitchen(state, stream, peer, stop).await,
                            Role::Eater => serve_eater(state, stream, peer, stop).await,
                        }
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

type Ws = WebSocketStream<TcpStream>;

/// Completes the handshake and reads the hello, within the hello timeout.
async fn handshake(
    state: &State,
    stream: TcpStream,
    peer: SocketAddr,
    name_key: &'static str,
) -> Option<(Ws, Hello)> {
    let deadline = state.config.hello_timeout;
    let mut ws = match tokio::time::timeout(
        deadline,
        tokio_tungstenite::accept_async_with_config(stream, Some(state.ws_config())),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            debug!("{peer}: WebSocket handshake failed: {e}");
            return None;
        }
        Err(_) => {
            debug!("{peer}: no WebSocket handshake within {deadline:?}");
            return None;
        }
    };
    let first = tokio::time::timeout(deadline, async {
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
            if !reason.is_empty() {
                warn!("{peer}: {reason}");
                close(&mut ws, WsCloseCode::Policy, &reason).await;
            }
            return None;
        }
        Err(_) => {
            warn!("{peer}: no hello within {deadline:?}; closing");
            close(&mut ws, WsCloseCode::Policy, "no hello received in time").await;
            return None;
        }
    };
    match nd_protocol::parse_hello(&text, name_key) {
        Ok(hello) => Some((ws, hello)),
        Err(e) => {
            warn!("{peer}: invalid hello: {e}");
            close(&mut ws, WsCloseCode::Policy, &format!("invalid hello: {e}")).await;
            None
        }
    }
}

/// Sends a close frame and waits (briefly) for the peer's answer.
async fn close(ws: &mut Ws, code: WsCloseCode, reason: &str) {
    // Close reasons are limited to 123 bytes by the protocol.
    let mut reason = reason.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        if ws.close(Some(frame)).await.is_ok() {
            // Drain until the peer's close arrives or the socket ends.
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

async fn serve_kitchen(
    state: Arc<State>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let Some((mut ws, hello)) = handshake(&state, stream, peer, "kitchen_name").await else {
        return;
    };
    let name = hello.name.clone();
    let id = state.new_id();
    info!(kitchen = %name, %peer, "dumpling kitchen connected");
    state
        .kitchens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, KitchenEntry { hello, peer });

    let reason = loop {
        let msg = tokio::select! {
            _ = stopped(&mut stop) => {
                close(&mut ws, WsCloseCode::Away, "hub shutting down").await;
                break "hub shutting down".to_string();
            }
            msg = ws.next() => msg,
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
            Some(Ok(_)) => continue,
            Some(Err(e)) => break format!("connection error: {e}"),
            None => break "connection lost".to_string(),
        };
        match nd_protocol::validate_dumpling(text.as_str()) {
            Ok(summary) => {
                debug!(kitchen = %name, chef = %summary.chef, bytes = text.len(), "dumpling in");
                state.dumplings_in.fetch_add(1, Ordering::Relaxed);
                state.fan_out(&text);
            }
            Err(e) => {
                state.dumplings_invalid.fetch_add(1, Ordering::Relaxed);
                error!(kitchen = %name, "received invalid dumpling: {e}");
            }
        }
    };
    state
        .kitchens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    info!(kitchen = %name, %peer, "dumpling kitchen disconnected: {reason}");
}

async fn serve_eater(
    state: Arc<State>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let Some((ws, hello)) = handshake(&state, stream, peer, "eater_name").await else {
        return;
    };
    let name = hello.name.clone();
    let id = state.new_id();
    let entry = Arc::new(EaterEntry {
        hello,
        peer,
        queue: EaterQueue::new(
            state.config.eater_queue,
            state.config.eater_queue_bytes,
            state.config.slow_eater,
        ),
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
    let mut close_frame = None;
    let reason = loop {
        tokio::select! {
            biased;
            r = &mut gone_rx => break r.unwrap_or_else(|_| "connection lost".into()),
            _ = stopped(&mut stop) => {
                close_frame = Some((WsCloseCode::Away, "hub shutting down".to_string()));
                break "hub shutting down".to_string();
            }
            () = entry.queue.wait_batch(&mut batch, WRITE_BATCH) => {}
        }
        if entry.queue.overflowed() {
            let why = format!(
                "eater too slow: more than {} dumplings or {} bytes queued",
                state.config.eater_queue, state.config.eater_queue_bytes
            );
            close_frame = Some((WsCloseCode::Policy, why.clone()));
            break why;
        }
        let n = batch.len() as u64;
        let write = async {
            for text in batch.drain(..) {
                sink.feed(Message::Text(text)).await?;
            }
            sink.flush().await
        };
        tokio::select! {
            r = write => match r {
                Ok(()) => { state.dumplings_out.fetch_add(n, Ordering::Relaxed); }
                Err(e) => break format!("write error: {e}"),
            },
            r = &mut gone_rx => break r.unwrap_or_else(|_| "connection lost".into()),
            _ = stopped(&mut stop) => {
                close_frame = Some((WsCloseCode::Away, "hub shutting down".to_string()));
                break "hub shutting down".to_string();
            }
        }
    };
    state
        .eaters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some((code, why)) = close_frame {
        let mut why = why;
        while why.len() > 123 {
            why.pop();
        }
        let frame = CloseFrame {
            code,
            reason: why.into(),
        };
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

async fn status_loop(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.status_freq);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
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
        state.fan_out(&Utf8Bytes::from(text));
    }
}

/// Resolves once shutdown was requested (or the hub is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here, not in select!.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
