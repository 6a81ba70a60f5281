//! The acknowledged bitrate: what the receiver says it got, over a short window of its own
//! arrival times. A decrease is taken from it (what the path really carried, not what we tried),
//! and increases are capped by it, so an estimate never runs far ahead of what was sent.
//! Beside it, the rate those same packets were sent at: when the two agree, the path carried all
//! we gave it and the acknowledged rate says nothing about its capacity.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The span of arrivals the rate is measured over.
pub const WINDOW: Duration = Duration::from_millis(500);
/// Less than this much span says too little.
const MIN_SPAN: Duration = Duration::from_millis(150);

/// Bytes by arrival time, with their departure times.
#[derive(Debug, Default)]
pub struct Throughput {
    arrivals: VecDeque<(Duration, Instant, usize)>,
    bytes: usize,
}

impl Throughput {
    /// Takes one packet the receiver reported, at its arrival time on the receiver's clock,
    /// sent at `departure` on ours.
    pub fn add(&mut self, arrival: Duration, departure: Instant, size: usize) {
        if self.arrivals.back().is_some_and(|&(last, _, _)| arrival + Duration::from_secs(3) < last) {
            // The receiver's clock went back: start over.
            self.arrivals.clear();
            self.bytes = 0;
        }
        // Arrivals come in send order; a reordered one is counted at the newest time seen.
        let at = self.arrivals.back().map_or(arrival, |&(last, _, _)| last.max(arrival));
        self.arrivals.push_back((at, departure, size));
        self.bytes += size;
        while let Some(&(first, _, size)) = self.arrivals.front() {
            if at.saturating_sub(first) <= WINDOW {
                break;
            }
            self.arrivals.pop_front();
            self.bytes -= size;
        }
    }

    /// Bits per second over the window, once it spans enough time.
    pub fn bitrate(&self) -> Option<f64> {
        let (&(first, _, first_size), &(last, _, _)) = (self.arrivals.front()?, self.arrivals.back()?);
        let span = last.saturating_sub(first);
        if span < MIN_SPAN {
            return None;
        }
        // The first packet's bytes arrived before the span began.
        Some((self.bytes - first_size) as f64 * 8.0 / span.as_secs_f64())
    }

    /// The rate the same packets left at, bits per second.
    pub fn sent_bitrate(&self) -> Option<f64> {
        let (&(_, first, first_size), &(_, last, _)) = (self.arrivals.front()?, self.arrivals.back()?);
        let span = last.saturating_duration_since(first);
        if span < MIN_SPAN / 2 {
            return None;
        }
        Some((self.bytes - first_size) as f64 * 8.0 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_stream_measures_its_rate_and_a_bottleneck_shows_against_the_send_rate() {
        let t0 = Instant::now();
        let mut t = Throughput::default();
        assert_eq!(t.bitrate(), None);
        // 1,000-byte packets sent every 5 ms (1.6 Mbit/s), arriving every 10 ms: 800 kbit/s.
        for i in 0..200u64 {
            t.add(Duration::from_millis(i * 10), t0 + Duration::from_millis(i * 5), 1000);
        }
        let r = t.bitrate().unwrap();
        assert!((r - 800_000.0).abs() < 1.0, "{r}");
        let s = t.sent_bitrate().unwrap();
        assert!((s - 1_600_000.0).abs() < 1.0, "{s}");
    }

    #[test]
    fn a_clock_reset_starts_over() {
        let t0 = Instant::now();
        let mut t = Throughput::default();
        for i in 0..100u64 {
            t.add(Duration::from_secs(100) + Duration::from_millis(i * 10), t0, 1000);
        }
        t.add(Duration::from_millis(1), t0, 1000);
        assert_eq!(t.bitrate(), None);
    }
}
