//! The hub's one token bucket, for every rate it holds anyone to: a connection's signaling
//! messages ([`crate::limits`]), TURN requests per source and a user's relayed bytes
//! ([`crate::turn`]), chat through the SFU ([`crate::sfu`]). It is kept as one atomic
//! "theoretical arrival time" (GCRA): lock-free, so it can be shared across tasks, with no
//! refill timer, and with time passed in.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// `per_sec` units a second, with up to `burst` worth of them at once.
#[derive(Debug)]
pub struct Bucket {
    /// Nanoseconds from `epoch` at which the bucket is full again (times before the epoch,
    /// which callers passing their own clock may give, are negative).
    tat_ns: AtomicI64,
    epoch: Instant,
    ns_per_unit: f64,
    burst_ns: i64,
}

impl Bucket {
    /// `per_sec` units a second, with `burst` worth of time's units at once.
    pub fn new(per_sec: u64, burst: Duration) -> Self {
        let burst_ns = i64::try_from(burst.as_nanos()).unwrap_or(i64::MAX / 4).min(i64::MAX / 4);
        Bucket { tat_ns: AtomicI64::new(i64::MIN / 2), epoch: Instant::now(), ns_per_unit: 1e9 / per_sec.max(1) as f64, burst_ns }
    }

    /// `per_sec` units a second, with `burst` units at once.
    pub fn with_burst_count(per_sec: u64, burst: u64) -> Self {
        let per_sec = per_sec.max(1);
        // GCRA lets one more through than the window holds: the burst window is one unit short.
        Bucket::new(per_sec, Duration::from_secs_f64(burst.saturating_sub(1) as f64 / per_sec as f64))
    }

    /// Takes `units` at `now`; false (and nothing taken) when over the rate.
    pub fn take(&self, units: usize, now: Instant) -> bool {
        let now_ns = match now.checked_duration_since(self.epoch) {
            Some(after) => after.as_nanos().min(i64::MAX as u128 / 4) as i64,
            None => -(self.epoch.duration_since(now).as_nanos().min(i64::MAX as u128 / 4) as i64),
        };
        // Saturating, as f64 to i64 casts are: a huge take is refused, never wrapped.
        let cost = ((units as f64 * self.ns_per_unit) as i64).min(i64::MAX / 4);
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        loop {
            // GCRA: refuse what would put the bucket more than a burst (and this unit) ahead of now.
            let next = tat.max(now_ns).saturating_add(cost);
            if next.saturating_sub(now_ns) > self.burst_ns.saturating_add(self.ns_per_unit as i64) {
                return false;
            }
            match self.tat_ns.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let b = Bucket::with_burst_count(10, 5);
        assert_eq!((0..20).filter(|_| b.take(1, t0)).count(), 5, "the burst");
        assert!(!b.take(1, t0 + Duration::from_millis(50)));
        assert!(b.take(1, t0 + Duration::from_millis(150)), "one every 100 ms after it");
        let mut t = t0 + Duration::from_millis(150);
        for _ in 0..50 {
            t += Duration::from_millis(100);
            assert!(b.take(1, t));
        }
    }

    #[test]
    fn times_before_the_bucket_was_made_count_too() {
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let b = Bucket::with_burst_count(10, 5);
        assert_eq!((0..20).filter(|_| b.take(1, t0)).count(), 5);
        assert!(b.take(1, t0 + Duration::from_millis(100)), "exactly one period after a burst at t0");
        assert!(!b.take(usize::MAX, t0 + Duration::from_secs(3600)), "too much at once is refused, not wrapped");
    }

    #[test]
    fn bytes_hold_to_the_rate_after_a_burst() {
        let b = Bucket::new(100_000, Duration::from_millis(100));
        let start = Instant::now();
        // One simulated second in 1 ms steps, offering 1,000 units each: 10x the rate.
        let passed: u64 = (0..1000u64).filter(|ms| b.take(1000, start + Duration::from_millis(*ms))).count() as u64 * 1000;
        // The rate plus at most the burst and one take.
        assert!((100_000..=112_000).contains(&passed), "passed {passed}");
    }
}
