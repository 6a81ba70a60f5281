//! The over-use detector: the trend against an adaptive threshold (draft-ietf-rmcat-gcc §5.4).
//!
//! Over-use needs the trend above the threshold for a while (10 ms of send time and two deltas
//! in a row, still rising), so a single late group is not a queue. The threshold itself follows
//! the trend — slowly up, faster down — so that the detector is not starved by a concurrent TCP
//! flow's standing queue, yet stays sensitive on an empty path.

use std::time::{Duration, Instant};

/// What the path is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Usage {
    #[default]
    Normal,
    /// A queue is building: send less.
    Overusing,
    /// A queue is draining: hold, let it empty.
    Underusing,
}

const INITIAL_THRESHOLD: f64 = 12.5;
const MIN_THRESHOLD: f64 = 6.0;
const MAX_THRESHOLD: f64 = 600.0;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// Trends this far above the threshold are outliers and do not move it.
const MAX_ADAPT_OFFSET: f64 = 15.0;
/// Over-use must last this long (in send time) before it is declared.
const OVERUSE_TIME_MS: f64 = 10.0;

/// The detector's state.
#[derive(Debug)]
pub struct Detector {
    threshold: f64,
    last_update: Option<Instant>,
    overuse_ms: Option<f64>,
    overuse_count: u32,
    previous_trend: f64,
    usage: Usage,
}

impl Default for Detector {
    fn default() -> Self {
        Detector { threshold: INITIAL_THRESHOLD, last_update: None, overuse_ms: None, overuse_count: 0, previous_trend: 0.0, usage: Usage::Normal }
    }
}

impl Detector {
    /// Takes the modified trend after one group delta of `send_ms`; returns the usage now.
    pub fn update(&mut self, now: Instant, trend: f64, send_ms: f64) -> Usage {
        if trend > self.threshold {
            let t = self.overuse_ms.map_or(send_ms / 2.0, |t| t + send_ms);
            self.overuse_ms = Some(t);
            self.overuse_count += 1;
            if t > OVERUSE_TIME_MS && self.overuse_count > 1 && trend >= self.previous_trend {
                self.overuse_ms = Some(0.0);
                self.overuse_count = 0;
                self.usage = Usage::Overusing;
            }
        } else if trend < -self.threshold {
            self.overuse_ms = None;
            self.overuse_count = 0;
            self.usage = Usage::Underusing;
        } else {
            self.overuse_ms = None;
            self.overuse_count = 0;
            self.usage = Usage::Normal;
        }
        self.previous_trend = trend;
        self.adapt(now, trend);
        self.usage
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    fn adapt(&mut self, now: Instant, trend: f64) {
        let last = *self.last_update.get_or_insert(now);
        let modified = trend.abs();
        if modified > self.threshold + MAX_ADAPT_OFFSET {
            self.last_update = Some(now);
            return;
        }
        let k = if modified < self.threshold { K_DOWN } else { K_UP };
        let dt_ms = now.saturating_duration_since(last).min(Duration::from_millis(100)).as_secs_f64() * 1000.0;
        self.threshold = (self.threshold + k * (modified - self.threshold) * dt_ms).clamp(MIN_THRESHOLD, MAX_THRESHOLD);
        self.last_update = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_rising_trend_is_overuse_and_a_single_spike_is_not() {
        let t = Instant::now();
        let mut d = Detector::default();
        assert_eq!(d.update(t, 20.0, 66.0), Usage::Normal, "one delta over the threshold is not enough");
        assert_eq!(d.update(t + Duration::from_millis(66), 5.0, 66.0), Usage::Normal);
        assert_eq!(d.update(t + Duration::from_millis(133), 20.0, 66.0), Usage::Normal);
        assert_eq!(d.update(t + Duration::from_millis(200), 22.0, 66.0), Usage::Overusing);
        assert_eq!(d.update(t + Duration::from_millis(266), -30.0, 66.0), Usage::Underusing);
        assert_eq!(d.update(t + Duration::from_millis(333), 0.0, 66.0), Usage::Normal);
    }

    #[test]
    fn the_threshold_adapts_within_its_bounds() {
        let t = Instant::now();
        let mut d = Detector::default();
        for i in 0..1000 {
            d.update(t + Duration::from_millis(i * 66), 0.0, 66.0);
        }
        assert_eq!(d.threshold(), MIN_THRESHOLD, "an empty path makes the detector sensitive");
        for i in 1000..3000 {
            d.update(t + Duration::from_millis(i * 66), d.threshold() + 10.0, 66.0);
        }
        assert!(d.threshold() > 100.0 && d.threshold() <= MAX_THRESHOLD, "a standing trend raises it: {}", d.threshold());
    }
}
