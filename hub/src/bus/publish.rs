//! The publisher: walks the log in order and publishes each entry to the
//! stream, with up to [`WINDOW`] acknowledgements outstanding.
//!
//! On a failed publish (no answer within the JetStream timeout: the
//! server went away mid-write, or the stream does not exist yet) it
//! starts again from the oldest entry not stored, after a pause. What the
//! stream already has comes back as a duplicate (same `Nats-Msg-Id`),
//! stored once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::Bus;

/// Publishes awaiting their acknowledgement at once: enough to keep a
/// LAN round trip busy, and the furthest a retry reaches back.
pub(crate) const WINDOW: usize = 4096;
/// Pause after a failed publish before starting again.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The headers every published dumpling carries.
pub(crate) mod header {
    /// The instance of the kitchen that made it.
    pub(crate) const INSTANCE: &str = "Nd-Instance";
    /// Its number within the instance.
    pub(crate) const SEQ: &str = "Nd-Seq";
    /// The kitchen's name (its hello's).
    pub(crate) const KITCHEN: &str = "Nd-Kitchen";
    /// The hub's name (for people and status).
    pub(crate) const HUB: &str = "Nd-Hub";
    /// The hub process's run id (for the hub's own echo).
    pub(crate) const RUN: &str = "Nd-Run";
    /// Its position in that hub's log.
    pub(crate) const IDX: &str = "Nd-Idx";
}

type Pending =
    std::pin::Pin<Box<dyn std::future::Future<Output = (u64, Result<bool, String>)> + Send>>;

pub(crate) async fn run(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    // The next log position to publish.
    let mut next = 0u64;
    let mut inflight: FuturesOrdered<Pending> = FuturesOrdered::new();
    loop {
        // Fill the window from the log.
        let mut failed = None;
        while inflight.len() < WINDOW {
            let Some((idx, subject, message)) = next_message(&bus, &mut next) else {
                break;
            };
            match bus.js.send_publish(subject, message).await {
                Ok(ack) => inflight.push_back(wait(idx, ack)),
                Err(e) => {
                    failed = Some((idx, e.to_string()));
                    break;
                }
            }
        }
        if failed.is_none() {
            tokio::select! {
                _ = crate::stopped(&mut stop) => return,
                done = inflight.next(), if !inflight.is_empty() => match done {
                    Some((idx, Ok(duplicate))) => {
                        bus.counters.published.fetch_add(1, Ordering::Relaxed);
                        if duplicate {
                            bus.counters.publish_duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        let acked_to = {
                            let mut shared = bus.shared();
                            shared.log.ack(idx);
                            if duplicate {
                                // Another copy is in the stream (a kitchen's
                                // re-send, stored first by another hub or by
                                // an earlier try): it is delivered when the
                                // consumer reads it. Nothing to wait for.
                                shared.log.delivered(idx);
                            }
                            shared.log.acked_to()
                        };
                        bus.acked_to.send_replace(acked_to);
                    }
                    Some((idx, Err(e))) => failed = Some((idx, e)),
                    None => {}
                },
                _ = bus.publish_wake.notified(), if inflight.len() < WINDOW => {}
            }
        }
        if let Some((idx, why)) = failed {
            let n = bus.counters.publish_errors.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                warn!(hub = %bus.config.hub_name, "publishing to the bus failed ({} so far): {why}; retrying", n + 1);
            } else {
                debug!("publish of log entry {idx} failed: {why}");
            }
            inflight = FuturesOrdered::new();
            // Start again from the oldest entry not stored.
            next = bus.shared().log.acked_to();
            tokio::select! {
                _ = crate::stopped(&mut stop) => return,
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
    }
}

/// The log entry at or after `next` still to publish, as a message;
/// moves `next` past it.
fn next_message(bus: &Bus, next: &mut u64) -> Option<(u64, String, PublishMessage)> {
    let shared = bus.shared();
    let log = &shared.log;
    // Entries before the log's acknowledgement cursor are stored (or were
    // given up); so are some after it.
    *next = (*next).max(log.acked_to());
    while *next < log.end() {
        let idx = *next;
        *next += 1;
        let Some(e) = log.get(idx) else { continue };
        if e.acked {
            continue;
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::INSTANCE, &*e.instance);
        headers.insert(header::SEQ, e.seq.to_string().as_str());
        headers.insert(header::KITCHEN, &*e.kitchen);
        headers.insert(header::HUB, bus.config.hub_name.as_str());
        headers.insert(header::RUN, bus.run.as_str());
        headers.insert(header::IDX, idx.to_string().as_str());
        let message = PublishMessage::build()
            .payload(bytes::Bytes::from(e.q.text.clone()))
            .headers(headers)
            .message_id(format!("{}:{}", e.instance, e.seq));
        return Some((idx, e.subject.to_string(), message));
    }
    None
}

/// Waits for one acknowledgement: `Ok(duplicate)`.
fn wait(idx: u64, ack: PublishAckFuture) -> Pending {
    Box::pin(async move {
        let r = ack.await.map(|a| a.duplicate).map_err(|e| e.to_string());
        (idx, r)
    })
}
