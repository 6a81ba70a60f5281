//! One receiver's probes, without I/O. A receiver held below the layer it could show by its
//! link's estimate gets the next layer of one of its streams for a moment anyway (the SFU
//! switches it): if the path carries it without congestion, what arrived is the estimator's new
//! floor (a probe result, as libwebrtc's probes give); if not, it goes back down, and the next
//! try waits until the link looks better. A link whose estimate keeps falling (one at its
//! limit) is not probed at all.

use std::time::{Duration, Instant};

/// How long a probe runs before the path is taken to carry it.
pub const PROBE_TIME: Duration = Duration::from_millis(1000);
/// The wait after a probe the path carried before the next, and after one it did not.
pub const PROBE_AGAIN: Duration = Duration::from_millis(250);
pub const PROBE_BACKOFF: Duration = Duration::from_secs(1);
/// After a probe the path did not carry, the next waits until the estimate has risen this
/// much over what it was then (the link may have come back), or this long at most, doubled
/// with each failure in a row (up to 8 times): a link that stays slow is seldom probed.
pub const PROBE_RISE: f64 = 1.1;
pub const PROBE_RETRY: Duration = Duration::from_secs(7);
/// A probe waits until the estimate has not fallen for this long: a link at its limit (where
/// the estimate falls every few seconds) is not probed, a link that came back is.
pub const PROBE_QUIET: Duration = Duration::from_secs(3);
/// A fall, for [`PROBE_QUIET`]: the estimate under this share of the one seen before it.
const FALL: f64 = 0.95;
/// A probe the path carried tells the estimator this much more than arrived: one layer up at
/// a time is a small probe, and the next one would wait on the estimate's slow climb.
pub const PROBE_GAIN: f64 = 1.2;
/// A probe failed when the estimate fell below this share of what it was when it began, or
/// when loss rose by this much.
const PROBE_FELL: f64 = 0.9;
const PROBE_LOSS: f64 = 0.05;

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeEnd {
    /// The path carried it: `bps` arrived over the probe, for the estimator.
    Carried { bps: f64 },
    /// The estimate fell (or loss rose): back down.
    Congested,
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    owner: u64,
    started: Instant,
    estimate_before: f64,
    loss_before: f64,
    bytes_before: u64,
}

/// One receiver's probes: one at a time, owned by one sender's forwarding.
#[derive(Debug, Clone, Default)]
pub struct Prober {
    probe: Option<Probe>,
    not_before: Option<Instant>,
    /// The estimate when the last probe failed, and when; failures in a row.
    failed: Option<(f64, Instant)>,
    failures: u32,
    /// The estimate last seen, and when it last fell.
    seen: Option<f64>,
    fell: Option<Instant>,
}

impl Prober {
    /// Whose probe runs, if any.
    pub fn owner(&self) -> Option<u64> {
        self.probe.map(|p| p.owner)
    }

    /// The estimate now (called as often as layers are chosen).
    pub fn observe(&mut self, now: Instant, estimate: f64) {
        if self.seen.is_some_and(|s| estimate < FALL * s) {
            self.fell = Some(now);
        }
        self.seen = Some(estimate);
    }

    /// `owner` would probe: starts it if no probe runs, the wait after the last is over, the
    /// estimate has not fallen for [`PROBE_QUIET`], and after a failed probe it has risen or
    /// long enough has passed. `loss` is the link's loss now (a fraction), `bytes` what the
    /// receiver has received so far.
    pub fn start(&mut self, owner: u64, now: Instant, estimate: f64, loss: f64, bytes: u64) -> bool {
        if self.probe.is_some() || self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        if self.fell.is_some_and(|t| now.saturating_duration_since(t) < PROBE_QUIET) {
            return false;
        }
        if let Some((at_estimate, at)) = self.failed {
            let retry = PROBE_RETRY * (1 << self.failures.clamp(1, 4) - 1);
            if estimate < PROBE_RISE * at_estimate && now.saturating_duration_since(at) < retry {
                return false;
            }
        }
        self.probe = Some(Probe { owner, started: now, estimate_before: estimate, loss_before: loss, bytes_before: bytes });
        true
    }

