//! The per-kitchen rate limit (`kitchen_rate`, `kitchen_burst`): a token
//! bucket. A kitchen over its rate is slowed down, never cut off: its task
//! stops reading the socket for as long as [`Bucket::take`] says, and TCP
//! pushes back on the kitchen.

use std::time::{Duration, Instant};

use crate::config::Config;

/// A token bucket refilled at `rate` per second, holding at most `burst`.
pub(crate) struct Bucket {
    /// Dumplings per second; `None`: unlimited.
    rate: Option<f64>,
    /// Largest number of tokens held.
    burst: f64,
    /// Tokens now (negative: owed, the caller is waiting them off).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl Bucket {
    /// A full bucket with `config`'s limits.
    pub(crate) fn new(config: &Config) -> Bucket {
        Bucket::full(config.kitchen_rate, config.kitchen_burst, Instant::now())
    }

    fn full(rate: Option<f64>, burst: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// New limits (a reload), keeping the tokens already earned.
    pub(crate) fn update(&mut self, config: &Config) {
        self.set_limits(config.kitchen_rate, config.kitchen_burst);
    }

    fn set_limits(&mut self, rate: Option<f64>, burst: f64) {
        self.rate = rate;
        self.burst = burst;
        self.tokens = self.tokens.min(self.burst);
    }

    /// Takes one token; how long to wait first if there is none.
    pub(crate) fn take(&mut self) -> Option<Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> Option<Duration> {
        let rate = self.rate?;
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-self.tokens / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn unlimited_never_waits() {
        let t0 = Instant::now();
        let mut b = Bucket::full(None, 0.0, t0);
        assert!((0..10_000).all(|_| b.take_at(t0).is_none()));
    }

    #[test]
    fn a_burst_passes_then_each_dumpling_waits_its_share() {
        let t0 = Instant::now();
        // 100/s, burst 10: ten at once, then one every 10 ms.
        let mut b = Bucket::full(Some(100.0), 10.0, t0);
        assert!((0..10).all(|_| b.take_at(t0).is_none()));
        let wait = b.take_at(t0).expect("the 11th waits");
        assert!((wait.as_secs_f64() - 0.010).abs() < 1e-9, "{wait:?}");
        // The 12th at the same instant owes two tokens.
        let wait = b.take_at(t0).unwrap();
        assert!((wait.as_secs_f64() - 0.020).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn tokens_refill_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::full(Some(100.0), 5.0, t0);
        assert!((0..5).all(|_| b.take_at(t0).is_none()));
        // 30 ms earn 3 tokens.
        let t1 = t0 + ms(30);
        assert!((0..3).all(|_| b.take_at(t1).is_none()));
        assert!(b.take_at(t1).is_some());
        // A long idle spell refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        assert!((0..5).all(|_| b.take_at(t2).is_none()));
        assert!(b.take_at(t2).is_some());
    }

    #[test]
    fn a_reload_keeps_earned_tokens_within_the_new_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::full(Some(100.0), 50.0, t0);
        b.set_limits(Some(100.0), 2.0);
        assert!((0..2).all(|_| b.take_at(t0).is_none()));
        assert!(b.take_at(t0).is_some());
        // Turning the limit off takes effect at once.
        b.set_limits(None, 2.0);
        assert!(b.take_at(t0).is_none());
    }
}
