//! Which dumplings this hub has already delivered, per kitchen instance:
//! the once in "every eater gets every dumpling once".
//!
//! A dumpling is named by its kitchen's instance and its sequence number
//! (nd-sniff's hello `instance` and `metadata.seq`; the hub makes both up
//! for kitchens that send none). It can reach a hub more than once: from
//! the stream and from the hub's own log (when the bus was slow), or twice
//! from the stream when a kitchen re-sent it to a second hub after the
//! first stored it but before the stream's duplicate window... had it.
//! Each instance keeps a window of the last [`WINDOW`] sequence numbers as
//! a bit set: a number seen again is a duplicate; one that arrives late
//! (after a later one, which a publish retry can cause) is still
//! delivered once. A number older than the window is taken as seen.

use std::collections::HashMap;

/// Sequence numbers remembered per instance. A re-publish reaches back at
/// most as far as a publish window (see `publish::WINDOW`), well below it.
pub(crate) const WINDOW: u64 = 1 << 14;
/// Instances remembered; past it the least recently used is forgotten
/// (a kitchen restarted thousands of times: its old runs are over).
pub(crate) const MAX_INSTANCES: usize = 4096;

/// One instance's window: bit `i` of `bits` is `high - i`.
struct Window {
    /// The highest sequence number seen.
    high: u64,
    /// Seen flags for `high - WINDOW + 1 ..= high`, as words.
    bits: Vec<u64>,
    /// When it was last used (a counter), for eviction.
    used: u64,
}

impl Window {
    fn new(seq: u64, used: u64) -> Window {
        let mut w = Window {
            high: seq,
            bits: vec![0; (WINDOW / 64) as usize],
            used,
        };
        w.set(0);
        w
    }

    fn bit(&self, back: u64) -> bool {
        self.bits[(back / 64) as usize] >> (back % 64) & 1 == 1
    }

    fn set(&mut self, back: u64) {
        self.bits[(back / 64) as usize] |= 1 << (back % 64);
    }

    /// Moves `high` up by `by`, shifting the window.
    fn advance(&mut self, by: u64) {
        if by >= WINDOW {
            self.bits.iter_mut().for_each(|w| *w = 0);
            return;
        }
        let words = (by / 64) as usize;
        let shift = by % 64;
        let n = self.bits.len();
        for i in (0..n).rev() {
            let src = i.checked_sub(words);
            let lo = src.map_or(0, |s| self.bits[s]);
            let carry = src
                .and_then(|s| s.checked_sub(1))
                .map_or(0, |s| self.bits[s]);
            self.bits[i] = if shift == 0 {
                lo
            } else {
                lo << shift | carry >> (64 - shift)
            };
        }
    }
}

/// Per-instance windows.
#[derive(Default)]
pub(crate) struct Seen {
    windows: HashMap<String, Window>,
    clock: u64,
}

impl Seen {
    /// Records (`instance`, `seq`) and says whether it is new (deliver it).
    pub(crate) fn first(&mut self, instance: &str, seq: u64) -> bool {
        self.clock += 1;
        let clock = self.clock;
        let Some(w) = self.windows.get_mut(instance) else {
            if self.windows.len() >= MAX_INSTANCES {
                if let Some(oldest) = self
                    .windows
                    .iter()
                    .min_by_key(|(_, w)| w.used)
                    .map(|(k, _)| k.clone())
                {
                    self.windows.remove(&oldest);
                }
            }
            self.windows
                .insert(instance.to_string(), Window::new(seq, clock));
            return true;
        };
        w.used = clock;
        if seq > w.high {
            w.advance(seq - w.high);
            w.high = seq;
            w.set(0);
            return true;
        }
        let back = w.high - seq;
        if back >= WINDOW || w.bit(back) {
            return false;
        }
        w.set(back);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_once_in_any_order_within_the_window() {
        let mut s = Seen::default();
        for n in 1..=100 {
            assert!(s.first("a", n));
        }
        for n in 1..=100 {
            assert!(!s.first("a", n), "{n}");
        }
        // Late arrivals (a gap filled after later ones) are new once.
        assert!(s.first("a", 105));
        assert!(s.first("a", 103));
        assert!(!s.first("a", 103));
        assert!(s.first("a", 101));
        assert!(s.first("a", 102));
        assert!(s.first("a", 104));
        assert!(!s.first("a", 105));
        // Other instances are independent.
        assert!(s.first("b", 1));
        assert!(!s.first("b", 1));
    }

    #[test]
    fn the_window_slides_by_any_amount() {
        // Against an independent oracle: a set of everything seen.
        let mut s = Seen::default();
        let mut oracle = std::collections::BTreeSet::new();
        let mut high = 0u64;
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let seq = match x % 10 {
                0 => high + 1 + x % 200,          // a jump up
                1 => high + 1 + x % (3 * WINDOW), // a big jump
                _ => high.saturating_sub(x % (WINDOW + 100)),
            };
            high = high.max(seq);
            let expected = if high - seq >= WINDOW {
                false
            } else {
                oracle.insert(seq)
            };
            assert_eq!(s.first("i", seq), expected, "seq {seq} high {high}");
        }
    }

    #[test]
    fn instances_past_the_bound_forget_the_least_recently_used() {
        let mut s = Seen::default();
        for i in 0..MAX_INSTANCES {
            assert!(s.first(&i.to_string(), 1));
        }
        assert!(!s.first("0", 1)); // 0 is now the most recent
        assert!(s.first("new", 1)); // evicts "1"
        assert!(s.first("1", 1));
        assert!(!s.first("0", 1));
        assert!(s.windows.len() <= MAX_INSTANCES);
    }
}
