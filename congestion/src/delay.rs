//! The delay-based estimator: packets (when they left, when they arrived) in, a rate out.
//! [`crate::arrival`] groups them, [`crate::trendline`] fits the delay trend,
//! [`crate::detector`] judges it, [`crate::queue`] watches the standing queue, and
//! [`crate::aimd`] moves the rate. The send side feeds it from
//! transport-wide feedback; a receiver can feed it from the abs-send-time header extension and
//! its own arrival times, to send REMB.

use std::time::{Duration, Instant};

use crate::aimd::Aimd;
use crate::arrival::{InterArrival, BURST};
use crate::detector::{Detector, Usage};
use crate::queue::QueueDelay;
use crate::throughput::Throughput;
use crate::trendline::Trendline;

/// Packets lost beside a standing queue, over this share of those reported lately (and at
/// least [`RECENT_MIN`] reported), make it a full queue (see [`crate::queue`]).
const LOSSY: f64 = 0.05;
/// Over this share, the path is dropping what we send: what arrives is what it carries,
/// whatever we sent (see [`crate::aimd`]).
const DROPPING: f64 = 0.10;
/// "Lately": the feedback of the last half second to second.
const RECENT: Duration = Duration::from_millis(500);
const RECENT_MIN: u32 = 20;

/// Packets lost and reported lately: this half second's counts and the last one's.
#[derive(Debug, Default)]
struct RecentLoss {
    since: Option<Instant>,
    now: (u32, u32),
    before: (u32, u32),
}

impl RecentLoss {
    fn add(&mut self, now: Instant, lost: u32, total: u32) {
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) >= RECENT {
            // A gap longer than a window leaves nothing of the one before.
            self.before = if now.saturating_duration_since(since) < 2 * RECENT { self.now } else { (0, 0) };
            (self.now, self.since) = ((0, 0), Some(now));
        }
        self.now = (self.now.0.saturating_add(lost), self.now.1.saturating_add(total));
    }

    /// Whether over `share` of the packets reported lately were lost.
    fn over(&self, share: f64) -> bool {
        let (lost, total) = (self.now.0 + self.before.0, self.now.1 + self.before.1);
        total >= RECENT_MIN && f64::from(lost) > share * f64::from(total)
    }
}

/// The estimator's state.
#[derive(Debug)]
pub struct DelayBasedBwe {
    groups: InterArrival,
    trend: Trendline,
    detector: Detector,
    aimd: Aimd,
    throughput: Throughput,
    queue: QueueDelay,
    /// The first departure seen (the origin of one-way delays), and the current burst's first.
    epoch: Option<Instant>,
    burst_start: Option<Instant>,
    /// Over-use was seen since the last rate update.
    overused: bool,
    /// What said over-use last: the trend (true) or the standing queue (false).
    pub last_overuse_by_trend: bool,
    /// Packets lost lately (see [`crate::queue`]: a queue that stands while packets are lost
    /// is full, not a longer path).
    lost: RecentLoss,
    /// Until when the trend's over-use is put down to our own keyframe.
    grace_until: Option<Instant>,
}

impl DelayBasedBwe {
    /// Starts at `initial`, within `min..=max` (bits per second).
    pub fn new(initial: f64, min: f64, max: f64) -> DelayBasedBwe {
        DelayBasedBwe {
            groups: InterArrival::default(),
            trend: Trendline::default(),
            detector: Detector::default(),
            aimd: Aimd::new(initial, min, max),
            throughput: Throughput::default(),
            queue: QueueDelay::default(),
            epoch: None,
            burst_start: None,
            overused: false,
            last_overuse_by_trend: true,
            lost: RecentLoss::default(),
            grace_until: None,
        }
    }

