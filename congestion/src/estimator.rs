//! The send-side estimate: the delay-based rate, capped by heavy loss and by what the receiver
//! says in REMB. A receiver that sends only REMB (no transport-wide feedback) is followed by it.

use std::time::{Duration, Instant};

use crate::delay::DelayBasedBwe;
use crate::loss::LossCap;
use crate::PacketResult;

/// A REMB older than this no longer limits anything.
const REMB_LIFETIME: Duration = Duration::from_secs(5);

/// What limits the estimate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The delay-based half (a queue on the path, or still searching).
    Delay,
    /// Heavy loss.
    Loss,
    /// The receiver's REMB.
    Remb,
    /// Nothing: the estimate is at the most it may be.
    Max,
}

/// The estimate, with what it is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub target_bps: f64,
    pub limit: Limit,
    pub delay_bps: f64,
    pub loss_cap_bps: Option<f64>,
    pub remb_bps: Option<f64>,
    /// The loss fraction of the last complete window.
    pub loss: f64,
    /// What the receiver got over the last half second.
    pub acknowledged_bps: Option<f64>,
    /// The standing queue at the bottleneck, as far as can be told.
    pub queue_delay: Option<Duration>,
    /// The last over-use was called by the standing queue, not the delay trend.
    pub queue_called: bool,
}

/// The estimator's bounds and start.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub initial_bps: f64,
    pub min_bps: f64,
    pub max_bps: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config { initial_bps: 400_000.0, min_bps: 40_000.0, max_bps: 2_500_000.0 }
    }
}

/// Transport-wide feedback (and REMB) in, a target bitrate out.
#[derive(Debug)]
pub struct SendSideBwe {
    config: Config,
    delay: DelayBasedBwe,
    loss: LossCap,
    remb: Option<(f64, Instant)>,
    feedback_seen: bool,
    rtt: Duration,
    estimate: Estimate,
}

impl SendSideBwe {
    pub fn new(config: Config) -> SendSideBwe {
        let initial = config.initial_bps.clamp(config.min_bps, config.max_bps);
        SendSideBwe {
            config,
            delay: DelayBasedBwe::new(initial, config.min_bps, config.max_bps),
            loss: LossCap::default(),
            remb: None,
            feedback_seen: false,
            rtt: Duration::from_millis(100),
            estimate: Estimate { target_bps: initial, limit: Limit::Delay, delay_bps: initial, loss_cap_bps: None, remb_bps: None, loss: 0.0, acknowledged_bps: None, queue_delay: None, queue_called: false },
        }
    }

    /// Takes one feedback message's packets, in send order.
    pub fn on_feedback(&mut self, now: Instant, results: &[PacketResult]) {
        if results.is_empty() {
            return;
        }
        self.feedback_seen = true;
        let lost = results.iter().filter(|r| r.arrival.is_none()).count() as u32;
        self.delay.on_losses(now, lost, results.len() as u32);
        for r in results {
            if let Some(arrival) = r.arrival {
                self.delay.on_packet(now, r.departure, arrival, r.size);
            }
        }
        self.delay.update(now);
        self.loss.on_feedback(now, lost, results.len() as u32, self.estimate.target_bps, self.config.max_bps, self.rtt, self.delay.acknowledged());
        self.combine(now);
    }

    /// A REMB from the receiver: the most it says it can take.
    pub fn on_remb(&mut self, now: Instant, bps: f64) {
        if bps.is_finite() && bps > 0.0 {
            self.remb = Some((bps, now));
            self.combine(now);
        }
    }

    /// We just sent a keyframe (see [`DelayBasedBwe::on_keyframe`]): for a second, or the round
    /// trip and 500 ms if longer, its burst is not taken for congestion by the delay trend.
    pub fn on_keyframe(&mut self, now: Instant) {
        self.delay.on_keyframe(now, (self.rtt + Duration::from_millis(500)).max(Duration::from_secs(1)));
    }

