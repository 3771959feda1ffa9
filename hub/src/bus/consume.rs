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

pub(crate) async fn run(bus: Arc<Bus>, mut stop: watch::Receiver<bool>) {
    let mut filters = bus.filter.subscribe();
    // The last stream sequence read: the next consumer starts after it.
    let mut last: Option<u64> = None;
    let mut announced = false;
    loop {
        let filter = filters.borrow_and_update().clone();
        let stream = tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            s = bus.js.get_or_create_stream(stream_config(&bus.config)) => s,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                warn!(hub = %bus.config.hub_name, stream = %bus.config.stream, "cannot set up the stream: {e}; retrying");
                if pause(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        let deliver_policy = match last {
            Some(seq) => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
            None => DeliverPolicy::New,
        };
        let config = OrderedConfig {
            filter_subject: filter.clone(),
            deliver_policy,
            // Pull requests of PULL_EXPIRES, with idle heartbeats within
            // them: a consumer lost with its NATS node is noticed after two
            // missed heartbeats (the library's default of 30 s pulls took
            // over half a minute) and recreated on a live node.
            max_expires: PULL_EXPIRES,
            ..Default::default()
        };
        let messages = match stream.create_consumer(config).await {
            Ok(c) => c.messages().await,
            Err(e) => {
                bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                warn!(hub = %bus.config.hub_name, "cannot create the bus consumer: {e}; retrying");
                if pause(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                warn!(hub = %bus.config.hub_name, "cannot read the bus: {e}; retrying");
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
            let mut next = first;
            // The ordered stream ends only if it gives up: set up anew.
            let mut ended = false;
            loop {
                match next {
                    Some(Ok(m)) => batch.push(m),
                    Some(Err(e)) => {
                        // The library recreates an ordered consumer itself
                        // when it can; an error that reaches us is set up
                        // anew here, after the last sequence read.
                        bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                        warn!(hub = %bus.config.hub_name, "reading the bus: {e}; setting the consumer up again");
                        ended = true;
                        break;
                    }
                    None => {
                        ended = true;
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
            if let Some(m) = batch.last() {
                if let Ok(info) = m.info() {
                    last = Some(info.stream_sequence);
                    bus.counters.lag.store(info.pending, Ordering::Relaxed);
                }
            }
            deliver(&bus, &mut batch);
            if ended {
                if pause(&mut stop).await {
                    return;
                }
                break;
            }
        }
    }
}

/// Sleeps [`RETRY_PAUSE`]; `true` if the hub stops meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>) -> bool {
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
        let h = m.headers.as_ref();
        let get = |name: &str| h.and_then(|h| h.get(name)).map(|v| v.as_str());
        // This hub's own dumpling back from the stream: its log entry
        // (already validated, its series known) if the log still has it.
        let own = (get(header::RUN) == Some(bus.run.as_str()))
            .then(|| get(header::IDX).and_then(|i| i.parse::<u64>().ok()))
            .flatten()
            .filter(|&idx| s.log.get(idx).is_some());
        if let Some(e) = own.and_then(|idx| s.log.get(idx)) {
            if e.at.elapsed() < ECHO_TIMEOUT / 2 {
                fast_echo = true;
            }
        }
        let key = match (
            get(header::INSTANCE),
            get(header::SEQ).and_then(|s| s.parse::<u64>().ok()),
        ) {
            (Some(i), Some(seq)) => Some((i, seq)),
            _ => None,
        };
        if let Some((instance, seq)) = key {
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
        let Ok(text) = Utf8Bytes::try_from(m.payload.clone()) else {
            bus.counters.invalid.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Ok(summary) = nd_protocol::validate_dumpling(text.as_str()) else {
            bus.counters.invalid.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let kitchen = get(header::KITCHEN).unwrap_or("");
        let series = bus.sink.series(kitchen, &summary.chef);
        run.push(Queued { text, series });
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
