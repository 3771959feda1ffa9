//! The consumer: one ordered JetStream consumer per hub, reading the
//! stream from where the hub joined, filtered by what its eaters want,
//! delivering to them (through `seen`).
//!
//! An ordered consumer is the library's own: flow-controlled, no acks,
//! recreated by the client at the next stream sequence when it misses a
//! heartbeat or a message (a NATS node lost, a reconnect). When the
//! eaters' covering filter changes, this task recreates it itself at the
//! sequence after the last one read, with the new filter, so nothing is
//! skipped or read twice across the change.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::Message;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{info, warn};

use super::publish::header;
use super::{stream_config, Bus, ECHO_TIMEOUT};
use crate::queue::Queued;

/// Most messages taken into one delivery (one lock, one wake-up per eater).
const MAX_RUN: usize = 256;
/// Longest pull request; the idle heartbeat is a fraction of it.
const PULL_EXPIRES: Duration = Duration::from_secs(2);
/// Pause before retrying to set up the stream or the consumer.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// An ordered consumer's messages.
pub(super) type Messages = async_nats::jetstream::consumer::pull::Ordered;

/// Sets up the stream (if no hub did yet) and an ordered consumer on it.
pub(super) async fn open(
    bus: &Bus,
    filter: &str,
    deliver_policy: DeliverPolicy,
) -> Result<Messages, String> {
    let stream = bus
        .js
        .get_or_create_stream(stream_config(&bus.config))
        .await
        .map_err(|e| format!("cannot set up the stream {}: {e}", bus.config.stream))?;
    let config = OrderedConfig {
        filter_subject: filter.to_string(),
        deliver_policy,
        // Pull requests of PULL_EXPIRES, with idle heartbeats within
        // them: a consumer lost with its NATS node is noticed after two
        // missed heartbeats (the library's default of 30 s pulls took
        // over half a minute) and recreated on a live node.
        max_expires: PULL_EXPIRES,
        ..Default::default()
    };
    let consumer = stream
        .create_consumer(config)
        .await
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("cannot read the stream: {e}"))
}

/// Reads what `messages` has ready, from `first` on, into `batch` (at most
/// [`MAX_RUN`]); `Err` when the consumer must be set up again. `last`
/// gets the last stream sequence read.
pub(super) fn read_batch(
    bus: &Bus,
    first: Option<Result<Message, async_nats::jetstream::consumer::pull::OrderedError>>,
    messages: &mut Messages,
    batch: &mut Vec<Message>,
    last: &mut Option<u64>,
) -> Result<(), String> {
    let mut next = first;
    let mut result = Ok(());
    loop {
        match next {
            Some(Ok(m)) => batch.push(m),
            // The library recreates an ordered consumer itself when it
            // can; an error that reaches us is set up anew by the caller,
            // after the last sequence read.
            Some(Err(e)) => {
                result = Err(e.to_string());
                break;
            }
            None => {
                result = Err("the consumer ended".to_string());
                break;
            }
        }
        if batch.len() >= MAX_RUN {
            break;
        }
        match messages.next().now_or_never() {
            Some(m) => next = m,
            None => break,
        }
    }
    if let Some(info) = batch.last().and_then(|m| m.info().ok()) {
        *last = Some(info.stream_sequence);
        bus.counters.lag.store(info.pending, Ordering::Relaxed);
    }
    if result.is_err() {
        bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// Where the next consumer starts: after the last sequence read, else
/// at `first`.
pub(super) fn resume(last: Option<u64>, first: DeliverPolicy) -> DeliverPolicy {
    match last {
        Some(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
        None => first,
    }
}

/// The hub's feed: the stream from when the hub joined, under the
/// eaters' covering filter, into `deliver`.
pub(crate) async fn run(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    let mut filters = bus.filter.subscribe();
    // The last stream sequence read: the next consumer starts after it.
    let mut last: Option<u64> = None;
    let mut announced = false;
    loop {
        let filter = filters.borrow_and_update().clone();
        let opened = tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            o = open(&bus, &filter, resume(last, DeliverPolicy::New)) => o,
        };
        let mut messages = match opened {
            Ok(m) => m,
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
        let mut batch: Vec<Message> = Vec::with_capacity(MAX_RUN);
        loop {
            let first = tokio::select! {
                _ = crate::stopped(&mut stop) => return,
                Ok(()) = filters.changed() => break,
                m = messages.next() => m,
            };
            let read = read_batch(&bus, first, &mut messages, &mut batch, &mut last);
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

/// Sleeps [`RETRY_PAUSE`]; `true` if the hub stops meanwhile.
pub(super) async fn pause(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = crate::stopped(stop) => true,
        _ = tokio::time::sleep(RETRY_PAUSE) => false,
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
