//! Getting dumplings out of the kitchen: to a hub over WebSocket, or to stdout.
//!
//! # The hub relay
//!
//! Chef workers hand [`Outgoing`] payloads to a [`DumplingTx`]; the relay task
//! wraps each in netdumplings metadata and sends it. The relay:
//!
//! - sends netdumplings' kitchen hello first, on every connection;
//! - **reconnects** with exponential backoff ([`RECONNECT_MIN`] ..
//!   [`RECONNECT_MAX`]) when the hub goes away, holding up to
//!   `buffer` dumplings meanwhile;
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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nd_protocol::{CloseCode, KitchenHello};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::supervisor::Outgoing;

/// First wait before reconnecting to the hub.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
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
    /// Dumplings dropped because the buffer was full while the hub was away.
    pub dropped: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
}

/// Where and how to relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The hub's in port: URL (`ws://` or `wss://`), CA file, token.
    pub endpoint: nd_client::HubEndpoint,
    /// The kitchen's name (in every dumpling's metadata).
    pub kitchen: String,
    /// The hello sent on every connection.
    pub hello: KitchenHello,
    /// Dumplings held while the hub is away (sent but unacknowledged included).
    pub buffer: usize,
    /// Replay mode: wait for room instead of dropping.
    pub wait: bool,
}

fn encode(kitchen: &str, o: &Outgoing) -> String {
    nd_protocol::encode_dumpling(&o.chef, Some(kitchen), o.created, o.driver, &o.payload)
}

