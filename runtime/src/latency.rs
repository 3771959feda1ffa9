//! A fixed-bucket latency histogram: how long calls into a chef take
//! (`nd_sniff_chef_call_seconds` on `/metrics`, and the `--report`).
//!
//! Fixed buckets, not a sketch: Prometheus histograms are cumulative
//! counts at fixed bounds, and an observation is one comparison loop and
//! three additions, cheap next to a call into wasm (one per batch).

use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from a call that returns at
/// once (10 us) to one near the default CPU deadline (1 s). A call above the
/// last bound is counted only in `+Inf` (the total).
pub const BOUNDS: [f64; 11] = [
    1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0,
];

/// Counts of calls by duration.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Calls at or under each of [`BOUNDS`] (not cumulative here).
    pub buckets: [u64; BOUNDS.len()],
    /// All calls observed.
    pub count: u64,
    /// Their total duration, in seconds.
    pub sum_seconds: f64,
}

impl Latency {
    /// Counts one call that took `d`.
    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += secs;
    }

    /// Cumulative counts at each bound, as Prometheus' `le` buckets are.
    pub fn cumulative(&self) -> [u64; BOUNDS.len()] {
        let mut out = self.buckets;
        for i in 1..out.len() {
            out[i] += out[i - 1];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_lands_in_the_first_bucket_that_holds_it() {
        let mut l = Latency::default();
        l.observe(Duration::from_micros(3)); // <= 10 us
        l.observe(Duration::from_micros(10)); // <= 10 us: bounds are inclusive
        l.observe(Duration::from_micros(700)); // <= 1 ms
        l.observe(Duration::from_secs(3)); // above every bound: +Inf only
        assert_eq!(l.count, 4);
        assert_eq!(l.buckets[0], 2);
        assert_eq!(l.buckets[4], 1);
        assert_eq!(l.buckets.iter().sum::<u64>(), 3);
        let c = l.cumulative();
        assert_eq!((c[0], c[3], c[4], c[10]), (2, 2, 3, 3));
        assert!((l.sum_seconds - 3.000713).abs() < 1e-9, "{}", l.sum_seconds);
    }
}
