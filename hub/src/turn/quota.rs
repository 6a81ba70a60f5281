//! Per-user TURN quotas: how many allocations a user may hold, and how many bytes per second
//! their relays may carry. The bandwidth check runs on every relayed packet, so it is the hub's
//! lock-free [`Bucket`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
#[cfg(test)]
use std::time::Instant;

use crate::rate::Bucket;

/// The limits each user gets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Allocations one user may hold at once.
    pub allocations: usize,
    /// Bytes per second one user's relays may carry, both directions together.
    pub bytes_per_sec: u64,
    /// How far above the rate a burst may go.
    pub burst: Duration,
}

/// One user's usage, shared by all of their allocations.
#[derive(Debug)]
pub struct Usage {
    allocations: AtomicUsize,
    bandwidth: Bucket,
}

impl Usage {
    fn new(limits: &Limits) -> Self {
        Usage { allocations: AtomicUsize::new(0), bandwidth: Bucket::new(limits.bytes_per_sec, limits.burst) }
    }

    /// Takes `bytes` from the user's bandwidth at `now`; false when over the quota.
    pub fn take(&self, bytes: usize, now: std::time::Instant) -> bool {
        self.bandwidth.take(bytes, now)
    }

    /// Allocations held now.
    pub fn allocations(&self) -> usize {
        self.allocations.load(Ordering::Relaxed)
    }
}

/// Every user's usage. The map is touched only when an allocation opens or closes.
#[derive(Debug)]
pub struct Quotas {
    limits: Limits,
    users: Mutex<HashMap<String, Arc<Usage>>>,
}

/// One allocation's claim on its user's quota; gives the allocation back when dropped.
#[derive(Debug)]
pub struct Claim {
    usage: Arc<Usage>,
}

impl Claim {
    /// The user's shared bandwidth bucket.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.usage.allocations.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Quotas {
    pub fn new(limits: Limits) -> Self {
        Quotas { limits, users: Mutex::new(HashMap::new()) }
    }

    /// Claims one allocation for `user`, or says why not.
    pub fn claim(&self, user: &str) -> Result<Claim, String> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Forget users whose allocations are all gone, so the map cannot grow without bound.
        users.retain(|_, u| Arc::strong_count(u) > 1 || u.allocations() > 0);
        let usage = users.entry(user.to_owned()).or_insert_with(|| Arc::new(Usage::new(&self.limits))).clone();
        let held = usage.allocations.fetch_add(1, Ordering::Relaxed);
        if held >= self.limits.allocations {
            usage.allocations.fetch_sub(1, Ordering::Relaxed);
            return Err(format!("{user} already holds {held} relay allocations (the limit)"));
        }
        Ok(Claim { usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { allocations: 2, bytes_per_sec: 100_000, burst: Duration::from_millis(100) }
    }

    #[test]
    fn allocations_are_counted_per_user_and_given_back() {
        let q = Quotas::new(limits());
        let a = q.claim("alice").unwrap();
        let _b = q.claim("alice").unwrap();
        assert!(q.claim("alice").is_err());
        assert!(q.claim("bob").is_ok(), "another user has a quota of their own");
        drop(a);
        assert!(q.claim("alice").is_ok());
    }

    #[test]
    fn bandwidth_holds_to_the_rate_after_a_burst() {
        let q = Quotas::new(limits());
        let claim = q.claim("alice").unwrap();
        let start = Instant::now();
        // One simulated second in 1 ms steps, offering 1,000 bytes each: 10x the rate.
        let mut passed = 0u64;
        for ms in 0..1000u64 {
            if claim.usage().take(1000, start + Duration::from_millis(ms)) {
                passed += 1000;
            }
        }
        // The rate (100 kB) plus at most the burst (10 kB) and one packet.
        assert!((100_000..=112_000).contains(&passed), "passed {passed} bytes");
        // Within the rate nothing is dropped.
        let later = start + Duration::from_secs(10);
        assert!((0..100).all(|i| claim.usage().take(1000, later + Duration::from_millis(10 * i))));
    }
}
