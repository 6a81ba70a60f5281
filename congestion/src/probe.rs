//! One receiver's probes, without I/O. A receiver held below the layer it could show by its
//! link's estimate gets the next layer of one of its streams for a moment anyway (the SFU
//! switches it): if the path carries it without congestion, what arrived is the estimator's new
//! floor (a probe result, as libwebrtc's probes give); if not, it goes back down, and the next
//! try waits until the link looks better. A link whose estimate keeps falling (one at its
//! limit) is not probed at all.

use std::time::{Duration, Instant};

/// How long a probe runs before the path is taken to carry it.
pub const PROBE_TIME: Duration = Duration::from_millis(1000);
/// The longest a probe waits for its layer to flow (a keyframe of it).
pub const PROBE_WAIT: Duration = Duration::from_secs(2);
/// The wait after a probe the path carried before the next, and after one it did not.
pub const PROBE_AGAIN: Duration = Duration::from_millis(250);
pub const PROBE_BACKOFF: Duration = Duration::from_secs(1);
/// After a probe the path did not carry, the next waits until the link looks better (the
/// estimate has risen this much over what it was then and the round trip is back near its
/// floor, its queue drained: the link may have come back), or this long at most, doubled with
/// each failure in a row (up to 8 times): a link that stays slow is seldom probed. (An
/// estimate that rises while the round trip stays long is only the loss cap's untested
/// growth; and a receiver at its floor, whose smallest layers fill its link, cannot drain its
/// queue by sending less, so the queue as the estimator tells it is no guide there.)
pub const PROBE_RISE: f64 = 1.1;
pub const PROBE_RETRY: Duration = Duration::from_secs(4);
/// A probe waits until the estimate has not fallen for this long: a link at its limit (where
/// the estimate falls every few seconds) is not probed, a link that came back is.
pub const PROBE_QUIET: Duration = Duration::from_secs(2);
/// A probe waits while the bottleneck holds a standing queue longer than this: the link is
/// full already (a link at its floor, where even the smallest layers fill it, is never probed
/// into loss), and a probe would only add to the queue.
pub const PROBE_MAX_QUEUE: Duration = Duration::from_millis(50);
/// A round trip within this of twice the least seen is one with its queue drained.
pub const NEAR_FLOOR: Duration = Duration::from_millis(10);
/// A probe carried only if what the receiver acknowledges rose by at least this share of what
/// the probe sent over what it acknowledged before.
const PROBE_ARRIVED: f64 = 0.5;
/// A fall, for [`PROBE_QUIET`]: the estimate under this share of the one seen before it.
const FALL: f64 = 0.95;
/// A probe the path carried tells the estimator this much more than arrived: one layer up at
/// a time is a small probe, and the next one would wait on the estimate's slow climb.
pub const PROBE_GAIN: f64 = 1.2;
/// A probe failed when the estimate fell below this share of what it was when it began, or
/// when loss rose by this much.
const PROBE_FELL: f64 = 0.9;
const PROBE_LOSS: f64 = 0.05;

/// The receiver's link as a probe sees it, each time layers are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PathNow {
    /// The estimate, bits/s.
    pub estimate: f64,
    /// Loss over the estimator's last window, a fraction.
    pub loss: f64,
    /// The standing queue at the bottleneck, if known.
    pub queue: Option<Duration>,
    /// What the receiver acknowledged over the last half second, bits/s, if known.
    pub acked: Option<f64>,
    /// Everything sent to the receiver so far, bytes.
    pub bytes: u64,
    /// The round trip, if known.
    pub rtt: Option<Duration>,
}

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
    /// When it was asked for, and when its layer began to flow.
    asked: Instant,
    started: Instant,
    estimate_before: f64,
    loss_before: f64,
    bytes_before: u64,
    /// What the receiver acknowledged before the probe's layer flowed, bits/s.
    acked_before: Option<f64>,
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
    /// The least round trip seen.
    floor_rtt: Option<Duration>,
}

impl Prober {
    /// Whose probe runs, if any.
    pub fn owner(&self) -> Option<u64> {
        self.probe.map(|p| p.owner)
    }

