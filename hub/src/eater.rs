//! One task per eater: write its queue to its socket, in batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::auth;
use crate::handshake::{Peer, SHUTDOWN_GRACE};
use crate::metrics::SeriesId;
use crate::queue::EaterQueue;
use crate::reload::{recheck, TOKEN_REVOKED};
use crate::state::{EaterEntry, Role, State};
use crate::stopped;
use nd_protocol::subscription::{parse_subscribe, Subscription};

use futures_util::{SinkExt, StreamExt};
use nd_protocol::Hello;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

/// Most dumplings written to one eater before a flush (one syscall per batch).
pub(crate) const WRITE_BATCH: usize = 256;

/// Why an eater's task ends, and the close frame to send (none if the
/// eater went away by itself).
struct End {
    reason: String,
    close_with: Option<(WsCloseCode, String)>,
}

impl End {
    fn gone(reason: String) -> End {
        End {
            reason,
            close_with: None,
        }
    }

    fn closing(code: WsCloseCode, reason: &str) -> End {
        End {
            reason: reason.to_string(),
            close_with: Some((code, reason.to_string())),
        }
    }
}

/// Why the hub closes eaters at shutdown (1001, after the drain).
const SHUTTING_DOWN: &str = "hub shutting down";

/// What can interrupt an eater's task, whether it waits for dumplings or
/// for a write to finish: the eater leaving, the shutdown signal (which
/// starts the drain), the end of the drain, and reloads. One place decides
/// what each means ([`Interrupts::handle`]).
struct Interrupts<'a> {
    /// Resolves when the eater's reader sees it go (or refuses a message).
    gone: &'a mut tokio::sync::oneshot::Receiver<End>,
    /// Turns true when the hub shuts down (after its kitchens are stopped).
    stop: &'a mut watch::Receiver<bool>,
    /// Reloads (see `State::reloads`).
    reloads: &'a mut watch::Receiver<()>,
    /// Set by the shutdown signal: the queue is written out until then.
    drain_until: Option<tokio::time::Instant>,
    /// Whether `gone` has resolved (a oneshot must not be awaited again:
    /// tokio's panics if it is).
    gone_seen: bool,
}

/// One interrupt.
enum Interrupt {
    Gone(End),
    Stop,
    DrainOver,
    Reload,
}

impl Interrupts<'_> {
    async fn next(&mut self) -> Interrupt {
        let draining = self.drain_until.is_some();
        // Far future when not draining (the branch is disabled then).
        let until = self
            .drain_until
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            biased;
            r = &mut *self.gone, if !self.gone_seen => {
                self.gone_seen = true;
                Interrupt::Gone(r.unwrap_or_else(|_| End::gone("connection lost".into())))
            }
            _ = stopped(self.stop), if !draining => Interrupt::Stop,
            _ = tokio::time::sleep_until(until), if draining => Interrupt::DrainOver,
            Ok(()) = self.reloads.changed() => Interrupt::Reload,
        }
    }

    /// What `interrupt` means for this eater: `Some` ends its task.
    fn handle(
        &mut self,
        interrupt: Interrupt,
        state: &State,
        entry: &EaterEntry,
        credential: &auth::Credential,
    ) -> Option<End> {
        match interrupt {
            Interrupt::Gone(end) => Some(end),
            Interrupt::Stop => {
                let timeout = state.live().config.drain_timeout;
                self.drain_until = Some(tokio::time::Instant::now() + timeout);
                None
            }
            Interrupt::DrainOver => Some(End::closing(WsCloseCode::Away, SHUTTING_DOWN)),
            Interrupt::Reload => match recheck(state, Role::Eater, credential) {
                Some(live) => {
                    let c = &live.config;
                    entry.queue.set_limits(c.eater_queue, c.eater_queue_bytes);
                    None
                }
                None => {
                    let code = WsCloseCode::from(nd_protocol::CloseCode::Unauthorized.code());
                    Some(End::closing(code, TOKEN_REVOKED))
                }
            },
        }
    }
}