    /// Takes one packet that arrived, in send order: `departure` on the sender's clock,
    /// `arrival` on the receiver's. Call [`DelayBasedBwe::update`] after a batch.
    pub fn on_packet(&mut self, now: Instant, departure: Instant, arrival: Duration, size: usize) {
        self.throughput.add(arrival, departure, size);
        // The standing queue, from the first packet of each burst: the later ones also wait for
        // their own burst to pass the bottleneck, which is no queue.
        if self.burst_start.is_none_or(|b| departure > b + BURST) {
            self.burst_start = Some(departure);
            let epoch = *self.epoch.get_or_insert(departure);
            let owd_ms = (arrival.as_secs_f64() - departure.saturating_duration_since(epoch).as_secs_f64()) * 1000.0;
            if self.queue.update(now, owd_ms, self.lost.over(LOSSY)) {
                self.overused = true;
                self.last_overuse_by_trend = false;
            }
            if self.queue.holding() {
                self.aimd.leave_slow_start(); // a queue has started: slow start has found the link
            }
        }
        if let Some(delta) = self.groups.push(departure, arrival) {
            let trend = self.trend.update(&delta);
            if self.aimd.in_slow_start() && trend > 0.5 * self.detector.threshold() {
                self.aimd.leave_slow_start();
            }
            let overusing = self.detector.update(now, trend, delta.send_ms) == Usage::Overusing;
            if overusing && self.grace_until.is_none_or(|g| now >= g) {
                self.overused = true;
                self.last_overuse_by_trend = true;
            }
        }
    }

    /// Counts one feedback's packets, `lost` of `total`, before its arrivals are given (the
    /// send side knows of losses; a receiver feeding REMB does not, and never calls this).
    pub fn on_losses(&mut self, now: Instant, lost: u32, total: u32) {
        self.lost.add(now, lost, total);
    }

    /// Moves the rate after a batch of packets; returns it.
    pub fn update(&mut self, now: Instant) -> f64 {
        let usage = match (std::mem::take(&mut self.overused), self.detector.usage()) {
            (true, _) => Usage::Overusing,
            // The trend says over-use, but it is our own keyframe passing: hold, not decrease.
            (false, Usage::Overusing) if self.grace_until.is_some_and(|g| now < g) => Usage::Underusing,
            // A standing queue is building: hold where we are.
            (false, Usage::Normal) if self.queue.holding() => Usage::Underusing,
            (false, u) => u,
        };
        self.aimd.update(now, usage, self.throughput.bitrate(), self.throughput.sent_bitrate(), self.lost.over(DROPPING))
    }

    pub fn rate(&self) -> f64 {
        self.aimd.rate()
    }

    /// What the receiver got over the last half second, if known.
    pub fn acknowledged(&self) -> Option<f64> {
        self.throughput.bitrate()
    }

    pub fn usage(&self) -> Usage {
        self.detector.usage()
    }

    /// We just sent a keyframe: a burst many frames large, whose passage through the
    /// bottleneck the trend reads as a growing queue for a round trip or so. For `grace` the
    /// trend's over-use is put down to it; the standing-queue limit and loss still act.
    pub fn on_keyframe(&mut self, now: Instant, grace: Duration) {
        self.grace_until = Some(now + grace);
    }

    /// The standing queueing delay at the bottleneck, as far as can be told.
    pub fn queue_delay(&self) -> Option<Duration> {
        self.queue.queue_ms().map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    /// See [`crate::aimd::Aimd::raise_to`].
    pub fn raise_to(&mut self, now: Instant, rate: f64) {
        self.aimd.raise_to(now, rate);
    }

    pub fn set_rtt(&mut self, rtt: Duration) {
        self.aimd.set_rtt(rtt);
    }

    pub fn set_max(&mut self, max: f64) {
        self.aimd.set_max(max);
    }
}

#[cfg(test)]
mod tests {
    use super::RecentLoss;

    #[test]
    fn losses_count_for_a_second_at_most() {
        let t0 = Instant::now();
        let mut l = RecentLoss::default();
        // A full queue: 40% lost, feedback every 100 ms.
        for i in 0..10 {
            l.add(t0 + Duration::from_millis(i * 100), 8, 20);
        }
        assert!(l.over(0.10));
        // The link came back: a second of clean feedback and the losses are forgotten.
        for i in 10..20 {
            l.add(t0 + Duration::from_millis(i * 100), 0, 20);
        }
        assert!(!l.over(0.05));
        // Too few packets say nothing.
        let mut few = RecentLoss::default();
        few.add(t0, 5, 10);
        assert!(!few.over(0.05));
    }