    /// The estimate now (called as often as layers are chosen).
    pub fn observe(&mut self, now: Instant, path: &PathNow) {
        let estimate = path.estimate;
        if let Some(r) = path.rtt {
            self.floor_rtt = Some(self.floor_rtt.map_or(r, |f| f.min(r)));
        }
        if self.seen.is_some_and(|s| estimate < FALL * s) {
            self.fell = Some(now);
        }
        self.seen = Some(estimate);
    }

    /// `owner` would probe: starts it if no probe runs, the wait after the last is over, the
    /// estimate has not fallen for [`PROBE_QUIET`], the bottleneck holds no standing queue
    /// over [`PROBE_MAX_QUEUE`], and after a failed probe the estimate has risen or long
    /// enough has passed.
    pub fn start(&mut self, owner: u64, now: Instant, path: &PathNow) -> bool {
        let PathNow { estimate, loss, queue, bytes, acked, .. } = *path;
        if self.probe.is_some() || self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        // The queue as the estimator tells it, or as the round trip shows it over its floor (the
        // estimator's figure is no guide at a receiver's floor, where its queue never drains).
        let queued = path.rtt.zip(self.floor_rtt).is_some_and(|(r, f)| r > f + PROBE_MAX_QUEUE);
        if queue.is_some_and(|q| q > PROBE_MAX_QUEUE) || queued {
            return false;
        }
        if self.fell.is_some_and(|t| now.saturating_duration_since(t) < PROBE_QUIET) {
            return false;
        }
        if let Some((at_estimate, at)) = self.failed {
            let retry = PROBE_RETRY * (1 << (self.failures.clamp(1, 4) - 1));
            let drained = path.rtt.zip(self.floor_rtt).is_some_and(|(r, f)| r <= 2 * f + NEAR_FLOOR);
            let better = estimate >= PROBE_RISE * at_estimate && drained;
            if !better && now.saturating_duration_since(at) < retry {
                return false;
            }
        }
        self.probe = Some(Probe { owner, asked: now, started: now, estimate_before: estimate, loss_before: loss, bytes_before: bytes, acked_before: acked });
        true
    }

    /// `owner`'s probe waits for its layer to flow (the switch waits for a keyframe): its clock
    /// and byte count start again now, so that what it measures is the path carrying that
    /// layer, not the wait. A layer that has not come after [`PROBE_WAIT`] ends the probe
    /// without a verdict (a sender that sends no keyframe says nothing of the path).
    pub fn waiting(&mut self, owner: u64, now: Instant, path: &PathNow) -> bool {
        let Some(p) = self.probe.as_mut().filter(|p| p.owner == owner) else { return false };
        if now.saturating_duration_since(p.asked) >= PROBE_WAIT {
            self.probe = None;
            self.not_before = Some(now + PROBE_AGAIN);
            return false;
        }
        p.started = now;
        p.bytes_before = path.bytes;
        p.acked_before = path.acked;
        true
    }

    /// Whether `owner`'s probe has shown anything yet: congestion (the estimate fell, loss
    /// rose, or a standing queue grew), or [`PROBE_TIME`] without it, with the rate that
    /// arrived: what was sent over the probe, or what the receiver acknowledged if less (what
    /// leaves the hub is not yet what the path carries).
    pub fn check(&mut self, owner: u64, now: Instant, path: &PathNow) -> Option<ProbeEnd> {
        let PathNow { estimate, loss, queue, acked, bytes, .. } = *path;
        let p = self.probe.filter(|p| p.owner == owner)?;
        let queued = queue.is_some_and(|q| q > 2 * PROBE_MAX_QUEUE);
        if loss > p.loss_before + PROBE_LOSS || estimate < PROBE_FELL * p.estimate_before || queued {
            self.failed_at(now, p.estimate_before);
            return Some(ProbeEnd::Congested);
        }
        let ran = now.saturating_duration_since(p.started);
        if ran < PROBE_TIME {
            return None;
        }
        let sent = bytes.saturating_sub(p.bytes_before) as f64 * 8.0 / ran.as_secs_f64();
        let arrived = acked.filter(|a| a.is_finite() && *a > 0.0);
        // What arrives must have risen by a good part of what the probe added (the receiver's
        // figure lags a round trip, and misses part of a keyframe that began the probe).
        let carried = |a: f64| p.acked_before.is_none_or(|b| a - b >= PROBE_ARRIVED * (sent - b));
        if arrived.is_some_and(|a| !carried(a)) {
            // Sent, but not received: the path did not carry it (its queue holds or drops it).
            self.failed_at(now, p.estimate_before);
            return Some(ProbeEnd::Congested);
        }
        self.probe = None;
        self.not_before = Some(now + PROBE_AGAIN);
        self.failed = None;
        self.failures = 0;
        Some(ProbeEnd::Carried { bps: arrived.map_or(sent, |a| a.min(sent)) })
    }

