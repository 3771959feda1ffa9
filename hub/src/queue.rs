//! The bounded per-eater queue.
//!
//! netdumplings gives every eater an unbounded `asyncio.Queue`: an eater that
//! stops reading makes the hub grow until it dies. Here each eater has a
//! queue bounded both in dumplings and in bytes. When a push would exceed
//! either bound, the [`SlowEaterPolicy`] decides:
//!
//! - [`SlowEaterPolicy::DropOldest`] (default): the oldest waiting dumplings
//!   are dropped and counted; the eater keeps its connection and sees the
//!   newest data (what a live dashboard wants).
//! - [`SlowEaterPolicy::Disconnect`]: the queue is marked overflowed and the
//!   hub closes the eater with code 1008 and a reason saying it was too slow
//!   (what an eater that must not miss anything silently wants).
//!
//! Pushing never blocks and never touches a socket, so a slow eater cannot
//! slow a kitchen or another eater.

use std::collections::VecDeque;
use std::sync::Mutex;

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use crate::config::SlowEaterPolicy;
use crate::metrics::SeriesId;

/// A dumpling waiting for an eater: its text, and the metrics series it
/// counts in once written.
#[derive(Clone)]
pub(crate) struct Queued {
    pub(crate) text: Utf8Bytes,
    pub(crate) series: SeriesId,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Queued, nothing dropped.
    None,
    /// Queued, after dropping at least one older dumpling.
    DroppedOldest,
    /// Not queued: the queue overflowed under the disconnect policy.
    Overflowed,
}

struct Inner {
    /// Waiting dumplings, oldest first.
    items: VecDeque<Queued>,
    /// Sum of the lengths of `items`.
    bytes: usize,
    /// Dumplings dropped so far.
    dropped: u64,
    /// Set once the disconnect policy tripped; nothing is queued after that.
    overflowed: bool,
}

/// A bounded FIFO of dumpling texts with an async "wait for work" side.
pub(crate) struct EaterQueue {
    inner: Mutex<Inner>,
    /// Wakes the eater's writer task. `notify_one` keeps a permit when nobody
    /// waits, so a push between "queue empty" and "wait" is never missed.
    notify: Notify,
    /// Bound in dumplings; atomic so a reload applies to connected eaters.
    max_items: AtomicUsize,
    /// Bound in bytes; likewise.
    max_bytes: AtomicUsize,
    /// Fixed for the eater's connection (changing it under a connected
    /// eater would change what it was promised).
    policy: SlowEaterPolicy,
}

