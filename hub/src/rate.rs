//! The hub's one token bucket, for every rate it holds anyone to: a connection's signaling
//! messages ([`crate::limits`]), TURN requests per source and a user's relayed bytes
//! ([`crate::turn`]), chat through the SFU ([`crate::sfu`]). It is kept as one atomic
//! "theoretical arrival time" (GCRA): lock-free, so it can be shared across tasks, with no
//! refill timer, and with time passed in. [`PerSource`] keeps one per source address in a fixed
//! table (TURN requests, failed logins), so that spoofed or many addresses cannot grow it.

use std::net::IpAddr;
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

    /// One unit every `period`, with up to `burst` units at once (for rates under one a second).
    pub fn every(period: Duration, burst: u64) -> Self {
        let period_ns = period.as_nanos().clamp(1, i64::MAX as u128 / 4) as i64;
        let burst_ns = period_ns.saturating_mul(i64::try_from(burst.saturating_sub(1)).unwrap_or(i64::MAX)).min(i64::MAX / 4);
        Bucket { tat_ns: AtomicI64::new(i64::MIN / 2), epoch: Instant::now(), ns_per_unit: period_ns as f64, burst_ns }
    }

    /// Whether one unit could be taken at `now` (nothing is taken).
    pub fn available(&self, now: Instant) -> bool {
        let tat = self.tat_ns.load(Ordering::Relaxed);
        let next = tat.max(self.ns_since_epoch(now)).saturating_add(self.ns_per_unit as i64);
        next.saturating_sub(self.ns_since_epoch(now)) <= self.burst_ns.saturating_add(self.ns_per_unit as i64)
    }

    fn ns_since_epoch(&self, now: Instant) -> i64 {
        match now.checked_duration_since(self.epoch) {
            Some(after) => after.as_nanos().min(i64::MAX as u128 / 4) as i64,
            None => -(self.epoch.duration_since(now).as_nanos().min(i64::MAX as u128 / 4) as i64),
        }
    }

    /// Takes `units` at `now`; false (and nothing taken) when over the rate.
    pub fn take(&self, units: usize, now: Instant) -> bool {
        let now_ns = self.ns_since_epoch(now);
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

/// A bucket per source address, in a fixed table of `slots` (addresses that hash alike share
/// one: a spoofer can at worst use up a stranger's share, never grow the table).
#[derive(Debug)]
pub struct PerSource {
    buckets: Box<[Bucket]>,
}

impl PerSource {
    pub fn new(slots: usize, bucket: impl Fn() -> Bucket) -> Self {
        PerSource { buckets: (0..slots.max(1)).map(|_| bucket()).collect() }
    }

    /// The bucket of `ip`.
    pub fn of(&self, ip: IpAddr) -> &Bucket {
        let bits: u128 = match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            // An IPv4-mapped address is its IPv4 source.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(u128::from(v6), |v4| u128::from(u32::from(v4))),
        };
        // Fold and multiply (Fibonacci hashing) into the table.
        let folded = (bits as u64) ^ ((bits >> 64) as u64);
        &self.buckets[(folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % self.buckets.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_rate_with_a_burst_and_a_peek_that_takes_nothing() {
        let t0 = Instant::now();
        let b = Bucket::every(Duration::from_secs(6), 3);
        assert!(b.available(t0));
        assert_eq!((0..10).filter(|_| b.take(1, t0)).count(), 3, "the burst");
        assert!(!b.available(t0));
        assert!(!b.available(t0 + Duration::from_secs(5)));
        assert!(b.available(t0 + Duration::from_secs(6)), "one every 6 s after it");
        assert!(b.available(t0 + Duration::from_secs(6)), "looking takes nothing");
        assert!(b.take(1, t0 + Duration::from_secs(6)));
        assert!(!b.available(t0 + Duration::from_secs(7)));
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let t0 = Instant::now();
        let table = PerSource::new(4096, || Bucket::with_burst_count(1, 2));
        let a: IpAddr = "198.18.0.1".parse().unwrap();
        let b: IpAddr = "198.18.0.2".parse().unwrap();
        let a6: IpAddr = "::ffff:198.18.0.1".parse().unwrap();
        assert!(table.of(a).take(1, t0) && table.of(a).take(1, t0));
        assert!(!table.of(a).take(1, t0), "a is out");
        assert!(!table.of(a6).take(1, t0), "a over IPv6 is still a");
        assert!(table.of(b).take(1, t0), "b is not");
        // Spread: 10,000 addresses fill most of the table.
        let used: std::collections::HashSet<usize> = (0..10_000u32).map(|i| std::ptr::from_ref(table.of(IpAddr::from((0xC612_0000u32 + i).to_be_bytes()))) as usize).collect();
        assert!(used.len() > 3500, "{} slots used", used.len());
    }

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
