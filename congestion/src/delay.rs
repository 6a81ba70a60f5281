//! The delay-based estimator: packets (when they left, when they arrived) in, a rate out.
//! [`crate::arrival`] groups them, [`crate::trendline`] fits the delay trend,
//! [`crate::detector`] judges it and [`crate::aimd`] moves the rate. The send side feeds it from
//! transport-wide feedback; a receiver can feed it from the abs-send-time header extension and
//! its own arrival times, to send REMB.

use std::time::{Duration, Instant};

use crate::aimd::Aimd;
use crate::arrival::InterArrival;
use crate::detector::{Detector, Usage};
use crate::throughput::Throughput;
use crate::trendline::Trendline;

/// The estimator's state.
#[derive(Debug)]
pub struct DelayBasedBwe {
    groups: InterArrival,
    trend: Trendline,
    detector: Detector,
    aimd: Aimd,
    throughput: Throughput,
    /// Over-use was seen since the last rate update.
    overused: bool,
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
            overused: false,
        }
    }

    /// Takes one packet that arrived, in send order: `departure` on the sender's clock,
    /// `arrival` on the receiver's. Call [`DelayBasedBwe::update`] after a batch.
    pub fn on_packet(&mut self, now: Instant, departure: Instant, arrival: Duration, size: usize) {
        self.throughput.add(arrival, departure, size);
        if let Some(delta) = self.groups.push(departure, arrival) {
            let trend = self.trend.update(&delta);
            if self.detector.update(now, trend, delta.send_ms) == Usage::Overusing {
                self.overused = true;
            }
        }
    }

    /// Moves the rate after a batch of packets; returns it. A decrease stops at `floor`.
    pub fn update(&mut self, now: Instant, floor: f64) -> f64 {
        let usage = if std::mem::take(&mut self.overused) { Usage::Overusing } else { self.detector.usage() };
        self.aimd.update(now, usage, self.throughput.bitrate(), self.throughput.sent_bitrate(), floor)
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

    pub fn set_rtt(&mut self, rtt: Duration) {
        self.aimd.set_rtt(rtt);
    }

    pub fn set_max(&mut self, max: f64) {
        self.aimd.set_max(max);
    }
}

#[cfg(test)]
mod tests {
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
                rates.push(bwe.update(t0 + Duration::from_secs_f64(sent_at + 0.05), 0.0));
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

    #[test]
    fn without_a_bottleneck_it_reaches_the_ceiling() {
        let mut bwe = DelayBasedBwe::new(300_000.0, 30_000.0, 1_500_000.0);
        let rates = simulate(&mut bwe, 100_000_000.0, 10.0);
        assert_eq!(*rates.last().unwrap(), 1_500_000.0);
    }
}