impl EaterQueue {
    pub(crate) fn new(max_items: usize, max_bytes: usize, policy: SlowEaterPolicy) -> Self {
        EaterQueue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                dropped: 0,
                overflowed: false,
            }),
            notify: Notify::new(),
            max_items: AtomicUsize::new(max_items.max(1)),
            max_bytes: AtomicUsize::new(max_bytes.max(1)),
            policy,
        }
    }

    /// New bounds (a reload); they apply from the next push.
    pub(crate) fn set_limits(&self, max_items: usize, max_bytes: usize) {
        self.max_items.store(max_items.max(1), Ordering::Relaxed);
        self.max_bytes.store(max_bytes.max(1), Ordering::Relaxed);
    }

    /// The bounds now: (dumplings, bytes).
    pub(crate) fn limits(&self) -> (usize, usize) {
        (
            self.max_items.load(Ordering::Relaxed),
            self.max_bytes.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one dumpling, applying the slow-eater policy (the hub pushes
    /// runs, [`EaterQueue::push_all`]; the tests push one at a time).
    #[cfg(test)]
    pub(crate) fn push(&self, item: Queued) -> Overflow {
        let mut dropped = 0;
        let result = self.push_all(std::iter::once(item), &mut dropped);
        if result == Overflow::None && dropped > 0 {
            Overflow::DroppedOldest
        } else {
            result
        }
    }

    /// Queues dumplings in order under one lock and wakes the writer once
    /// (a kitchen's hand-off is a run of messages read together). Adds the
    /// dumplings dropped (oldest, or refused once overflowed) to `dropped`;
    /// returns `Overflowed` if the disconnect policy tripped.
    pub(crate) fn push_all(
        &self,
        items: impl IntoIterator<Item = Queued>,
        dropped: &mut u64,
    ) -> Overflow {
        let max_items = self.max_items.load(Ordering::Relaxed);
        let max_bytes = self.max_bytes.load(Ordering::Relaxed);
        let mut q = self.lock();
        let mut result = Overflow::None;
        let mut pushed = false;
        'items: for item in items {
            if q.overflowed {
                result = Overflow::Overflowed;
                break;
            }
            let len = item.text.len();
            while !q.items.is_empty()
                && (q.items.len() + 1 > max_items || q.bytes + len > max_bytes)
            {
                match self.policy {
                    SlowEaterPolicy::DropOldest => {
                        if let Some(old) = q.items.pop_front() {
                            q.bytes -= old.text.len();
                            q.dropped += 1;
                            *dropped += 1;
                        }
                    }
                    SlowEaterPolicy::Disconnect => {
                        q.overflowed = true;
                        q.dropped += 1;
                        result = Overflow::Overflowed;
                        break 'items;
                    }
                }
            }
            q.bytes += len;
            q.items.push_back(item);
            pushed = true;
        }
        drop(q);
        // Nothing queued (a subscription took none of the run): no wake-up.
        if pushed || result == Overflow::Overflowed {
            self.notify.notify_one();
        }
        result
    }

    /// Waits until at least one dumpling is queued (or the queue overflowed),
    /// then moves up to `max` of them into `out`.
    pub(crate) async fn wait_batch(&self, out: &mut Vec<Queued>, max: usize) {
        loop {
            {
                let mut q = self.lock();
                if q.overflowed {
                    return;
                }
                if !q.items.is_empty() {
                    let n = q.items.len().min(max);
                    let start = out.len();
                    out.extend(q.items.drain(..n));
                    q.bytes -= out[start..].iter().map(|q| q.text.len()).sum::<usize>();
                    return;
                }
            }
            self.notify.notified().await;
        }
    }

    /// Dumplings dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Dumplings waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Bytes waiting.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether the disconnect policy tripped.
    pub(crate) fn overflowed(&self) -> bool {
        self.lock().overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Queued {
        Queued {
            text: Utf8Bytes::from(s.to_string()),
            series: 0,
        }
    }

    #[tokio::test]
    async fn drop_oldest_keeps_newest_and_counts() {
        let q = EaterQueue::new(3, 1 << 20, SlowEaterPolicy::DropOldest);
        for i in 0..5 {
            q.push(t(&i.to_string()));
        }
        assert_eq!(q.dropped(), 2);
        let mut out = Vec::new();
        q.wait_batch(&mut out, 10).await;
        let got: Vec<&str> = out.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(got, ["2", "3", "4"]);
    }

    #[tokio::test]
    async fn byte_bound_applies() {
        let q = EaterQueue::new(100, 10, SlowEaterPolicy::DropOldest);
        q.push(t("aaaa"));
        q.push(t("bbbb"));
        assert_eq!(q.push(t("cccc")), Overflow::DroppedOldest);
        assert_eq!(q.len(), 2);
    }

    #[tokio::test]
    async fn disconnect_policy_trips_and_stops_queueing() {
        let q = EaterQueue::new(2, 1 << 20, SlowEaterPolicy::Disconnect);
        assert_eq!(q.push(t("a")), Overflow::None);
        assert_eq!(q.push(t("b")), Overflow::None);
        assert_eq!(q.push(t("c")), Overflow::Overflowed);
        assert!(q.overflowed());
        assert_eq!(q.push(t("d")), Overflow::Overflowed);
    }

    /// A run pushed at once is queued like the same pushes one by one.
    #[tokio::test]
    async fn push_all_is_push_in_order() {
        let one = EaterQueue::new(3, 1 << 20, SlowEaterPolicy::DropOldest);
        let all = EaterQueue::new(3, 1 << 20, SlowEaterPolicy::DropOldest);
        let texts: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        for x in &texts {
            one.push(t(x));
        }
        let mut dropped = 0;
        assert_eq!(
            all.push_all(texts.iter().map(|x| t(x)), &mut dropped),
            Overflow::None
        );
        assert_eq!((dropped, all.dropped()), (2, one.dropped()));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        one.wait_batch(&mut a, 10).await;
        all.wait_batch(&mut b, 10).await;
        let texts = |v: &[Queued]| v.iter().map(|q| q.text.to_string()).collect::<Vec<_>>();
        assert_eq!(texts(&a), ["2", "3", "4"]);
        assert_eq!(texts(&b), texts(&a));

        let strict = EaterQueue::new(2, 1 << 20, SlowEaterPolicy::Disconnect);
        let mut dropped = 0;
        assert_eq!(
            strict.push_all(["a", "b", "c", "d"].map(t), &mut dropped),
            Overflow::Overflowed
        );
        assert!(strict.overflowed());
    }

    #[tokio::test]
    async fn batch_takes_at_most_max_in_order() {
        let q = EaterQueue::new(100, 1 << 20, SlowEaterPolicy::DropOldest);
        for i in 0..5 {
            q.push(t(&i.to_string()));
        }
        let mut out = Vec::new();
        q.wait_batch(&mut out, 2).await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text.as_str(), "0");
        assert_eq!(q.len(), 3);
    }
}
