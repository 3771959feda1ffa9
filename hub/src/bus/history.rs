//! History for a late eater (`since`, `last`): its own ordered consumer,
//! started in the past (by time, or at the last dumpling of each subject)
//! and left running into the live stream. One consumer reads both, so
//! there is no seam between history and live: no gap, no repeat.
//!
//! Such an eater is left out of the hub's shared feed (the fan-out of the
//! bus's deliveries skips it); the hub's status dumplings still reach it
//! directly. While the bus is down it gets nothing from the kitchens (the
//! hub's degraded mode feeds the shared feed only) and then resumes where
//! it was: late, but with nothing missing.

use std::sync::Arc;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::Message;
use nd_protocol::subscription::History;
use tracing::{debug, warn};

use super::consume::{decode, key};
use super::reader::{pause, resume, Reader};
use super::{seen, subject, Bus};
use crate::queue::Queued;

/// Where the eater's consumer starts.
fn start(history: History) -> DeliverPolicy {
    match history {
        History::Since(secs) => DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::now_utc() - time::Duration::seconds_f64(secs),
        },
        History::LastPerChef => DeliverPolicy::LastPerSubject,
    }
}

/// Feeds one eater from the stream, from `history` on, through `push`
/// (which applies the eater's subscription), until the task is aborted
/// (the eater leaves).
pub(crate) async fn feed(
    bus: Arc<Bus>,
    history: History,
    push: impl Fn(&[Queued]) + Send + Sync + 'static,
) {
    // The start is fixed when the eater connects, not when a retry runs.
    let first = start(history);
    let mut last: Option<u64> = None;
    let mut seen = seen::Seen::default();
    let (mut stop, mut batch) = (bus.stop.subscribe(), Vec::<Message>::new());
    loop {
        let mut reader = match Reader::open(&bus, subject::ALL, resume(last, first)).await {
            Ok((reader, before_first)) => {
                // From a point in time the consumer's start is a stream
                // sequence; the last per subject is not one.
                if matches!(history, History::Since(_)) {
                    last.get_or_insert(before_first);
                }
                reader
            }
            Err(e) => {
                warn!(hub = %bus.config.hub_name, "an eater's history: {e}; retrying");
                if pause(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let read = tokio::select! {
                _ = crate::stopped(&mut stop) => return,
                r = reader.next_batch(&bus, &mut batch, &mut last) => r,
            };
            let run: Vec<Queued> = batch
                .drain(..)
                .filter(|m| key(m).is_none_or(|(i, seq)| seen.first(i, seq)))
                .filter_map(|m| decode(&bus, &m))
                .collect();
            if !run.is_empty() {
                push(&run);
            }
            if let Err(e) = read {
                debug!("an eater's history consumer: {e}; setting it up again");
                if pause(&mut stop).await {
                    return;
                }
                break;
            }
        }
    }
}
