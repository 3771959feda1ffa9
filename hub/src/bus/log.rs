//! The hub's log of its own kitchens' dumplings on their way through the
//! bus: kept until the stream has stored each one (acknowledged) and this
//! hub has delivered it to its own eaters.
//!
//! Entries are numbered by a local index (`idx`, one counter per hub
//! process, in the order the kitchens' tasks handed them over). Three
//! cursors walk it: the publisher's (next to publish), the
//! acknowledgement cursor (every entry before it is stored), and the
//! front (everything before it is stored and delivered, and gone).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::queue::Queued;

/// One of this hub's kitchens' dumplings.
pub(crate) struct Entry {
    /// The kitchen's instance (or the hub's stand-in for one).
    pub(crate) instance: Arc<str>,
    /// Its number within the instance.
    pub(crate) seq: u64,
    /// `dumplings.<kitchen>.<chef>`.
    pub(crate) subject: Arc<str>,
    /// The kitchen's name (the hello's), for the other hubs' metrics.
    pub(crate) kitchen: Arc<str>,
    /// The text and this hub's series for it.
    pub(crate) q: Queued,
    /// When the kitchen's task handed it over: how long its echo takes.
    pub(crate) at: Instant,
    /// The stream stored it (or already had it: a duplicate).
    pub(crate) acked: bool,
    /// This hub's eaters have it (or it was a duplicate, or none wanted it).
    pub(crate) delivered: bool,
}

/// The entries not yet both stored and delivered, oldest first.
#[derive(Default)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
    /// The idx of `entries[0]`.
    front: u64,
    /// Every entry before this idx is acknowledged.
    acked_to: u64,
    /// Undelivered idxs, oldest first (some may have been delivered since:
    /// skipped when looked at).
    undelivered: VecDeque<u64>,
}

impl Log {
    /// The idx the next entry gets.
    pub(crate) fn end(&self) -> u64 {
        self.front + self.entries.len() as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry before this idx is stored by the stream.
    pub(crate) fn acked_to(&self) -> u64 {
        self.acked_to
    }

    /// Appends an entry; returns its idx.
    pub(crate) fn push(&mut self, e: Entry) -> u64 {
        let idx = self.end();
        if !e.delivered {
            self.undelivered.push_back(idx);
        }
        if e.acked && self.acked_to == idx {
            self.acked_to += 1;
        }
        self.entries.push_back(e);
        idx
    }

    pub(crate) fn get(&self, idx: u64) -> Option<&Entry> {
        let i = idx.checked_sub(self.front)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    pub(crate) fn get_mut(&mut self, idx: u64) -> Option<&mut Entry> {
        let i = idx.checked_sub(self.front)?;
        self.entries.get_mut(usize::try_from(i).ok()?)
    }

    /// Marks `idx` stored; moves the acknowledgement cursor and drops
    /// what is done from the front.
    pub(crate) fn ack(&mut self, idx: u64) {
        if let Some(e) = self.get_mut(idx) {
            e.acked = true;
        }
        while self.acked_to < self.end() && self.get(self.acked_to).is_some_and(|e| e.acked) {
            self.acked_to += 1;
        }
        self.trim();
    }

    /// Marks `idx` delivered.
    pub(crate) fn delivered(&mut self, idx: u64) {
        if let Some(e) = self.get_mut(idx) {
            e.delivered = true;
        }
        self.trim();
    }

    /// The oldest entry not yet delivered, if any.
    pub(crate) fn oldest_undelivered(&mut self) -> Option<(u64, &Entry)> {
        while let Some(&idx) = self.undelivered.front() {
            if self.get(idx).is_some_and(|e| !e.delivered) {
                return self.get(idx).map(|e| (idx, e));
            }
            self.undelivered.pop_front();
        }
        None
    }

    /// Drops the oldest entry to make room (the buffer is full): returns
    /// it, for the caller to deliver if it was not and to count if the
    /// stream never stored it.
    pub(crate) fn evict(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        self.front += 1;
        self.acked_to = self.acked_to.max(self.front);
        Some(e)
    }

    fn trim(&mut self) {
        while self.entries.front().is_some_and(|e| e.acked && e.delivered) {
            self.entries.pop_front();
            self.front += 1;
        }
        self.acked_to = self.acked_to.max(self.front);
        while self.undelivered.front().is_some_and(|&i| i < self.front) {
            self.undelivered.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    fn entry(seq: u64) -> Entry {
        Entry {
            instance: "i".into(),
            seq,
            subject: "dumplings.k.c".into(),
            kitchen: "k".into(),
            q: Queued {
                text: Utf8Bytes::from_static("{}"),
                series: 0,
            },
            at: Instant::now(),
            acked: false,
            delivered: false,
        }
    }

    #[test]
    fn entries_leave_once_stored_and_delivered_in_any_order() {
        let mut log = Log::default();
        for s in 0..5 {
            assert_eq!(log.push(entry(s)), s);
        }
        log.ack(1);
        assert_eq!(log.acked_to(), 0);
        log.ack(0);
        assert_eq!(log.acked_to(), 2);
        assert_eq!(log.len(), 5); // not delivered yet
        log.delivered(1);
        assert_eq!(log.oldest_undelivered().map(|(i, _)| i), Some(0));
        log.delivered(0);
        assert_eq!(log.len(), 3); // 0 and 1 are done
        assert_eq!(log.oldest_undelivered().map(|(i, _)| i), Some(2));
        assert!(log.get(1).is_none());
        assert_eq!(log.get(2).map(|e| e.seq), Some(2));
        let gone = log.evict().map(|e| e.seq);
        assert_eq!(gone, Some(2));
        assert_eq!(log.acked_to(), 3);
        assert_eq!(log.end(), 5);
    }
}