    fn failed_at(&mut self, now: Instant, estimate_before: f64) {
        self.probe = None;
        self.not_before = Some(now + PROBE_BACKOFF);
        self.failed = Some((estimate_before, now));
        self.failures += 1;
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

    fn path(estimate: f64, loss: f64, queue: Option<Duration>, bytes: u64) -> PathNow {
        PathNow { estimate, loss, queue, acked: None, bytes, rtt: None }
    }

    #[test]
    fn a_probe_carried_gives_its_rate_and_a_congested_one_waits_for_the_link_to_rise() {
        let t0 = Instant::now();
        let mut p = Prober::default();
        assert!(p.start(1, t0, &path(300_000.0, 0.02, None, 0)));
        assert!(!p.start(2, t0, &path(300_000.0, 0.0, None, 0)), "one at a time");
        assert_eq!(p.owner(), Some(1));
        assert_eq!(p.check(2, t0 + PROBE_TIME, &path(300_000.0, 0.0, None, 0)), None, "not its probe");
        assert_eq!(p.check(1, t0 + Duration::from_millis(500), &path(290_000.0, 0.05, None, 50_000)), None, "too soon to tell; a little loss as before");
        // 100 kB in 1 s: 800 kbit/s arrived.
        assert_eq!(p.check(1, t0 + PROBE_TIME, &path(300_000.0, 0.0, None, 100_000)), Some(ProbeEnd::Carried { bps: 800_000.0 }));
        assert!(!p.start(1, t0 + PROBE_TIME, &path(800_000.0, 0.0, None, 0)), "a short wait after one");
        let t1 = t0 + PROBE_TIME + PROBE_AGAIN;
        assert!(p.start(1, t1, &path(800_000.0, 0.0, None, 0)));
        let failed = t1 + Duration::from_millis(300);
        assert_eq!(p.check(1, failed, &path(600_000.0, 0.0, None, 0)), Some(ProbeEnd::Congested), "the estimate fell");
        assert!(!p.start(1, failed + PROBE_BACKOFF, &path(800_000.0, 0.0, None, 0)), "the link has not risen since");
        let rtt = |ms| PathNow { rtt: Some(Duration::from_millis(ms)), ..path(900_000.0, 0.0, None, 0) };
        p.observe(t0, &rtt(40));
        assert!(!p.start(1, failed + PROBE_BACKOFF, &rtt(250)), "it rose 10%, but the round trip is long: untested growth");
        assert!(p.start(1, failed + PROBE_BACKOFF, &rtt(80)), "it rose 10% and the queue has drained: try again");
        assert_eq!(p.check(1, failed + PROBE_BACKOFF, &path(900_000.0, 0.2, None, 0)), Some(ProbeEnd::Congested), "loss ends it too");
        let again = failed + PROBE_BACKOFF;
        assert!(!p.start(1, again + PROBE_RETRY, &path(900_000.0, 0.0, None, 0)), "two failures in a row: twice the wait");
        assert!(p.start(1, again + PROBE_RETRY * 2, &path(900_000.0, 0.0, None, 0)), "a slow link is probed again after a while");
        p.abandon(1);
        assert_eq!(p.owner(), None);
        // An estimate that keeps falling (a link at its limit) is not probed.
        let t3 = again + PROBE_RETRY * 2;
        p.observe(t3, &path(1_000_000.0, 0.0, None, 0));
        p.observe(t3, &path(900_000.0, 0.0, None, 0));
        assert!(!p.start(1, t3 + PROBE_QUIET - Duration::from_millis(1), &path(900_000.0, 0.0, None, 0)));
        assert!(p.start(1, t3 + PROBE_QUIET, &path(900_000.0, 0.0, None, 0)));
        p.abandon(1);
        // A link with a standing queue is full already: no probe until it drains.
        let t4 = t3 + PROBE_QUIET + PROBE_RETRY;
        assert!(!p.start(1, t4, &path(900_000.0, 0.0, Some(PROBE_MAX_QUEUE * 2), 0)));
        assert!(p.start(1, t4, &path(900_000.0, 0.0, Some(PROBE_MAX_QUEUE / 5), 0)));
        p.abandon(1);
        // So is one whose round trip stands over its floor by more than that.
        let long = PathNow { rtt: Some(Duration::from_millis(300)), ..path(900_000.0, 0.0, None, 0) };
        p.observe(t4, &PathNow { rtt: Some(Duration::from_millis(20)), ..long });
        assert!(!p.start(1, t4, &long));
        assert!(p.start(1, t4, &PathNow { rtt: Some(Duration::from_millis(60)), ..long }));
    }

    #[test]
    fn a_probe_measures_from_when_its_layer_flows_and_ends_if_it_never_does() {
        let t0 = Instant::now();
        let mut p = Prober::default();
        assert!(p.start(1, t0, &path(300_000.0, 0.0, None, 0)));
        // 600 ms waiting for the keyframe, at the old rate: not part of what the probe measures.
        let flows = t0 + Duration::from_millis(600);
        assert!(!p.waiting(2, flows, &path(0.0, 0.0, None, 22_500)), "not its probe");
        assert!(p.waiting(1, flows, &path(0.0, 0.0, None, 22_500)));
        assert_eq!(p.check(1, t0 + PROBE_TIME, &path(300_000.0, 0.0, None, 40_000)), None, "it has run 400 ms only");
        // 100 kB over the second since the layer came: 800 kbit/s.
        assert_eq!(p.check(1, flows + PROBE_TIME, &path(300_000.0, 0.0, None, 122_500)), Some(ProbeEnd::Carried { bps: 800_000.0 }));
        let t1 = flows + PROBE_TIME + PROBE_AGAIN;
        assert!(p.start(1, t1, &path(800_000.0, 0.0, None, 0)));
        assert!(p.waiting(1, t1 + PROBE_WAIT / 2, &path(0.0, 0.0, None, 0)));
        assert!(!p.waiting(1, t1 + PROBE_WAIT, &path(0.0, 0.0, None, 0)), "its layer never came");
        assert_eq!(p.owner(), None);
        assert!(!p.start(1, t1 + PROBE_WAIT, &path(800_000.0, 0.0, None, 0)), "a short wait after it");
        assert!(p.start(1, t1 + PROBE_WAIT + PROBE_AGAIN, &path(800_000.0, 0.0, None, 0)));
    }

    #[test]
    fn what_counts_is_what_arrived_and_a_growing_queue_is_congestion() {
        let t0 = Instant::now();
        let mut p = Prober::default();
        let before = PathNow { acked: Some(200_000.0), ..path(250_000.0, 0.0, Some(Duration::from_millis(5)), 0) };
        assert!(p.start(1, t0, &before));
        // 310 kbit/s left for a 300 kbit/s link: the receiver acknowledged 280.
        let end = PathNow { estimate: 250_000.0, loss: 0.0, queue: Some(Duration::from_millis(40)), acked: Some(280_000.0), bytes: 38_750, rtt: None };
        assert_eq!(p.check(1, t0 + PROBE_TIME, &end), Some(ProbeEnd::Carried { bps: 280_000.0 }));
        let t1 = t0 + PROBE_TIME + PROBE_AGAIN;
        assert!(p.start(1, t1, &path(300_000.0, 0.0, Some(Duration::from_millis(5)), 0)));
        let queued = PathNow { queue: Some(PROBE_MAX_QUEUE * 3), ..end };
        assert_eq!(p.check(1, t1 + Duration::from_millis(400), &queued), Some(ProbeEnd::Congested), "a standing queue grew under it");
        // Sent at 310 kbit/s, from 250 before, and 235 acknowledged: not carried.
        let t2 = t1 + Duration::from_millis(400) + PROBE_RETRY;
        assert!(p.start(1, t2, &PathNow { acked: Some(250_000.0), ..path(300_000.0, 0.0, Some(Duration::from_millis(5)), 0) }));
        let lost = PathNow { acked: Some(235_000.0), ..end };
        assert_eq!(p.check(1, t2 + PROBE_TIME, &lost), Some(ProbeEnd::Congested));
    }
}