    /// Whether `owner`'s probe has shown anything yet: congestion (the estimate fell, or loss
    /// rose), or [`PROBE_TIME`] without it, with the rate that arrived.
    pub fn check(&mut self, owner: u64, now: Instant, estimate: f64, loss: f64, bytes: u64) -> Option<ProbeEnd> {
        let p = self.probe.filter(|p| p.owner == owner)?;
        if loss > p.loss_before + PROBE_LOSS || estimate < PROBE_FELL * p.estimate_before {
            self.probe = None;
            self.not_before = Some(now + PROBE_BACKOFF);
            self.failed = Some((p.estimate_before, now));
            self.failures += 1;
            return Some(ProbeEnd::Congested);
        }
        let ran = now.saturating_duration_since(p.started);
        if ran < PROBE_TIME {
            return None;
        }
        self.probe = None;
        self.not_before = Some(now + PROBE_AGAIN);
        self.failed = None;
        self.failures = 0;
        let bps = bytes.saturating_sub(p.bytes_before) as f64 * 8.0 / ran.as_secs_f64();
        Some(ProbeEnd::Carried { bps })
    }

    /// `owner` has nothing to probe any more (it left, or reached the top): its probe ends
    /// without a verdict.
    pub fn abandon(&mut self, owner: u64) {
        if self.owner() == Some(owner) {
            self.probe = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_carried_gives_its_rate_and_a_congested_one_waits_for_the_link_to_rise() {
        let t0 = Instant::now();
        let mut p = Prober::default();
        assert!(p.start(1, t0, 300_000.0, 0.02, 0));
        assert!(!p.start(2, t0, 300_000.0, 0.0, 0), "one at a time");
        assert_eq!(p.owner(), Some(1));
        assert_eq!(p.check(2, t0 + PROBE_TIME, 300_000.0, 0.0, 0), None, "not its probe");
        assert_eq!(p.check(1, t0 + Duration::from_millis(500), 290_000.0, 0.05, 50_000), None, "too soon to tell; a little loss as before");
        // 100 kB in 1 s: 800 kbit/s arrived.
        assert_eq!(p.check(1, t0 + PROBE_TIME, 300_000.0, 0.0, 100_000), Some(ProbeEnd::Carried { bps: 800_000.0 }));
        assert!(!p.start(1, t0 + PROBE_TIME, 800_000.0, 0.0, 0), "a short wait after one");
        let t1 = t0 + PROBE_TIME + PROBE_AGAIN;
        assert!(p.start(1, t1, 800_000.0, 0.0, 0));
        let failed = t1 + Duration::from_millis(300);
        assert_eq!(p.check(1, failed, 600_000.0, 0.0, 0), Some(ProbeEnd::Congested), "the estimate fell");
        assert!(!p.start(1, failed + PROBE_BACKOFF, 800_000.0, 0.0, 0), "the link has not risen since");
        assert!(p.start(1, failed + PROBE_BACKOFF, 900_000.0, 0.0, 0), "it rose 10%: try again");
        assert_eq!(p.check(1, failed + PROBE_BACKOFF, 900_000.0, 0.2, 0), Some(ProbeEnd::Congested), "loss ends it too");
        let again = failed + PROBE_BACKOFF;
        assert!(!p.start(1, again + PROBE_RETRY, 900_000.0, 0.0, 0), "two failures in a row: twice the wait");
        assert!(p.start(1, again + PROBE_RETRY * 2, 900_000.0, 0.0, 0), "a slow link is probed again after a while");
        p.abandon(1);
        assert_eq!(p.owner(), None);
        // An estimate that keeps falling (a link at its limit) is not probed.
        let t3 = again + PROBE_RETRY * 2;
        p.observe(t3, 1_000_000.0);
        p.observe(t3, 900_000.0);
        assert!(!p.start(1, t3 + Duration::from_secs(2), 900_000.0, 0.0, 0));
        assert!(p.start(1, t3 + PROBE_QUIET, 900_000.0, 0.0, 0));
    }
}