pub(crate) async fn serve_eater<S>(
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
        subscription,
        history,
    } = peer;
    let name = hello.name.clone();
    let id = state.new_id();
    // Read after `reloads` was subscribed: a reload from here on is seen
    // below, whether or not it found this eater registered.
    let config = state.live().config.clone();
    let queue = EaterQueue::new(
        config.eater_queue,
        config.eater_queue_bytes,
        config.slow_eater,
    );
    let bus = state.bus.get().cloned();
    let history = history.filter(|_| bus.is_some());
    let entry = Arc::new(EaterEntry::new(
        hello,
        peer,
        queue,
        subscription,
        history.is_some(),
    ));
    state
        .eaters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, entry.clone());
    state.eaters_changed();
    info!(
        eater = %name, %peer,
        "dumpling eater connected ({}{})", describe(&entry.subscription()),
        history.map_or(String::new(), |h| format!(", history: {h:?}"))
    );
    // An eater that asked for history reads the bus through its own
    // consumer, history then live (`bus::history`), until it leaves.
    let feed = bus.zip(history).map(|(bus, history)| {
        let (state, entry) = (state.clone(), entry.clone());
        tokio::spawn(crate::bus::history::feed(bus, history, move |run| {
            state.push_to(&entry, run)
        }))
    });

    let (mut sink, mut source) = ws.split();
    // The reader watches for the eater closing and for `subscribe`
    // messages (eaters send nothing else netdumplings knows of; other
    // messages are ignored, as its hub does). Pings are answered through
    // tungstenite's automatic replies.
    let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<End>();
    let reader = {
        let (entry, name, state) = (entry.clone(), name.clone(), state.clone());
        tokio::spawn(async move {
            let end = loop {
                let text = match source.next().await {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        break End::gone(match frame {
                            Some(f) => {
                                format!("closed by eater ({} {})", u16::from(f.code), f.reason)
                            }
                            None => "closed by eater".to_string(),
                        })
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break End::gone(format!("connection error: {e}")),
                    None => break End::gone("connection lost".to_string()),
                };
                match parse_subscribe(text.as_str()) {
                    Ok(Some(s)) => {
                        info!(eater = %name, %peer, "subscription replaced: {}", describe(&s));
                        entry.resubscribe(s);
                        state.eaters_changed();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(eater = %name, %peer, "invalid subscription: {e}; closing");
                        break End::closing(
                            WsCloseCode::Policy,
                            &format!("invalid subscription: {e}"),
                        );
                    }
                }
            };
            let _ = gone_tx.send(end);
        })
    };

    let mut batch = Vec::with_capacity(WRITE_BATCH);
    // (series, bytes) of the batch being written, for the metrics.
    let mut written: Vec<(SeriesId, usize)> = Vec::with_capacity(WRITE_BATCH);
    let mut interrupts = Interrupts {
        gone: &mut gone_rx,
        stop: &mut stop,
        reloads: &mut reloads,
        drain_until: None,
        gone_seen: false,
    };
    // Dumplings of an interrupted write that were not handed to the socket.
    let mut unwritten = 0;
    let end = loop {
        if interrupts.drain_until.is_some() && entry.queue.len() == 0 {
            break End::closing(WsCloseCode::Away, SHUTTING_DOWN);
        }
        // Wait for dumplings.
        tokio::select! {
            i = interrupts.next() => match interrupts.handle(i, &state, &entry, &credential) {
                Some(end) => break end,
                None => continue,
            },
            () = entry.queue.wait_batch(&mut batch, WRITE_BATCH) => {}
        }
        if entry.queue.overflowed() {
            let (items, bytes) = entry.queue.limits();
            let why =
                format!("eater too slow: more than {items} dumplings or {bytes} bytes queued");
            break End::closing(WsCloseCode::Policy, &why);
        }
        let n = batch.len();
        // Write them. The write may wait long (an eater that does not
        // read): a reload meanwhile is still applied, a revoked eater
        // closed, and the shutdown signal starts the drain, without
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
                    r = &mut write => break r.err().map(|e| End::gone(format!("write error: {e}"))),
                    i = interrupts.next() => {
                        if let Some(end) = interrupts.handle(i, &state, &entry, &credential) {
                            break Some(end);
                        }
                    }
                }
            }
        };
        match ended {
            None => {
                state.dumplings_out.fetch_add(n as u64, Ordering::Relaxed);
                entry.written.fetch_add(n as u64, Ordering::Relaxed);
                state.registry.count_out(written.drain(..));
            }
            Some(end) => {
                unwritten = n - written.len();
                break end;
            }
        }
    };
    let draining = interrupts.drain_until.is_some();
    // The reader has ended (the eater left, or sent a subscription that
    // was refused): nobody is left to read the eater's answer to a close.
    let reader_ended = interrupts.gone_seen;
    state
        .eaters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some(feed) = feed {
        feed.abort();
    }
    state.eaters_changed();
    if draining {
        // What the drain could not write in time.
        let undelivered = (entry.queue.len() + unwritten) as u64;
        state
            .undelivered_at_shutdown
            .fetch_add(undelivered, Ordering::Relaxed);
        if undelivered > 0 {
            warn!(
                eater = %name, %peer, undelivered,
                "shutdown: {undelivered} dumplings queued for this eater were not written within drain_timeout"
            );
        }
    }
    if end.reason == TOKEN_REVOKED {
        warn!(eater = %name, %peer, "{TOKEN_REVOKED} by a reload; closing");
    }
    if let Some((code, why)) = &end.close_with {
        let frame = nd_client::session::close_frame((*code).into(), why);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            if sink.send(Message::Close(Some(frame))).await.is_ok() && !reader_ended {
                let _ = (&mut gone_rx).await;
            }
        })
        .await;
    }
    reader.abort();
    info!(
        eater = %name, %peer, dropped = entry.queue.dropped(),
        "dumpling eater disconnected: {}", end.reason
    );
}

/// A subscription for the log: "everything", or what it narrows to.
pub(crate) fn describe(s: &Subscription) -> String {
    if s.is_all() {
        return "everything".to_string();
    }
    let list = |l: &[String]| {
        if l.is_empty() {
            "all".to_string()
        } else {
            l.join(", ")
        }
    };
    format!(
        "chefs: {}; kitchens: {}; status: {}",
        list(&s.chefs),
        list(&s.kitchens),
        if s.status { "yes" } else { "no" }
    )
}
