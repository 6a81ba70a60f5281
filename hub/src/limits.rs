//! Per-connection limits on what a client may send: a token bucket on messages (the hub's one
//! [`Bucket`]), and the rule that a client which keeps flooding past it is cut off. Time is
//! passed in, so it is tested without sockets.

use std::time::{Duration, Instant};

use crate::rate::Bucket;

/// What a message over the rate gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: handle it.
    Pass,
    /// Over the rate: drop it, and tell the client (at most once a second).
    Drop { tell: bool },
    /// Over the rate too long: close the connection.
    Disconnect,
}

/// A token bucket of `rate` messages a second holding up to `burst`, plus a count of
/// messages dropped since the client last kept to the rate.
#[derive(Debug)]
pub struct RateLimit {
    bucket: Bucket,
    dropped: u32,
    /// Drops in a row after which the client is disconnected.
    patience: u32,
    told_at: Option<Instant>,
}

impl RateLimit {
    /// `rate` messages a second, `burst` at once; `patience` drops in a row are forgiven.
    pub fn new(rate: u32, burst: u32, patience: u32) -> Self {
        RateLimit { bucket: Bucket::with_burst_count(u64::from(rate), u64::from(burst.max(1))), dropped: 0, patience, told_at: None }
    }

    /// Charges one message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.bucket.take(1, now) {
            self.dropped = 0;
            return Verdict::Pass;
        }
        self.dropped += 1;
        if self.dropped > self.patience {
            return Verdict::Disconnect;
        }
        let tell = self.told_at.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if tell {
            self.told_at = Some(now);
        }
        Verdict::Drop { tell }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, 5, 100);
        assert!((0..5).all(|_| r.check(t0) == Verdict::Pass));
        assert_eq!(r.check(t0), Verdict::Drop { tell: true });
        assert_eq!(r.check(t0), Verdict::Drop { tell: false }, "told once a second, not per message");
        // 10 a second: one every 100 ms passes.
        assert_eq!(r.check(t0 + Duration::from_millis(100)), Verdict::Pass);
        let mut t = t0 + Duration::from_millis(100);
        for _ in 0..50 {
            t += Duration::from_millis(100);
            assert_eq!(r.check(t), Verdict::Pass);
        }
    }

    #[test]
    fn a_flood_is_cut_off_but_a_pause_is_forgiven() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, 5, 20);
        let verdicts: Vec<Verdict> = (0..30).map(|_| r.check(t0)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Pass).count(), 5);
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));

        let mut r = RateLimit::new(10, 5, 20);
        (0..15).for_each(|_| drop(r.check(t0)));
        // A message within the rate resets the count of drops.
        assert_eq!(r.check(t0 + Duration::from_millis(200)), Verdict::Pass);
        assert!((0..15).all(|_| r.check(t0 + Duration::from_millis(200)) != Verdict::Disconnect));
    }
}