    use super::*;

    /// A sender at `rate` bit/s in 1,200-byte packets, 15 frames a second, over a bottleneck of
    /// `link` bit/s with an unbounded queue. Returns the estimator's rate after `secs`.
    pub(crate) fn simulate(bwe: &mut DelayBasedBwe, link: f64, secs: f64) -> Vec<f64> {
        let t0 = Instant::now();
        let mut queue_free_at = 0.0f64; // when the bottleneck is next idle, in s
        let mut rates = Vec::new();
        let frames = (secs * 15.0) as u64;
        for f in 0..frames {
            let sent_at = f as f64 / 15.0;
            let frame_bytes = (bwe.rate() / 15.0 / 8.0) as usize;
            let packets = frame_bytes.div_ceil(1200).max(1);
            for _ in 0..packets {
                let size = 1200;
                queue_free_at = queue_free_at.max(sent_at) + size as f64 * 8.0 / link;
                let arrival = Duration::from_secs_f64(queue_free_at + 0.02);
                let departure = t0 + Duration::from_secs_f64(sent_at);
                bwe.on_packet(t0 + Duration::from_secs_f64(sent_at + 0.05), departure, arrival, size);
            }
            // Feedback every other frame.
            if f % 2 == 1 {
                rates.push(bwe.update(t0 + Duration::from_secs_f64(sent_at + 0.05)));
            }
        }
        rates
    }

    #[test]
    fn it_finds_a_bottleneck_and_stays_under_it() {
        let mut bwe = DelayBasedBwe::new(300_000.0, 30_000.0, 2_000_000.0);
        let rates = simulate(&mut bwe, 600_000.0, 30.0);
        let tail = &rates[rates.len() - 75..]; // the last 10 s
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        assert!(mean > 420_000.0 && mean < 640_000.0, "settles near 600 kbit/s: {mean}");
    }

    /// A packet every 10 ms with a steady delay for 4 s, then 30 ms of queue that grows over 30
    /// packets and drains: a rising trend, under the standing-queue limit (as a keyframe paced
    /// out over a fast link makes). Returns the lowest rate after it.
    fn a_queue_that_comes_and_goes(grace: bool) -> f64 {
        let t0 = Instant::now();
        let mut bwe = DelayBasedBwe::new(600_000.0, 30_000.0, 600_000.0);
        let mut lowest = f64::MAX;
        for i in 0..800u64 {
            let sent_at = i as f64 / 100.0;
            let queue_ms = match i {
                400..=429 => (i - 399) as f64,
                430..=459 => (460 - i) as f64,
                _ => 0.0,
            };
            if i == 400 && grace {
                bwe.on_keyframe(t0 + Duration::from_secs_f64(sent_at), Duration::from_secs(1));
            }
            let arrival = Duration::from_secs_f64(sent_at + 0.02 + queue_ms / 1000.0);
            bwe.on_packet(t0 + Duration::from_secs_f64(sent_at + 0.05), t0 + Duration::from_secs_f64(sent_at), arrival, 750);
            if i % 5 == 0 {
                let r = bwe.update(t0 + Duration::from_secs_f64(sent_at + 0.05));
                if i >= 400 {
                    lowest = lowest.min(r);
                }
            }
        }
        lowest
    }

    #[test]
    fn our_own_keyframe_is_not_taken_for_congestion() {
        assert!(a_queue_that_comes_and_goes(false) < 600_000.0, "without the grace the trend reads it as over-use");
        assert_eq!(a_queue_that_comes_and_goes(true), 600_000.0);
    }

    #[test]
    fn without_a_bottleneck_it_reaches_the_ceiling() {
        let mut bwe = DelayBasedBwe::new(300_000.0, 30_000.0, 1_500_000.0);
        let rates = simulate(&mut bwe, 100_000_000.0, 10.0);
        assert_eq!(*rates.last().unwrap(), 1_500_000.0);
    }
}
