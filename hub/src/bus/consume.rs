//! The hub's shared feed: one ordered consumer per hub (a watched
//! [`Reader`]), reading the stream from where the hub joined, filtered by
//! what its eaters want, delivering to them (through `seen`).
//!
//! When the eaters' covering filter changes, this task sets a new
//! consumer up itself at the sequence after the last one read, with the
//! new filter, so nothing is skipped or read twice across the change.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::Message;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{info, warn};

use super::publish::header;
use super::reader::{pause, resume, Reader};
use super::{Bus, ECHO_TIMEOUT};
use crate::queue::Queued;

/// The hub's feed: the stream from when the hub joined, under the
/// eaters' covering filter, into `deliver`.
pub(crate) async fn run(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    let mut filters = bus.filter.subscribe();
    // The last stream sequence read (or the one before the first
    // consumer's start): the next consumer starts after it.
    let mut last: Option<u64> = None;
    let mut announced = false;
    loop {
        let filter = filters.borrow_and_update().clone();
        let opened = tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            o = Reader::open(&bus, &filter, resume(last, DeliverPolicy::New)) => o,
        };
        let mut reader = match opened {
            Ok((reader, before_first)) => {
                // A consumer that fails before its first message resumes
                // where this one started, not at "new" again (which
                // would skip what was stored meanwhile).
                last.get_or_insert(before_first);
                reader
            }
            Err(e) => {
                bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                warn!(hub = %bus.config.hub_name, "{e}; retrying");
                if pause(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        if !announced {
            announced = true;
            info!(hub = %bus.config.hub_name, stream = %bus.config.stream, %filter, "reading the bus");
        }
        let mut batch: Vec<Message> = Vec::new();
        loop {
            let read = tokio::select! {
                _ = crate::stopped(&mut stop) => return,
                Ok(()) = filters.changed() => break,
                r = reader.next_batch(&bus, &mut batch, &mut last) => r,
            };
            deliver(&bus, &mut batch);
            if let Err(e) = read {
                warn!(hub = %bus.config.hub_name, "reading the bus: {e}; setting the consumer up again");
                if pause(&mut stop).await {
                    return;
                }
                break;
            }
        }
    }
}

/// Delivers a batch read from the stream, in order, once each.
fn deliver(bus: &Bus, batch: &mut Vec<Message>) {
    let mut run: Vec<Queued> = Vec::with_capacity(batch.len());
    let mut shared = bus.shared();
    let s = &mut *shared;
    let mut fast_echo = false;
    for m in batch.drain(..) {
        // This hub's own dumpling back from the stream: its log entry
        // (already validated, its series known) if the log still has it.
        let own = (get(&m, header::RUN) == Some(bus.run.as_str()))
            .then(|| get(&m, header::IDX).and_then(|i| i.parse::<u64>().ok()))
            .flatten()
            .filter(|&idx| s.log.get(idx).is_some());
        if let Some(e) = own.and_then(|idx| s.log.get(idx)) {
            if e.at.elapsed() < ECHO_TIMEOUT / 2 {
                fast_echo = true;
            }
        }
        if let Some((instance, seq)) = key(&m) {
            if !s.seen.first(instance, seq) {
                bus.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                if let Some(idx) = own {
                    s.log.delivered(idx);
                }
                continue;
            }
        }
        if let Some(idx) = own {
            if let Some(e) = s.log.get(idx) {
                run.push(e.q.clone());
            }
            s.log.delivered(idx);
            continue;
        }
        if let Some(q) = decode(bus, &m) {
            run.push(q);
        }
    }
    if fast_echo && s.degraded {
        s.degraded = false;
        info!(hub = %bus.config.hub_name, "the bus is back: delivering from the stream again");
    }
    if !run.is_empty() {
        bus.counters
            .delivered
            .fetch_add(run.len() as u64, Ordering::Relaxed);
        bus.sink.deliver(&run);
    }
}

/// A message's header.
fn get<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// A message's dumpling name: (instance, seq).
pub(super) fn key(m: &Message) -> Option<(&str, u64)> {
    let instance = get(m, header::INSTANCE)?;
    let seq = get(m, header::SEQ)?.parse::<u64>().ok()?;
    Some((instance, seq))
}

/// A message as a dumpling for the eaters' queues (validated: the stream
/// is shared, and any client could publish on it); `None` counts it invalid.
pub(super) fn decode(bus: &Bus, m: &Message) -> Option<Queued> {
    let decoded = Utf8Bytes::try_from(m.payload.clone())
        .ok()
        .and_then(|text| {
            let chef = nd_protocol::validate_dumpling(text.as_str()).ok()?.chef;
            let kitchen = get(m, header::KITCHEN).unwrap_or("");
            let series = bus.sink.series(kitchen, &chef);
            Some(Queued {
                text: text.clone(),
                series,
            })
        });
    if decoded.is_none() {
        bus.counters.invalid.fetch_add(1, Ordering::Relaxed);
    }
    decoded
}
