//! One task per kitchen: read, validate, hand runs of dumplings to the
//! eaters' queues, answer acknowledgement pings after the hand-off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::auth;
use crate::bus::{self, Bus};
use crate::handshake::{close, Peer};
use crate::metrics::{self, SeriesId};
use crate::queue::Queued;
use crate::rate::Bucket;
use crate::reload::{recheck, TOKEN_REVOKED};
use crate::state::{KitchenEntry, Role, State};
use crate::stopped;

use futures_util::{FutureExt, StreamExt};
use nd_protocol::Hello;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, error, info, warn};

/// Most dumplings a kitchen's task hands to the eaters as one run (it
/// looks at the shutdown signal between runs).
pub(crate) const MAX_RUN: usize = 256;

/// Applies a reload to a kitchen: its new rate limit; `false` if the
/// kitchen's token is no longer accepted.
/// Applies a reload to this kitchen: its new rate limit; or, if the
/// reload revoked its token, the 4103 close. `Err` is why the task ends.
async fn apply_reload<S>(
    ws: &mut WebSocketStream<S>,
    state: &State,
    credential: &auth::Credential,
    (name, peer): (&str, SocketAddr),
    bucket: &mut Bucket,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match recheck(state, Role::Kitchen, credential) {
        Some(live) => {
            bucket.update(&live.config);
            Ok(())
        }
        None => {
            warn!(kitchen = %name, %peer, "{TOKEN_REVOKED} by a reload; closing");
            let code = WsCloseCode::from(nd_protocol::CloseCode::Unauthorized.code());
            close(ws, code, TOKEN_REVOKED).await;
            Err(TOKEN_REVOKED.to_string())
        }
    }
}

pub(crate) async fn serve_kitchen<S>(
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
        ..
    } = peer;
    let name = hello.name.clone();
    let id = state.new_id();
    let mut to_bus = state.bus.get().map(|b| ToBus::new(b.clone(), &hello, id));
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
                hand_off(&state, &mut run, &mut tally, &mut to_bus);
                tokio::select! {
                    _ = stopped(&mut stop) => {
                        close(&mut ws, WsCloseCode::Away, "hub shutting down").await;
                        break "hub shutting down".to_string();
                    }
                    Ok(()) = reloads.changed() => {
                        let who = (name.as_str(), peer);
                        if let Err(why) = apply_reload(&mut ws, &state, &credential, who, &mut bucket).await {
                            break why;
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
                // eaters' queues", not just "read" (with a bus: "stored by
                // the stream", so a failover loses nothing).
                hand_off(&state, &mut run, &mut tally, &mut to_bus);
                if let Some(b) = &to_bus {
                    b.bus.wait_stored(b.end).await;
                }
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
            // What was read before the reload goes out now: if the token
            // was revoked, not after the close handshake's grace period.
            hand_off(&state, &mut run, &mut tally, &mut to_bus);
            let who = (name.as_str(), peer);
            if let Err(why) = apply_reload(&mut ws, &state, &credential, who, &mut bucket).await {
                break why;
            }
        }
        if let Some(wait) = bucket.take() {
            hand_off(&state, &mut run, &mut tally, &mut to_bus);
            // Not reading the socket meanwhile is the back-pressure. A
            // reload cuts the wait short (the new rate applies from the next
            // message; a revoked kitchen is closed at once).
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(&mut stop) => {}
                Ok(()) = reloads.changed() => {
                    let who = (name.as_str(), peer);
                    if let Err(why) = apply_reload(&mut ws, &state, &credential, who, &mut bucket).await {
                        break why;
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
                    if let Some(b) = &mut to_bus {
                        b.subject = bus::subject::dumpling(&name, &summary.chef).into();
                    }
                }
                let Some((_, (sid, s))) = &last else {
                    continue; // never: set just above
                };
                tally.add(s, text.len());
                if let Some(b) = &mut to_bus {
                    b.push(summary.seq);
                }
                run.push(Queued { text, series: *sid });
            }
            Err(e) => {
                state.dumplings_invalid.fetch_add(1, Ordering::Relaxed);
                error!(kitchen = %name, "received invalid dumpling: {e}");
            }
        }
    };
    // What was read before the kitchen went away is still delivered.
    hand_off(&state, &mut run, &mut tally, &mut to_bus);
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
pub(crate) struct Tally {
    /// The series counted; a run of one chef's dumplings is the usual case.
    pub(crate) series: Option<Arc<metrics::Series>>,
    /// Dumplings and bytes counted for `series` since the last flush.
    pub(crate) dumplings: u64,
    pub(crate) bytes: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, series: &Arc<metrics::Series>, bytes: usize) {
        if !matches!(&self.series, Some(s) if Arc::ptr_eq(s, series)) {
            self.flush_series();
            self.series = Some(series.clone());
        }
        self.dumplings += 1;
        self.bytes += bytes as u64;
    }

    pub(crate) fn flush_series(&mut self) {
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

/// Most bytes of a kitchen's `instance` taken as its identity on the bus
/// (nd-sniff's is 32 hex digits); a longer one is ignored (the hub's
/// stand-in is used), so a peer cannot make every header huge.
const MAX_INSTANCE: usize = 128;

/// A kitchen task's side of the bus (`--nats`): who it is there, and the
/// bus data for the dumplings of its current run.
pub(crate) struct ToBus {
    pub(crate) bus: Arc<Bus>,
    origin: bus::Origin,
    /// The subject of the chef being read (cached like its series).
    subject: Arc<str>,
    /// Per dumpling of the run: its subject and `metadata.seq`.
    meta: Vec<(Arc<str>, Option<u64>)>,
    /// This connection's own count of dumplings (see `bus::Item`).
    local_seq: u64,
    /// The bus log's position after the last run handed over.
    pub(crate) end: u64,
}

impl ToBus {
    fn new(bus: Arc<Bus>, hello: &Hello, connection: u64) -> ToBus {
        let instance = hello
            .info
            .get("instance")
            .and_then(|v| v.as_str())
            .filter(|i| !i.is_empty() && i.len() <= MAX_INSTANCE)
            .map(Arc::from);
        ToBus {
            origin: bus::Origin {
                kitchen: hello.name.as_str().into(),
                instance,
                local: bus.local_instance(connection),
            },
            subject: Arc::from(""),
            meta: Vec::with_capacity(MAX_RUN),
            local_seq: 0,
            end: 0,
            bus,
        }
    }

    fn push(&mut self, seq: Option<u64>) {
        self.meta.push((self.subject.clone(), seq));
    }
}

/// Hands a kitchen's run to the eaters (or, with a bus, to the bus, which
/// delivers it), counted in first (so counts never show more out than
/// in), and empties it. Every dumpling of the run was counted in `tally`
/// when it was pushed.
pub(crate) fn hand_off(
    state: &State,
    run: &mut Vec<Queued>,
    tally: &mut Tally,
    to_bus: &mut Option<ToBus>,
) {
    tally.flush_series();
    if run.is_empty() {
        return;
    }
    state
        .dumplings_in
        .fetch_add(run.len() as u64, Ordering::Relaxed);
    match to_bus {
        None => {
            state.fan_out(run);
            run.clear();
        }
        Some(b) => {
            let items = run
                .drain(..)
                .zip(b.meta.drain(..))
                .map(|(q, (subject, seq))| {
                    b.local_seq += 1;
                    bus::Item {
                        q,
                        subject,
                        seq,
                        local_seq: b.local_seq,
                    }
                })
                .collect();
            b.end = b.bus.submit(&b.origin, items);
        }
    }
}
