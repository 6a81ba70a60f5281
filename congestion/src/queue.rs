//! A limit on standing queueing delay, beside the trendline. The trendline sees a queue that
//! grows quickly; one that grows slowly (an additive increase a few percent over the link) can
//! climb for seconds under its threshold and fill a bottleneck's whole buffer (150 ms on a home
//! uplink) before loss says anything. So the one-way delay is also compared with its floor:
//! once it has stood more than [`LIMIT`] above it for [`SUSTAINED`], that is over-use too; and
//! above [`HOLD`] the rate stops growing, so that it settles under the link instead of sawing
//! through it.
//!
//! The floor is the least one-way delay seen over the last 10–20 s (two alternating windows),
//! clock offsets cancelling since only differences matter. A path that changes (a relay far
//! away) raises the floor for good: if a decrease brought the delay down by less than a fifth
//! within a second, the delay is not a queue, and the floor moves up to it. Unless packets are
//! being lost meanwhile: a delay that stands at its top while the bottleneck drops what does not
//! fit is a full queue under a rate still over the link (a tbf or a home router's FIFO at its
//! limit, so the trend is flat), and over-use is called again once it has stood for another
//! [`SUSTAINED`]; the rate controller acts on it once a round trip at most.

use std::time::{Duration, Instant};

/// Queueing delay over this, for [`SUSTAINED`], is over-use.
pub const LIMIT: Duration = Duration::from_millis(50);
/// Queueing delay over this stops the rate growing.
pub const HOLD: Duration = Duration::from_millis(20);
pub const SUSTAINED: Duration = Duration::from_millis(200);
/// Each window of the floor.
const WINDOW: Duration = Duration::from_secs(10);
/// Smoothing of the delay, per group.
const ALPHA: f64 = 0.25;
/// After over-use was called on the delay, how long before it is judged whether it was a queue.
const JUDGE_AFTER: Duration = Duration::from_secs(1);

/// The queue-delay guard's state.
#[derive(Debug, Default)]
pub struct QueueDelay {
    /// The least one-way delay (ms, with an arbitrary offset) in this window and the one before.
    window_start: Option<Instant>,
    current_min: Option<f64>,
    previous_min: Option<f64>,
    smoothed: Option<f64>,
    over_since: Option<Instant>,
    /// When over-use was last called here, and the queueing delay then.
    called: Option<(Instant, f64)>,
}

impl QueueDelay {
    /// Takes one group's one-way delay (arrival on the receiver's clock minus departure on ours,
    /// in ms), and whether packets have been lost since the last call (see the module's notes);
    /// returns whether the standing queue is over the limit now.
    pub fn update(&mut self, now: Instant, owd_ms: f64, lossy: bool) -> bool {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= WINDOW {
            self.previous_min = self.current_min.take();
            self.window_start = Some(now);
        }
        self.current_min = Some(self.current_min.map_or(owd_ms, |m| m.min(owd_ms)));
        let smoothed = self.smoothed.map_or(owd_ms, |s| s + ALPHA * (owd_ms - s));
        self.smoothed = Some(smoothed);
        let queue = self.queue_ms().unwrap_or(0.0);
        if queue <= LIMIT.as_secs_f64() * 1000.0 {
            self.over_since = None;
            return false;
        }
        if let Some((at, then)) = self.called {
            let since = now.saturating_duration_since(at);
            if lossy {
                // A full queue dropping what does not fit: still over the link.
                if since < SUSTAINED {
                    return false;
                }
            } else if since < JUDGE_AFTER {
                return false; // the decrease has not had time to show yet
            } else if queue > 0.8 * then {
                // It did not drain, and nothing was lost: the path itself got longer. That is
                // the new floor.
                self.rebase(smoothed);
                return false;
            }
        }
        if now.saturating_duration_since(*self.over_since.get_or_insert(now)) < SUSTAINED {
            return false;
        }
        self.called = Some((now, queue));
        self.over_since = None;
        true
    }

    /// Whether the standing queue is long enough that the rate should not grow.
    pub fn holding(&self) -> bool {
        self.queue_ms().is_some_and(|q| q > HOLD.as_secs_f64() * 1000.0)
    }

