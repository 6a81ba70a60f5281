//! The trendline filter (draft-ietf-rmcat-gcc; libwebrtc's TrendlineEstimator): the delay
//! variations between groups are accumulated into a delay curve, smoothed, and a least-squares
//! line is fitted through the last [`WINDOW`] points. Its slope says whether a queue is growing
//! (positive), steady (zero) or draining (negative), and is robust to the jitter of single groups.

use std::collections::VecDeque;

use crate::arrival::GroupDelta;

/// Points the line is fitted through.
pub const WINDOW: usize = 20;
/// A line is fitted once this many points are in: at a frame a group, two thirds of a second
/// into a call, not the 1.3 s a full window takes.
const MIN_POINTS: usize = 10;
/// Exponential smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// The slope is multiplied by this (and by the number of deltas, up to [`MAX_DELTAS`]) so that it
/// compares with a threshold in milliseconds, as libwebrtc's `threshold_gain` does.
const GAIN: f64 = 4.0;
const MAX_DELTAS: u32 = 60;

/// Fits the delay trend; [`Trendline::update`] returns the scaled trend to compare to a threshold.
#[derive(Debug)]
pub struct Trendline {
    points: VecDeque<(f64, f64)>,
    first_at_ms: Option<f64>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    deltas: u32,
    trend: f64,
}

impl Default for Trendline {
    fn default() -> Self {
        // Allocated once, to the window's size: the per-group path allocates nothing.
        Trendline { points: VecDeque::with_capacity(WINDOW + 1), first_at_ms: None, accumulated_ms: 0.0, smoothed_ms: 0.0, deltas: 0, trend: 0.0 }
    }
}

impl Trendline {
    /// Takes one group delta; returns the modified trend (slope × gain × deltas, in ms-like units).
    pub fn update(&mut self, d: &GroupDelta) -> f64 {
        let first = *self.first_at_ms.get_or_insert(d.at_ms);
        self.deltas = (self.deltas + 1).min(MAX_DELTAS);
        self.accumulated_ms += d.variation_ms();
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        self.points.push_back((d.at_ms - first, self.smoothed_ms));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        if self.points.len() >= MIN_POINTS {
            if let Some(slope) = slope(&self.points) {
                self.trend = slope;
            }
        }
        self.modified()
    }

    /// The current slope (ms of delay per ms of time).
    pub fn slope(&self) -> f64 {
        self.trend
    }

    fn modified(&self) -> f64 {
        f64::from(self.deltas) * self.trend * GAIN
    }
}

/// Least-squares slope of y over x; `None` when all x are equal.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mx) * (y - my);
        den += (x - mx) * (x - mx);
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut Trendline, variation_ms: f64, n: usize) -> f64 {
        let mut at = 0.0;
        let mut out = 0.0;
        for _ in 0..n {
            at += 66.0;
            out = t.update(&GroupDelta { send_ms: 66.0, arrival_ms: 66.0 + variation_ms, at_ms: at });
        }
        out
    }

    #[test]
    fn a_growing_queue_gives_a_positive_trend_and_a_steady_one_none() {
        let mut steady = Trendline::default();
        assert!(feed(&mut steady, 0.0, 40).abs() < 1e-9);
        let mut growing = Trendline::default();
        // 5 ms more queue every 66 ms: the queue grows at 7.5% of real time.
        let trend = feed(&mut growing, 5.0, 60);
        assert!(trend > 12.5, "60 deltas of +5 ms must exceed the initial threshold: {trend}");
        assert!((growing.slope() - 5.0 / 66.0).abs() < 0.01, "slope {}", growing.slope());
        let mut draining = Trendline::default();
        assert!(feed(&mut draining, -3.0, 40) < 0.0);
    }

    #[test]
    fn jitter_alone_does_not_look_like_a_queue() {
        let mut t = Trendline::default();
        let mut at = 0.0;
        let mut worst: f64 = 0.0;
        for i in 0..200 {
            at += 66.0;
            let jitter = if i % 2 == 0 { 8.0 } else { -8.0 };
            worst = worst.max(t.update(&GroupDelta { send_ms: 66.0, arrival_ms: 66.0 + jitter, at_ms: at }));
        }
        assert!(worst < 6.0, "alternating ±8 ms jitter read as a trend of {worst}");
    }
}
