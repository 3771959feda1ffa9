//! The relay's outbox: every dumpling the kitchen has not yet had
//! acknowledged by a hub, in order, with its sequence number.
//!
//! One queue, two parts: a front of dumplings already written on the
//! current connection and waiting for the hub's acknowledgement, and behind
//! it the ones not yet written. A reconnect rewinds (everything unacknowledged
//! is written again, oldest first); an acknowledgement for `n` removes every
//! written dumpling up to sequence number `n`.
//!
//! **Drop policy: oldest first**, whatever part it is in. The outbox holds
//! at most `capacity` dumplings; a push into a full outbox removes the
//! oldest (an unacknowledged one before a pending one, since it is older)
//! and counts it. The same rule whether the hub is connected or away: a
//! kitchen that cannot deliver everything delivers the most recent.
//!
//! Sequence numbers are given once, when a dumpling enters, and kept across
//! re-sends (1, 2, 3, ...; a dropped dumpling leaves a gap). They name one
//! dumpling of this kitchen run for its whole life, which is what a later
//! deduplication (a message id on a bus) needs.
//!
//! No I/O here: the relay ([`crate::relay`]) owns the socket.

use std::collections::VecDeque;

/// Dumplings waiting for a hub, oldest first.
#[derive(Debug)]
pub struct Outbox {
    /// (sequence number, encoded dumpling), oldest first.
    entries: VecDeque<(u64, String)>,
    /// How many of `entries`' front were written on the current connection
    /// (and await acknowledgement); the rest are still to write.
    written: usize,
    /// The sequence number the next pushed dumpling gets.
    next_seq: u64,
    /// Most dumplings held, written or not (`nd-sniff --buffer`, at least 1).
    capacity: usize,
    /// Dumplings removed by the drop policy so far.
    dropped: u64,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` dumplings (at least 1).
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            entries: VecDeque::new(),
            written: 0,
            next_seq: 1,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Whether a push would keep every dumpling held (none dropped).
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.capacity
    }

    /// Adds a dumpling at the back, dropping the oldest if full. Returns the
    /// sequence number it got.
    pub fn push(&mut self, text: String) -> u64 {
        self.push_with(|_| text)
    }

    /// Adds the dumpling `encode` makes from its sequence number (the relay
    /// writes the number into the dumpling), dropping the oldest if full.
    /// Returns the sequence number.
    pub fn push_with(&mut self, encode: impl FnOnce(u64) -> String) -> u64 {
        if !self.has_room() && self.entries.pop_front().is_some() {
            self.dropped += 1;
            self.written = self.written.saturating_sub(1);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back((seq, encode(seq)));
        seq
    }

    /// The next dumpling to write on this connection, marked written:
    /// (sequence number, text). `None` when everything is written.
    pub fn next_to_write(&mut self) -> Option<(u64, &str)> {
        let (seq, text) = self.entries.get(self.written)?;
        self.written += 1;
        Some((*seq, text.as_str()))
    }

    /// Sequence number of the last dumpling written on this connection
    /// (what an acknowledgement ping carries), if any is unacknowledged.
    pub fn last_written(&self) -> Option<u64> {
        self.written
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .map(|(seq, _)| *seq)
    }

    /// The hub acknowledged everything written up to sequence number `n`:
    /// removes those; returns how many.
    pub fn acknowledge(&mut self, n: u64) -> u64 {
        let mut acked = 0;
        while self.written > 0 && self.entries.front().is_some_and(|(seq, _)| *seq <= n) {
            self.entries.pop_front();
            self.written -= 1;
            acked += 1;
        }
        acked
    }

    /// A new connection: everything unacknowledged is to be written again.
    /// Returns how many dumplings that re-sends.
    pub fn rewind(&mut self) -> u64 {
        std::mem::take(&mut self.written) as u64
    }

    /// Dumplings held (written or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Written on this connection, not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.written
    }

    /// Not yet written on this connection.
    pub fn pending(&self) -> usize {
        self.entries.len() - self.written
    }

    /// Dumplings the drop policy removed so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(o: &Outbox) -> Vec<(u64, String)> {
        o.entries.iter().cloned().collect()
    }

    fn write_all(o: &mut Outbox) -> Vec<u64> {
        std::iter::from_fn(|| o.next_to_write().map(|(s, _)| s)).collect()
    }

    #[test]
    fn writes_in_order_and_acknowledges_up_to_n() {
        let mut o = Outbox::new(10);
        for i in 0..5 {
            assert_eq!(o.push(format!("d{i}")), i + 1);
        }
        assert_eq!(write_all(&mut o), [1, 2, 3, 4, 5]);
        assert_eq!(o.last_written(), Some(5));
        assert_eq!(o.acknowledge(3), 3);
        assert_eq!((o.unacknowledged(), o.pending(), o.len()), (2, 0, 2));
        // A stale or repeated acknowledgement removes nothing more.
        assert_eq!(o.acknowledge(3), 0);
        assert_eq!(o.acknowledge(2), 0);
        assert_eq!(o.acknowledge(5), 2);
        assert!(o.is_empty());
        assert_eq!(o.last_written(), None);
    }

    #[test]
    fn acknowledgement_never_removes_what_was_not_written() {
        let mut o = Outbox::new(10);
        o.push("a".into());
        o.push("b".into());
        o.next_to_write();
        // A hub cannot acknowledge 2: it was never written. Only 1 goes.
        assert_eq!(o.acknowledge(2), 1);
        assert_eq!((o.len(), o.pending()), (1, 1));
    }

    #[test]
    fn rewind_resends_the_unacknowledged_first_with_their_numbers() {
        let mut o = Outbox::new(10);
        for t in ["a", "b", "c", "d"] {
            o.push(t.into());
        }
        o.next_to_write();
        o.next_to_write();
        o.next_to_write();
        o.acknowledge(1);
        // Connection lost with 2 and 3 unacknowledged, 4 pending.
        assert_eq!(o.rewind(), 2);
        assert_eq!(o.unacknowledged(), 0);
        let again: Vec<(u64, String)> =
            std::iter::from_fn(|| o.next_to_write().map(|(s, t)| (s, t.to_string()))).collect();
        assert_eq!(again, [(2, "b".into()), (3, "c".into()), (4, "d".into())]);
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_written_or_not() {
        // Hub away: three written and unacknowledged when it went, then more.
        let mut o = Outbox::new(3);
        for t in ["a", "b", "c"] {
            o.push(t.into());
        }
        write_all(&mut o);
        assert!(!o.has_room());
        o.push("d".into());
        o.push("e".into());
        assert_eq!(o.len(), 3, "never more than the capacity");
        assert_eq!(o.dropped(), 2);
        assert_eq!(
            texts(&o),
            [(3, "c".into()), (4, "d".into()), (5, "e".into())]
        );
        // "c" is still the one written and unacknowledged.
        assert_eq!((o.unacknowledged(), o.pending()), (1, 2));
        assert_eq!(o.rewind(), 1);
        assert_eq!(write_all(&mut o), [3, 4, 5]);
    }

    #[test]
    fn a_full_outbox_while_connected_drops_the_same_way() {
        let mut o = Outbox::new(2);
        o.push("a".into());
        o.next_to_write();
        o.push("b".into());
        o.push("c".into());
        // "a" (written, unacknowledged) was the oldest.
        assert_eq!(texts(&o), [(2, "b".into()), (3, "c".into())]);
        assert_eq!((o.unacknowledged(), o.pending(), o.dropped()), (0, 2, 1));
        // Its late acknowledgement removes nothing else.
        assert_eq!(o.acknowledge(1), 0);
        assert_eq!(write_all(&mut o), [2, 3]);
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut o = Outbox::new(0);
        o.push("a".into());
        o.push("b".into());
        assert_eq!(texts(&o), [(2, "b".into())]);
        assert_eq!(o.dropped(), 1);
    }
}