/// Runs the relay until `rx` is closed and drained (normal end) or `cancel`
/// becomes true (interrupt: close with 4101).
pub async fn run(
    config: RelayConfig,
    mut rx: mpsc::Receiver<Outgoing>,
    mut cancel: watch::Receiver<bool>,
) -> RelayStats {
    let mut stats = RelayStats::default();
    let hello = serde_json::to_string(&config.hello).unwrap_or_else(|_| "{}".into());
    // Encoded dumplings not yet written, oldest first.
    let mut pending: VecDeque<String> = VecDeque::new();
    // Written but not yet acknowledged: (sequence number, text).
    let mut unacked: VecDeque<(u64, String)> = VecDeque::new();
    let mut seq: u64 = 0;
    let mut rx_closed = false;
    let mut backoff = RECONNECT_MIN;
    let mut connected_once = false;
    let buffer = config.buffer.max(1);
    let url = config.endpoint.display_url();
    // Set when the hub refused our token: retry slowly (an operator may add
    // the token to the hub and reload it; the buffer is kept meanwhile).
    let mut refused = false;

    loop {
        // --- connect (keep receiving meanwhile, within the buffer) ---------
        let mut ws = loop {
            if *cancel.borrow() {
                return stats;
            }
            match config.endpoint.connect().await {
                Ok(ws) => break ws,
                Err(e) => {
                    if !connected_once && backoff == RECONNECT_MIN {
                        tracing::warn!("cannot reach nd-hub at {url}: {e}; retrying");
                    } else {
                        tracing::debug!("cannot reach nd-hub at {url}: {e}");
                    }
                }
            }
            if std::mem::take(&mut refused) {
                backoff = RECONNECT_MAX;
            }
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            backoff = (backoff * 2).min(RECONNECT_MAX);
            loop {
                let room = pending.len() + unacked.len() < buffer;
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = cancelled(&mut cancel) => return stats,
                    item = rx.recv(), if !rx_closed && (room || !config.wait) => match item {
                        Some(o) => {
                            if !room {
                                stats.dropped += 1;
                                pending.pop_front();
                            }
                            pending.push_back(encode(&config.kitchen, &o));
                        }
                        None => rx_closed = true,
                    },
                }
            }
        };
        if connected_once {
            stats.reconnects += 1;
            tracing::info!("reconnected to nd-hub at {url}");
        } else {
            tracing::info!("connected to nd-hub at {url}");
        }
        connected_once = true;
        backoff = RECONNECT_MIN;
        if ws.send(Message::Text(hello.clone().into())).await.is_err() {
            continue;
        }
        // Anything the previous hub did not acknowledge goes again, first.
        stats.resent += unacked.len() as u64;
        for (_, text) in unacked.drain(..).rev() {
            pending.push_front(text);
        }
        let mut acked_to = seq;
        let mut ping_timer = tokio::time::interval(ACK_PERIOD);
        ping_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ping = seq;
        let mut final_ping_sent = false;
        // Far future until the final ping is sent.
        let mut final_deadline = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);

        // --- connected ------------------------------------------------------
        let lost = loop {
            // Write everything pending, with a ping every ACK_EVERY.
            let mut wrote = false;
            let mut failed = false;
            while let Some(text) = pending.pop_front() {
                seq += 1;
                unacked.push_back((seq, text.clone()));
                if ws.feed(Message::Text(text.into())).await.is_err() {
                    failed = true;
                    break;
                }
                stats.sent += 1;
                wrote = true;
                if seq - last_ping >= ACK_EVERY {
                    last_ping = seq;
                    if ws
                        .feed(Message::Ping(seq.to_be_bytes().to_vec().into()))
                        .await
                        .is_err()
                    {
                        failed = true;
                        break;
                    }
                }
            }
            if failed || (wrote && ws.flush().await.is_err()) {
                break "write failed";
            }
            if rx_closed && pending.is_empty() {
                if unacked.is_empty() {
                    let _ = close(&mut ws, WsCloseCode::Normal, "end of capture").await;
                    return stats;
                }
                if !final_ping_sent {
                    final_ping_sent = true;
                    final_deadline = tokio::time::Instant::now() + FINAL_ACK_TIMEOUT;
                    last_ping = seq;
                    if ws
                        .send(Message::Ping(seq.to_be_bytes().to_vec().into()))
                        .await
                        .is_err()
                    {
                        break "write failed";
                    }
                }
            }
            let room = pending.len() + unacked.len() < buffer;
            tokio::select! {
                biased;
                _ = cancelled(&mut cancel) => {
                    let code = CloseCode::ConnectionCancelled;
                    let _ = close(&mut ws, WsCloseCode::from(code.code()), code.reason()).await;
                    return stats;
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Pong(data))) => {
                        if let Ok(bytes) = <[u8; 8]>::try_from(&data[..]) {
                            let n = u64::from_be_bytes(bytes);
                            if n > acked_to && n <= seq {
                                while unacked.front().is_some_and(|(s, _)| *s <= n) {
                                    unacked.pop_front();
                                    stats.acknowledged += 1;
                                }
                                acked_to = n;
                            }
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
                        unacked.len()
                    );
                    let _ = close(&mut ws, WsCloseCode::Normal, "end of capture").await;
                    return stats;
                }
                _ = ping_timer.tick() => {
                    if seq > last_ping || (final_ping_sent && !unacked.is_empty()) {
                        last_ping = seq;
                        if ws.send(Message::Ping(seq.to_be_bytes().to_vec().into())).await.is_err() {
                            break "write failed";
                        }
                    }
                }
                item = rx.recv(), if !rx_closed && (room || !config.wait) => match item {
                    Some(o) => {
                        if !room {
                            stats.dropped += 1;
                            if pending.pop_front().is_none() {
                                unacked.pop_front();
                            }
                        }
                        pending.push_back(encode(&config.kitchen, &o));
                    }
                    None => rx_closed = true,
                },
            }
        };
        tracing::warn!(
            "lost nd-hub ({lost}); {} dumplings unacknowledged, {} pending; reconnecting",
            unacked.len(),
            pending.len()
        );
    }
}

/// Resolves when `cancel` turns true; never, if its sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn close<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    code: WsCloseCode,
    reason: &str,
) -> Result<(), ()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_string().into(),
    };
    tokio::time::timeout(Duration::from_secs(2), async {
        ws.close(Some(frame)).await.map_err(|_| ())?;
        while let Some(Ok(_)) = ws.next().await {}
        Ok(())
    })
    .await
    .map_err(|_| ())?
}

/// `--print`: writes every dumpling as one JSON line on stdout, in order.
pub fn print_blocking(kitchen: &str, mut rx: mpsc::Receiver<Outgoing>) -> u64 {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut n = 0;
    while let Some(o) = rx.blocking_recv() {
        if writeln!(out, "{}", encode(kitchen, &o)).is_err() {
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