    /// The standing queueing delay now, in ms.
    pub fn queue_ms(&self) -> Option<f64> {
        let floor = match (self.current_min, self.previous_min) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some((self.smoothed? - floor).max(0.0))
    }

    fn rebase(&mut self, owd_ms: f64) {
        self.current_min = Some(owd_ms);
        self.previous_min = None;
        self.window_start = None;
        self.called = None;
        self.over_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(q: &mut QueueDelay, t: &mut Instant, owd: impl Fn(u32) -> f64, groups: u32) -> Vec<bool> {
        (0..groups)
            .map(|i| {
                *t += Duration::from_millis(66);
                q.update(*t, owd(i), false)
            })
            .collect()
    }

    #[test]
    fn a_slowly_growing_queue_is_called_at_the_limit() {
        let mut t = Instant::now();
        let mut q = QueueDelay::default();
        // 30 s offset between the clocks, 20 ms of path, then a queue growing 25 ms a second.
        assert!(!feed(&mut q, &mut t, |_| 30_020.0, 30).iter().any(|&c| c));
        let calls = feed(&mut q, &mut t, |i| 30_020.0 + f64::from(i) * 25.0 * 0.066, 60);
        let first = calls.iter().position(|&c| c).expect("called");
        let queue_then = f64::from(first as u32) * 25.0 * 0.066;
        assert!((50.0..80.0).contains(&queue_then), "called at {queue_then:.0} ms of queue");
    }

    #[test]
    fn a_queue_over_the_hold_line_stops_growth_and_one_under_it_does_not() {
        let mut t = Instant::now();
        let mut q = QueueDelay::default();
        feed(&mut q, &mut t, |_| 10.0, 30);
        assert!(!q.holding());
        feed(&mut q, &mut t, |_| 40.0, 10);
        assert!(q.holding(), "{:?}", q.queue_ms());
        feed(&mut q, &mut t, |_| 20.0, 20);
        assert!(!q.holding(), "{:?}", q.queue_ms());
    }

    #[test]
    fn jitter_and_a_keyframe_are_not_a_standing_queue() {
        let mut t = Instant::now();
        let mut q = QueueDelay::default();
        feed(&mut q, &mut t, |_| 10.0, 30);
        // ±20 ms of jitter, and a keyframe that queues 80 ms for two groups.
        let calls = feed(&mut q, &mut t, |i| 10.0 + if i % 2 == 0 { 20.0 } else { 0.0 } + if i == 10 || i == 11 { 80.0 } else { 0.0 }, 100);
        assert!(!calls.iter().any(|&c| c));
    }

    #[test]
    fn a_longer_path_becomes_the_new_floor() {
        let mut t = Instant::now();
        let mut q = QueueDelay::default();
        feed(&mut q, &mut t, |_| 10.0, 30);
        // The path gets 100 ms longer (a relay far away), and stays so whatever we send.
        let calls = feed(&mut q, &mut t, |_| 110.0, 60);
        assert_eq!(calls.iter().filter(|&&c| c).count(), 1, "called once, then judged not a queue");
        assert!(q.queue_ms().unwrap() < 5.0, "{:?}", q.queue_ms());
        assert!(!feed(&mut q, &mut t, |_| 110.0, 30).iter().any(|&c| c));
    }

    #[test]
    fn a_full_queue_that_drops_is_called_again_and_never_taken_for_a_longer_path() {
        let mut t = Instant::now();
        let mut q = QueueDelay::default();
        feed(&mut q, &mut t, |_| 10.0, 30);
        // The link fell far under the rate: the queue fills to the bottleneck's limit (300 ms)
        // and stays there, dropping the rest.
        let mut calls = 0;
        for _ in 0..60 {
            t += Duration::from_millis(66);
            calls += usize::from(q.update(t, 310.0, true));
        }
        assert!(calls >= 6, "called {calls} times in 4 s of a full queue");
        assert!(q.queue_ms().unwrap() > 250.0, "the floor moved: {:?}", q.queue_ms());
    }
}
