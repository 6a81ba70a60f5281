//! The loss-based cap. Loss is measured over windows of at least half a second and 50 packets
//! (short windows of a few packets make random loss look like bursts). Only heavy loss, over
//! 10%, lowers the cap, to (1 − loss/2) of the rate, at most once per round trip + 300 ms; below
//! that the cap grows back at 8% a second (to 1.5 × what arrives at most: a cap far above what
//! is sent has not been tested) and goes away once it no longer limits anything.
//! So a lossy radio link (a few percent, at random) keeps its rate, and it is the delay-based
//! half that finds a bottleneck; a path that drops without queueing still gets pushed back.
//! Very heavy loss, over 25%, is a link that fell far below the rate (a full queue dropping
//! what does not fit): the cap then goes at once to what arrived, the acknowledged rate, rather
//! than halving its way down over seconds while the picture freezes.

use std::time::{Duration, Instant};

const MIN_WINDOW: Duration = Duration::from_millis(500);
const MIN_PACKETS: u32 = 50;
const HEAVY: f64 = 0.10;
const VERY_HEAVY: f64 = 0.25;
const GROWTH_PER_SECOND: f64 = 1.08;

/// The cap and the loss it was measured from.
#[derive(Debug, Default)]
pub struct LossCap {
    cap: Option<f64>,
    lost: u32,
    total: u32,
    window_start: Option<Instant>,
    last_loss: f64,
    last_decrease: Option<Instant>,
    last_growth: Option<Instant>,
}

impl LossCap {
    /// Takes one feedback's counts; `rate` is the estimate now, `max` the most it may be.
    pub fn on_feedback(&mut self, now: Instant, lost: u32, total: u32, rate: f64, max: f64, rtt: Duration, acknowledged: Option<f64>) {
        self.lost += lost;
        self.total += total;
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) < MIN_WINDOW || self.total < MIN_PACKETS {
            return;
        }
        let loss = f64::from(self.lost) / f64::from(self.total);
        self.last_loss = loss;
        (self.lost, self.total, self.window_start) = (0, 0, Some(now));
        if loss > HEAVY {
            let patience = rtt + Duration::from_millis(300);
            if self.last_decrease.is_none_or(|t| now.saturating_duration_since(t) >= patience) {
                let from = self.cap.map_or(rate, |c| c.min(rate));
                let mut cap = from * (1.0 - 0.5 * loss);
                if loss > VERY_HEAVY {
                    if let Some(arrived) = acknowledged.filter(|a| a.is_finite() && *a > 0.0) {
                        cap = cap.min(arrived);
                    }
                }
                self.cap = Some(cap);
                self.last_decrease = Some(now);
                self.last_growth = Some(now);
            }
            return;
        }
        if let Some(cap) = self.cap {
            let last = self.last_growth.replace(now).unwrap_or(now);
            let mut grown = cap * GROWTH_PER_SECOND.powf(now.saturating_duration_since(last).as_secs_f64().min(1.0));
            // Growth that nothing tests is not knowledge: while the sender sends far less than
            // the cap (application-limited), it grows to 1.5 × what arrives at most, as the
            // delay-based rate does; it is never lowered for it.
            if let Some(arrived) = acknowledged.filter(|a| a.is_finite() && *a > 0.0) {
                grown = grown.min(cap.max(1.5 * arrived + 10_000.0));
            }
            self.cap = (grown < max && grown < 1.5 * rate).then_some(grown);
        }
    }

    /// The cap, if loss set one.
    /// A probe carried `bps` without loss: a cap under it is out of date.
    pub fn raise_to(&mut self, bps: f64) {
        if self.cap.is_some_and(|c| c < bps) {
            self.cap = Some(bps);
        }
    }

    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// The loss fraction of the last complete window.
    pub fn loss(&self) -> f64 {
        self.last_loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(l: &mut LossCap, t: &mut Instant, lost_per_100: u32, rate: f64) {
        for _ in 0..10 {
            *t += Duration::from_millis(100);
            l.on_feedback(*t, lost_per_100 * 20 / 100, 20, rate, 2e6, Duration::from_millis(50), None);
        }
    }

    #[test]
    fn random_loss_under_ten_percent_sets_no_cap() {
        let (mut l, mut t) = (LossCap::default(), Instant::now());
        for _ in 0..30 {
            second(&mut l, &mut t, 5, 1e6);
        }
        assert_eq!(l.cap(), None);
        assert!((l.loss() - 0.05).abs() < 0.01);
    }

    #[test]
    fn a_link_that_fell_far_below_the_rate_is_followed_at_once() {
        let (mut l, mut t) = (LossCap::default(), Instant::now());
        // 1.7 Mbit/s into a link that now takes 400 kbit/s: three packets in four are lost.
        for _ in 0..10 {
            t += Duration::from_millis(100);
            l.on_feedback(t, 15, 20, 1.7e6, 2e6, Duration::from_millis(50), Some(420e3));
        }
        let cap = l.cap().expect("capped");
        assert!(cap <= 420e3, "down to what arrived at once, not to 1.7M × 0.63: {cap}");
        // 15% loss: the usual halving step, not the acknowledged rate.
        let (mut l, mut t) = (LossCap::default(), Instant::now());
        for _ in 0..10 {
            t += Duration::from_millis(100);
            l.on_feedback(t, 3, 20, 1e6, 2e6, Duration::from_millis(50), Some(300e3));
        }
        assert!(l.cap().unwrap() > 900e3, "{:?}", l.cap());
    }

    #[test]
    fn heavy_loss_lowers_the_cap_and_it_grows_back_and_goes() {
        let (mut l, mut t) = (LossCap::default(), Instant::now());
        second(&mut l, &mut t, 40, 1e6);
        second(&mut l, &mut t, 40, 1e6);
        let cap = l.cap().expect("40% loss caps the rate");
        assert!(cap < 0.85e6, "{cap}");
        second(&mut l, &mut t, 0, cap);
        let cap = l.cap().unwrap();
        for _ in 0..4 {
            second(&mut l, &mut t, 0, cap);
        }
        assert!(l.cap().unwrap() > cap * 1.2, "grows back");
        for _ in 0..20 {
            let rate = l.cap().unwrap_or(2e6);
            second(&mut l, &mut t, 0, rate * 0.5);
        }
        assert_eq!(l.cap(), None, "and goes once it limits nothing");
    }

    #[test]
    fn the_cap_grows_no_further_than_what_arrives_tests() {
        let (mut l, mut t) = (LossCap::default(), Instant::now());
        second(&mut l, &mut t, 40, 300e3);
        second(&mut l, &mut t, 0, 300e3);
        let cap = l.cap().expect("capped");
        // 20 s with no loss while only 100 kbit/s is sent: 1.5 × 100k + 10k at most, and
        // a cap above that is not lowered for it.
        for _ in 0..20 {
            for _ in 0..10 {
                t += Duration::from_millis(100);
                l.on_feedback(t, 0, 20, cap, 2e6, Duration::from_millis(50), Some(100e3));
            }
        }
        assert_eq!(l.cap(), Some(cap.max(160e3)), "{:?} from {cap}", l.cap());
        for _ in 0..10 {
            t += Duration::from_millis(100);
            l.on_feedback(t, 0, 20, cap, 2e6, Duration::from_millis(50), Some(cap));
        }
        assert!(l.cap().unwrap() > cap * 1.05, "sending at the cap, it grows: {:?}", l.cap());
    }
}
