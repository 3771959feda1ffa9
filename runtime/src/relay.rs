//! Getting dumplings out of the kitchen: to a hub over WebSocket, or to stdout.
//!
//! # The hub relay
//!
//! Chef workers hand [`Outgoing`] payloads to a [`DumplingTx`]; the relay task
//! wraps each in netdumplings metadata and sends it. The relay:
//!
//! - sends netdumplings' kitchen hello first, on every connection;
//! - **reconnects** with exponential backoff ([`nd_client::session::Backoff`])
//!   when the hub goes away, holding up to
//!   `buffer` dumplings meanwhile in its [`Outbox`] (unacknowledged ones
//!   included; when it is full the oldest is dropped and counted, connected
//!   or not);
//! - **knows what the hub got**: WebSocket has no acknowledgements, so after
//!   every [`ACK_EVERY`] dumplings (and every [`ACK_PERIOD`]) it sends a ping
//!   carrying the sequence number of the last dumpling. A hub answers pings
//!   in order, after reading everything before them (`nd-hub` also hands
//!   what it read to its eaters' queues first), so a pong for `n` means
//!   dumplings up to `n` arrived. Unacknowledged dumplings are sent again
//!   after a reconnect: nothing within the buffer is lost between kitchen
//!   and hub when a hub dies (a dumpling may arrive twice if the hub died
//!   between reading it and answering the ping). What a killed hub had
//!   queued for an eater but not yet written to it is lost for that eater:
//!   WebSocket gives the hub no acknowledgement from eaters either;
//! - never stalls live capture: a live kitchen's workers drop (and count)
//!   dumplings when the relay's queue is full; a replay waits instead, so a
//!   replay loses nothing.
//!
//! At the end it sends what is left, waits for the last acknowledgement and
//! closes with 1000 (end of replay) or netdumplings' 4101 "connection
//! cancelled" (interrupted).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nd_protocol::Driver;

use futures_util::{SinkExt, StreamExt};
use nd_client::session::{close_gracefully, Backoff, CLOSE_GRACE, RECONNECT_MAX};
use nd_protocol::{CloseCode, KitchenHello};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::outbox::Outbox;

/// Dumplings between two acknowledgement pings.
pub const ACK_EVERY: u64 = 64;
/// Longest time between two acknowledgement pings while dumplings are unacknowledged.
pub const ACK_PERIOD: Duration = Duration::from_millis(100);
/// Default relay buffer, in dumplings.
pub const DEFAULT_BUFFER: usize = 100_000;
/// How long the end of a run waits for the hub to acknowledge the last dumplings.
pub const FINAL_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of the channel between chef workers and the relay.
const CHANNEL: usize = 4096;

/// A payload a chef made, on its way to the relay.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The chef's name.
    pub chef: Arc<str>,
    /// Packet or interval.
    pub driver: Driver,
    /// The payload, validated JSON text.
    pub payload: String,
    /// When it was made (seconds since the epoch).
    pub created: f64,
}

/// The chefs' side of the relay: a cloneable sender with the loss policy.
#[derive(Clone)]
pub struct DumplingTx {
    tx: mpsc::Sender<Outgoing>,
    /// Replays wait for room; live capture drops and counts.
    wait: bool,
    dropped: Arc<AtomicU64>,
}