    /// The round trip, from RTCP or ICE.
    pub fn on_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.delay.set_rtt(rtt);
    }

    /// A probe carried `bps` through the path without congestion: the delay-based rate, and a
    /// loss cap from an earlier loss, rise to it if they were lower (REMB still applies).
    pub fn on_probe_result(&mut self, now: Instant, bps: f64) {
        if bps.is_finite() && bps > 0.0 {
            self.delay.raise_to(now, bps);
            self.loss.raise_to(bps);
            self.combine(now);
        }
    }

    /// Lets a stale REMB expire even without new feedback.
    pub fn on_tick(&mut self, now: Instant) {
        self.combine(now);
    }

    /// Changes the most the estimate may be (the sender's ceiling).
    pub fn set_max(&mut self, max_bps: f64) {
        self.config.max_bps = max_bps.max(self.config.min_bps);
        self.delay.set_max(self.config.max_bps);
        self.estimate.target_bps = self.estimate.target_bps.min(self.config.max_bps);
    }

    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    fn combine(&mut self, now: Instant) {
        if self.remb.is_some_and(|(_, at)| now.saturating_duration_since(at) > REMB_LIFETIME) {
            self.remb = None;
        }
        let remb = self.remb.map(|(b, _)| b);
        let delay = self.delay.rate();
        let loss_cap = self.loss.cap();
        let mut target = if self.feedback_seen { delay } else { remb.unwrap_or(delay) };
        let mut limit = Limit::Delay;
        if let Some(c) = loss_cap.filter(|&c| c < target) {
            (target, limit) = (c, Limit::Loss);
        }
        if let Some(r) = remb.filter(|&r| r < target || (!self.feedback_seen && r == target)) {
            (target, limit) = (r, Limit::Remb);
        }
        target = target.clamp(self.config.min_bps, self.config.max_bps);
        if target >= self.config.max_bps {
            limit = Limit::Max;
        }
        self.estimate = Estimate {
            target_bps: target,
            limit,
            delay_bps: delay,
            loss_cap_bps: loss_cap,
            remb_bps: remb,
            loss: self.loss.loss(),
            acknowledged_bps: self.delay.acknowledged(),
            queue_delay: self.delay.queue_delay(),
            queue_called: !self.delay.last_overuse_by_trend,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(t0: Instant, from_ms: u64, n: u64, lost_every: u64) -> Vec<PacketResult> {
        (0..n)
            .map(|i| {
                let ms = from_ms + i * 10;
                let lost = lost_every > 0 && i % lost_every == 0;
                PacketResult { departure: t0 + Duration::from_millis(ms), arrival: (!lost).then(|| Duration::from_millis(ms + 30)), size: 1200 }
            })
            .collect()
    }

    #[test]
    fn a_probe_result_raises_the_rate_and_never_lowers_it() {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(Config::default());
        bwe.on_probe_result(t0, 1_200_000.0);
        assert_eq!(bwe.estimate().target_bps, 1_200_000.0);
        bwe.on_probe_result(t0, 500_000.0);
        assert_eq!(bwe.estimate().target_bps, 1_200_000.0, "a smaller probe says nothing new");
        bwe.on_probe_result(t0, 1e12);
        assert_eq!(bwe.estimate().target_bps, Config::default().max_bps);
    }

    #[test]
    fn remb_caps_and_expires() {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(Config::default());
        bwe.on_feedback(t0 + Duration::from_millis(100), &results(t0, 0, 10, 0));
        bwe.on_remb(t0 + Duration::from_millis(100), 150_000.0);
        assert_eq!(bwe.estimate().target_bps, 150_000.0);
        assert_eq!(bwe.estimate().limit, Limit::Remb);
        bwe.on_tick(t0 + Duration::from_secs(10));
        assert_eq!(bwe.estimate().limit, Limit::Delay);
    }

    #[test]
    fn a_receiver_that_sends_only_remb_is_followed() {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(Config::default());
        bwe.on_remb(t0, 1_200_000.0);
        assert_eq!(bwe.estimate().target_bps, 1_200_000.0, "above the initial rate too");
        assert_eq!(bwe.estimate().limit, Limit::Remb);
    }

    #[test]
    fn five_percent_random_loss_keeps_the_rate_rising() {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(Config { initial_bps: 300_000.0, min_bps: 30_000.0, max_bps: 1_200_000.0 });
        for b in 0..200u64 {
            bwe.on_feedback(t0 + Duration::from_millis(b * 100 + 40), &results(t0, b * 100, 10, 20));
        }
        let e = bwe.estimate();
        assert_eq!(e.target_bps, 1_200_000.0, "{e:?}");
        assert!(e.loss > 0.03, "{e:?}");
    }

    #[test]
    fn after_a_fall_stale_feedback_cannot_take_the_estimate_to_nothing_at_once() {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(Config { initial_bps: 1_000_000.0, min_bps: 30_000.0, max_bps: 2_000_000.0 });
        // An overshoot: packets leave every 10 ms and arrive every 25 ms (a 384 kbit/s link).
        let mut arrival = 0u64;
        for batch in 0..10u64 {
            let results: Vec<PacketResult> = (0..10)
                .map(|i| {
                    arrival += 25;
                    PacketResult { departure: t0 + Duration::from_millis(batch * 100 + i * 10), arrival: Some(Duration::from_millis(arrival)), size: 1200 }
                })
                .collect();
            bwe.on_feedback(t0 + Duration::from_millis(batch * 100 + 120), &results);
        }
        let fallen = bwe.estimate();
        assert!(fallen.target_bps < 500_000.0, "it fell: {fallen:?}");
        let got = fallen.acknowledged_bps.unwrap();
        // Then the sender, held back, sends little (100-byte packets), and what it sends sits
        // behind the queue the overshoot left: the arrivals say next to nothing gets through, and
        // the delay still grows. A decrease may come of it, but not below half of what arrived
        // when the estimate fell.
        for batch in 0..5u64 {
            let start = 1000 + batch * 100;
            let results: Vec<PacketResult> = (0..10)
                .map(|i| {
                    arrival += 40;
                    PacketResult { departure: t0 + Duration::from_millis(start + i * 10), arrival: Some(Duration::from_millis(arrival)), size: 100 }
                })
                .collect();
            bwe.on_feedback(t0 + Duration::from_millis(start + 120), &results);
        }
        let e = bwe.estimate();
        assert!(e.acknowledged_bps.unwrap() < 0.1 * got, "the arrivals say next to nothing: {e:?}");
        assert!(e.target_bps >= 0.5 * got, "{e:?} after {fallen:?}");
    }

    #[test]
    fn the_ceiling_moves() {
        let mut bwe = SendSideBwe::new(Config::default());
        bwe.set_max(100_000.0);
        assert_eq!(bwe.estimate().target_bps, 100_000.0);
    }
}
