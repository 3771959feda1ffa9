//! Reading the stream: an ordered JetStream consumer, watched.
//!
//! Both the hub's shared feed (`consume`) and a late eater's history
//! (`history`) read the stream through a [`Reader`]: the library's ordered
//! consumer (flow-controlled, no acks, recreated by the client at the next
//! stream sequence when it misses heartbeats or a message) plus a
//! watchdog of our own.
//!
//! # Why a watchdog
//!
//! When the NATS node holding an ordered consumer dies, the library
//! recreates the consumer itself, retrying forever with a back-off that
//! grows to ten seconds per try, and says nothing: the hub's eaters just
//! stop getting other hubs' dumplings (seen in CI: a node killed in a
//! three-node cluster, one hub's consumer silent for over a minute while
//! the stream kept storing). So whenever nothing has been read for
//! [`STALL_CHECK`], the reader asks the stream's leader whether it holds a
//! message past the last one read that the filter wants. Twice yes in a
//! row, with nothing read between, is a stalled consumer: the reader
//! returns an error (counted, logged) and its owner sets a new one up
//! after the last sequence read. An idle stream costs one small request
//! per [`STALL_CHECK`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig, OrderedError};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::Message;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::{stream_config, Bus};

/// Most messages taken into one batch (one lock, one wake-up per eater).
const MAX_RUN: usize = 256;
/// Longest pull request; the idle heartbeat is a fraction of it.
const PULL_EXPIRES: Duration = Duration::from_secs(2);
/// Pause before retrying to set up the stream or the consumer.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Silence after which the reader checks that the stream has nothing
/// for it (see the module docs). Well above a pull's round trip, well
/// below what an eater would call "stopped".
const STALL_CHECK: Duration = Duration::from_secs(2);

/// An ordered consumer and what its watchdog needs.
pub(super) struct Reader {
    messages: Ordered,
    /// The stream, to ask its leader what it holds.
    stream: Stream,
    /// The consumer's filter (the watchdog asks about the same subjects).
    filter: String,
    /// The last check found an unread message the consumer has not
    /// delivered since.
    suspect: bool,
}

/// What one watchdog check found.
enum Check {
    /// Nothing past the last read (or the question could not be asked:
    /// a leader election, the bus down; the library is on it).
    Idle,
    /// The stream holds a wanted message past the last one read.
    Behind(u64),
}

impl Reader {
    /// Sets up the stream (if no hub did yet) and an ordered consumer on
    /// it; also returns the stream sequence just before the consumer's
    /// first message (where a new consumer resumes if nothing is read).
    pub(super) async fn open(
        bus: &Bus,
        filter: &str,
        deliver_policy: DeliverPolicy,
    ) -> Result<(Reader, u64), String> {
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
        let before_first = consumer.cached_info().delivered.stream_sequence;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| format!("cannot read the stream: {e}"))?;
        let reader = Reader {
            messages,
            stream,
            filter: filter.to_string(),
            suspect: false,
        };
        Ok((reader, before_first))
    }

    /// Waits for what the consumer has next and takes what it has ready
    /// into `batch` (at most [`MAX_RUN`]); `last` gets the last stream
    /// sequence read. `Err` when the consumer must be set up again (after
    /// `last`): a library error, its end, or a stall. Cancel-safe: what it
    /// read is in `batch` before it returns, and nothing is read after an
    /// await.
    pub(super) async fn next_batch(
        &mut self,
        bus: &Bus,
        batch: &mut Vec<Message>,
        last: &mut Option<u64>,
    ) -> Result<(), String> {
        loop {
            let first = tokio::select! {
                m = self.messages.next() => m,
                _ = tokio::time::sleep(STALL_CHECK) => {
                    match check(&self.stream, &self.filter, *last).await {
                        Check::Behind(seq) if self.suspect => {
                            bus.counters.consume_errors.fetch_add(1, Ordering::Relaxed);
                            return Err(format!(
                                "the consumer delivered nothing for {}s while the stream holds message {seq}",
                                2 * STALL_CHECK.as_secs()
                            ));
                        }
                        Check::Behind(_) => self.suspect = true,
                        Check::Idle => self.suspect = false,
                    }
                    continue;
                }
            };
            self.suspect = false;
            return self.take(bus, first, batch, last);
        }
    }

    /// Takes `first` and whatever else is ready into `batch`.
    fn take(
        &mut self,
        bus: &Bus,
        first: Option<Result<Message, OrderedError>>,
        batch: &mut Vec<Message>,
        last: &mut Option<u64>,
    ) -> Result<(), String> {
        let mut next = first;
        let mut result = Ok(());
        loop {
            match next {
                Some(Ok(m)) => batch.push(m),
                // The library recreates an ordered consumer itself when it
                // can; an error that reaches us is set up anew by the
                // owner, after the last sequence read.
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
            match self.messages.next().now_or_never() {
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
}

/// Asks the stream's leader for the first message after `last` that
/// `filter` wants. A free function borrowing only the (shareable) stream,
/// so the reader's future stays `Send`.
async fn check(stream: &Stream, filter: &str, last: Option<u64>) -> Check {
    // Before the first message of a consumer that started at an unknown
    // point (the last per subject) there is nothing to compare.
    let Some(last) = last else { return Check::Idle };
    let asked = stream
        .raw_message_builder()
        .sequence(last + 1)
        .next_by_subject(filter.to_string())
        .send();
    match tokio::time::timeout(STALL_CHECK, asked).await {
        Ok(Ok(m)) => Check::Behind(m.sequence),
        // Nothing there (NoMessageFound), or no answer: the library is on it.
        _ => Check::Idle,
    }
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

/// Sleeps [`RETRY_PAUSE`]; `true` if the hub stops meanwhile.
pub(super) async fn pause(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = crate::stopped(stop) => true,
        _ = tokio::time::sleep(RETRY_PAUSE) => false,
    }
}
