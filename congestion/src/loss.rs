//! The loss-based cap. Loss is measured over windows of at least half a second and 50 packets
//! (short windows of a few packets make random loss look like bursts). Only heavy loss, over
//! 10%, lowers the cap, to (1 − loss/2) of the rate, at most once per round trip + 300 ms; below
//! that the cap grows back at 8% a second and goes away once it no longer limits anything.
//! So a lossy radio link (a few percent, at random) keeps its rate, and it is the delay-based
//! half that finds a bottleneck; a path that drops without queueing still gets pushed back.

use std::time::{Duration, Instant};

const MIN_WINDOW: Duration = Duration::from_millis(500);
const MIN_PACKETS: u32 = 50;
const HEAVY: f64 = 0.10;
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
    pub fn on_feedback(&mut self, now: Instant, lost: u32, total: u32, rate: f64, max: f64, rtt: Duration) {
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
                self.cap = Some(from * (1.0 - 0.5 * loss));
                self.last_decrease = Some(now);
                self.last_growth = Some(now);
            }
            return;
        }
        if let Some(cap) = self.cap {
            let last = self.last_growth.replace(now).unwrap_or(now);
            let grown = cap * GROWTH_PER_SECOND.powf(now.saturating_duration_since(last).as_secs_f64().min(1.0));
            self.cap = (grown < max && grown < 1.5 * rate).then_some(grown);
        }
    }

    /// The cap, if loss set one.
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
            l.on_feedback(*t, lost_per_100 * 20 / 100, 20, rate, 2e6, Duration::from_millis(50));
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
}