impl DumplingTx {
    /// Hands a payload to the relay (from a chef worker thread).
    pub fn send(&self, o: Outgoing) {
        if self.wait {
            if self.tx.blocking_send(o).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        } else if self.tx.try_send(o).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Dumplings dropped because the relay could not keep up (live only).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A channel between chef workers and a relay.
pub fn channel(wait: bool) -> (DumplingTx, mpsc::Receiver<Outgoing>) {
    let (tx, rx) = mpsc::channel(CHANNEL);
    (
        DumplingTx {
            tx,
            wait,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

/// What the relay did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RelayStats {
    /// Dumplings written to a hub (re-sends included).
    pub sent: u64,
    /// Dumplings acknowledged by a hub.
    pub acknowledged: u64,
    /// Dumplings sent again after a reconnect.
    pub resent: u64,
    /// Dumplings dropped because the buffer was full (the hub away or
    /// slower than the chefs; the oldest goes first).
    pub dropped: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
}

/// The relay's counters as it runs (atomics: the metrics endpoint reads
/// them from another thread). [`RelayCounters::snapshot`] is a [`RelayStats`].
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// See [`RelayStats::sent`].
    pub sent: AtomicU64,
    /// See [`RelayStats::acknowledged`].
    pub acknowledged: AtomicU64,
    /// See [`RelayStats::resent`].
    pub resent: AtomicU64,
    /// See [`RelayStats::dropped`].
    pub dropped: AtomicU64,
    /// See [`RelayStats::reconnects`].
    pub reconnects: AtomicU64,
    /// Whether a hub connection is up now.
    pub connected: AtomicBool,
    /// Dumplings in the outbox now (unacknowledged and pending).
    pub held: AtomicU64,
}

impl RelayCounters {
    /// The counters now.
    pub fn snapshot(&self) -> RelayStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RelayStats {
            sent: get(&self.sent),
            acknowledged: get(&self.acknowledged),
            resent: get(&self.resent),
            dropped: get(&self.dropped),
            reconnects: get(&self.reconnects),
        }
    }
}

/// Where and how to relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The hubs' in ports (URL, CA file, token), in the order they are
    /// tried: the first that answers is used; when it goes away the relay
    /// moves to the next (failover), round the list.
    pub endpoints: Vec<nd_client::HubEndpoint>,
    /// The kitchen's name (in every dumpling's metadata).
    pub kitchen: String,
    /// The hello sent on every connection.
    pub hello: KitchenHello,
    /// Dumplings held while the hub is away (sent but unacknowledged included).
    pub buffer: usize,
    /// Replay mode: wait for room instead of dropping.
    pub wait: bool,
}

/// A dumpling's text. The relay passes its outbox sequence number (kept
/// across re-sends, so its bytes are the same at every hub it reaches);
/// `--print` passes none (nothing will deduplicate it).
fn encode(kitchen: &str, o: &Outgoing, seq: Option<u64>) -> String {
    nd_protocol::encode_dumpling_with_seq(
        &o.chef,
        Some(kitchen),
        o.created,
        o.driver,
        seq,
        &o.payload,
    )
}

/// A random identity for this kitchen run (the hello's `instance`): 128
/// bits from the OS, in hex. Falls back to time and process id if the OS
/// has no randomness to give (then unique enough for one machine).
pub fn new_instance() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the relay until `rx` is closed and drained (normal end) or `cancel`
/// becomes true (interrupt: close with 4101).
///
/// `counters` is updated as it goes (`nd-sniff --metrics` reads it); the
/// return value is their final snapshot.
pub async fn run(
    config: RelayConfig,
    mut rx: mpsc::Receiver<Outgoing>,
    mut cancel: watch::Receiver<bool>,
    counters: Arc<RelayCounters>,
) -> RelayStats {
    let stats = &*counters;
    let hello = serde_json::to_string(&config.hello).unwrap_or_else(|_| "{}".into());
    let mut outbox = Outbox::new(config.buffer);
    let mut rx_closed = false;
    let mut backoff = Backoff::default();
    let mut connected_once = false;
    if config.endpoints.is_empty() {
        tracing::error!("no hub to relay to");
        return stats.snapshot();
    }
    // The hub tried next (an index into `endpoints`).
    let mut current = 0;
    let mut url: String;
    // Set when the hub refused our token: retry slowly (an operator may add
    // the token to the hub and reload it; the buffer is kept meanwhile).
    let mut refused = false;

    loop {
        // --- connect (keep receiving meanwhile, within the buffer) ---------
        // Every hub is tried once per round, from `current` on; the backoff
        // grows between rounds, not between the hubs of one round.
        let mut tried = 0;
        let mut ws = loop {
            if *cancel.borrow() {
                return stats.snapshot();
            }
            url = config.endpoints[current].display_url();
            match config.endpoints[current].connect().await {
                Ok(ws) => break ws,
                Err(e) => {
                    if !connected_once && backoff.is_fresh() {
                        tracing::warn!("cannot reach nd-hub at {url}: {e}; retrying");
                    } else {
                        tracing::debug!("cannot reach nd-hub at {url}: {e}");
                    }
                }
            }
            current = (current + 1) % config.endpoints.len();
            tried += 1;
            if tried % config.endpoints.len() != 0 {
                continue;
            }
            if std::mem::take(&mut refused) {
                backoff.slow_down();
            }
            let sleep = tokio::time::sleep(backoff.next_wait());
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = cancelled(&mut cancel) => return stats.snapshot(),
                    item = rx.recv(), if !rx_closed && (outbox.has_room() || !config.wait) => {
                        match item {
                            Some(o) => accept(&mut outbox, stats, &config.kitchen, &o),
                            None => rx_closed = true,
                        }
                    }
                }
            }
        };
        if connected_once {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("reconnected to nd-hub at {url}");
        } else {
            tracing::info!("connected to nd-hub at {url}");
        }
        connected_once = true;
        backoff.reset();
        stats.connected.store(true, Ordering::Relaxed);
        if ws.send(Message::Text(hello.clone().into())).await.is_err() {
            continue;
        }
        // Anything the previous hub did not acknowledge goes again, first.
        stats.resent.fetch_add(outbox.rewind(), Ordering::Relaxed);
        let mut ping_timer = tokio::time::interval(ACK_PERIOD);
        ping_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Sequence number of the last ping sent on this connection.
        let mut last_ping = 0;
        let mut final_ping_sent = false;
        // Far future until the final ping is sent.
        let mut final_deadline = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);

        // --- connected ------------------------------------------------------
        let lost = loop {
            // Write everything pending, with a ping every ACK_EVERY.
            let mut wrote = false;
            let mut failed = false;
            while let Some((seq, text)) = outbox.next_to_write() {
                if ws
                    .feed(Message::Text(text.to_owned().into()))
                    .await
                    .is_err()
                {
                    failed = true;
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
                wrote = true;
                // Numbers only grow within a connection (gaps where the
                // oldest were dropped just bring a ping forward).
                if seq.saturating_sub(last_ping) >= ACK_EVERY {
                    last_ping = seq;
                    if ws.feed(ping(seq)).await.is_err() {
                        failed = true;
                        break;
                    }
                }
            }
            if failed || (wrote && ws.flush().await.is_err()) {
                break "write failed";
            }
            if rx_closed && outbox.pending() == 0 {
                let Some(last) = outbox.last_written() else {
                    close_gracefully(&mut ws, 1000, "end of capture", CLOSE_GRACE).await;
                    return stats.snapshot();
                };
                if !final_ping_sent {
                    final_ping_sent = true;
                    final_deadline = tokio::time::Instant::now() + FINAL_ACK_TIMEOUT;
                    last_ping = last;
                    if ws.send(ping(last)).await.is_err() {
                        break "write failed";
                    }
                }
            }
            tokio::select! {
                biased;
                _ = cancelled(&mut cancel) => {
                    let code = CloseCode::ConnectionCancelled;
                    close_gracefully(&mut ws, code.code(), code.reason(), CLOSE_GRACE).await;
                    return stats.snapshot();
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Pong(data))) => {
                        if let Ok(bytes) = <[u8; 8]>::try_from(&data[..]) {
                            let acked = outbox.acknowledge(u64::from_be_bytes(bytes));
                            stats.acknowledged.fetch_add(acked, Ordering::Relaxed);
                            stats.held.store(outbox.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(Message::Close(Some(frame))))
                        if u16::from(frame.code) == CloseCode::Unauthorized.code() =>
                    {
                        tracing::error!(
                            "nd-hub at {url} refused this kitchen: {}; give it a valid token \
                             (--token-file or ND_HUB_TOKEN). Retrying every {RECONNECT_MAX:?}",
                            frame.reason
                        );
                        refused = true;
                        break "refused by the hub";
                    }
                    Some(Ok(Message::Close(frame))) => {
                        tracing::warn!("nd-hub closed the connection: {frame:?}");
                        break "closed by the hub";
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!("lost connection to nd-hub: {e}");
                        break "connection error";
                    }
                    None => break "connection ended",
                },
                _ = tokio::time::sleep_until(final_deadline), if final_ping_sent => {
                    tracing::warn!(
                        "nd-hub did not acknowledge the last {} dumplings within {FINAL_ACK_TIMEOUT:?}; closing anyway",
                        outbox.unacknowledged()
                    );
                    close_gracefully(&mut ws, 1000, "end of capture", CLOSE_GRACE).await;
                    return stats.snapshot();
                }
                _ = ping_timer.tick() => {
                    // Everything written is pinged for again until answered
                    // (a lost pong must not leave dumplings unacknowledged).
                    if let Some(last) = outbox.last_written() {
                        if last > last_ping || final_ping_sent {
                            last_ping = last;
                            if ws.send(ping(last)).await.is_err() {
                                break "write failed";
                            }
                        }
                    }
                }
                item = rx.recv(), if !rx_closed && (outbox.has_room() || !config.wait) => match item {
                    Some(o) => accept(&mut outbox, stats, &config.kitchen, &o),
                    None => rx_closed = true,
                },
            }
        };
        stats.connected.store(false, Ordering::Relaxed);
        // Fail over: the next hub of the list is tried first (with one hub,
        // the same one again).
        current = (current + 1) % config.endpoints.len();
        tracing::warn!(
            "lost nd-hub at {url} ({lost}); {} dumplings unacknowledged, {} pending; {}",
            outbox.unacknowledged(),
            outbox.pending(),
            if config.endpoints.len() > 1 {
                format!("trying {} next", config.endpoints[current].display_url())
            } else {
                "reconnecting".to_string()
            }
        );
    }
}

/// Puts a chef's payload into the outbox (the oldest dumpling makes room if full).
fn accept(outbox: &mut Outbox, stats: &RelayCounters, kitchen: &str, o: &Outgoing) {
    let before = outbox.dropped();
    outbox.push_with(|seq| encode(kitchen, o, Some(seq)));
    stats
        .dropped
        .fetch_add(outbox.dropped() - before, Ordering::Relaxed);
    stats.held.store(outbox.len() as u64, Ordering::Relaxed);
}

/// An acknowledgement ping for everything written up to `seq`.
fn ping(seq: u64) -> Message {
    Message::Ping(seq.to_be_bytes().to_vec().into())
}

/// Resolves when `cancel` turns true; never, if its sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `--print`: writes every dumpling as one JSON line on stdout, in order.
pub fn print_blocking(kitchen: &str, mut rx: mpsc::Receiver<Outgoing>) -> u64 {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut n = 0;
    while let Some(o) = rx.blocking_recv() {
        if writeln!(out, "{}", encode(kitchen, &o, None)).is_err() {
            break; // stdout closed (e.g. `| head`)
        }
        n += 1;
        if rx.is_empty() {
            let _ = out.flush();
        }
    }
    let _ = out.flush();
    n
}
