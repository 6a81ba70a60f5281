//! How long received audio waits before it plays (the jitter buffer's target), without I/O.
//!
//! Each packet's transit (its arrival on our clock less its RTP time) is compared with the
//! least of the last two seconds: what a packet waits for beyond the quickest one is how much
//! the network's delay varies. The target is the 99th percentile of that (a packet that comes
//! after its turn to play is a gap: the buffer covers 99 in 100), and a packet's worth more
//! (20 ms), between [`MIN_MS`] and [`MAX_MS`]. It grows at once when the network gets
//! worse, and shrinks by at most [`SHRINK_PER_SECOND`] when it gets better: a target that
//! fell with every quiet second would run dry at the next burst. (WebRTC's NetEq does the same
//! with a histogram of inter-arrival delays: up fast, down slow.)
//!
//! The speaker (`sound`) starts playing once it holds the target, and waits for it again after
//! running dry; silence makes up a target that grew ([`short_ms`]); audio that piled up far
//! past it is shed ([`sheds`]), quiet frames first, so that the delay comes back down after a
//! burst instead of staying.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The target never goes below this (the cushion a speaker always had) or above this.
pub const MIN_MS: f64 = 40.0;
pub const MAX_MS: f64 = 400.0;
/// The share of packets the target covers.
const QUANTILE: f64 = 0.99;
/// One packet's worth on top of the percentile.
const MARGIN_MS: f64 = 20.0;
/// How fast the target comes down when the network calms.
pub const SHRINK_PER_SECOND: f64 = 20.0;
/// The span of packets the percentile is taken over.
const WINDOW: Duration = Duration::from_secs(2);
/// Transits kept at most: two seconds of 20 ms packets, twice over.
const CAP: usize = 200;
/// The target is worked out again this often at most (a sort of up to [`CAP`] numbers).
const RECOMPUTE: Duration = Duration::from_millis(100);
/// Audio over the target by this much is shed, a quiet frame at a time; by [`SHED_ANY_MS`], any
/// frame.
const SHED_QUIET_MS: f64 = 60.0;
const SHED_ANY_MS: f64 = 150.0;
/// Less than the target by this much is made up with silence ([`short_ms`]): more than a
/// packet, so that the ring's ordinary swing as the device takes its periods does not count.
const SHORT_MS: f64 = 30.0;

/// The jitter estimate of one received audio stream.
#[derive(Debug)]
pub struct JitterTarget {
    clock_hz: f64,
    epoch: Option<Instant>,
    /// The last RTP time seen and its unwrapped value.
    last: Option<(u32, i64)>,
    transits: VecDeque<(Instant, f64)>,
    scratch: Vec<f64>,
    target_ms: f64,
    computed: Option<Instant>,
}

impl JitterTarget {
    /// For a stream whose RTP clock runs at `clock_hz` (48 kHz for Opus).
    pub fn new(clock_hz: u32) -> JitterTarget {
        JitterTarget {
            clock_hz: f64::from(clock_hz.max(1)),
            epoch: None,
            last: None,
            transits: VecDeque::with_capacity(CAP),
            scratch: Vec::with_capacity(CAP),
            target_ms: MIN_MS,
            computed: None,
        }
    }

    /// A packet with RTP time `rtp_ts` arrived `at`.
    pub fn on_packet(&mut self, at: Instant, rtp_ts: u32) {
        let epoch = *self.epoch.get_or_insert(at);
        let ext = match self.last {
            // The difference as signed: a reordered packet is a little behind, not 2^32 ahead.
            Some((ts, ext)) => ext + i64::from(rtp_ts.wrapping_sub(ts) as i32),
            None => i64::from(rtp_ts),
        };
        if self.last.is_none_or(|(_, e)| ext > e) {
            self.last = Some((rtp_ts, ext));
        }
        let transit = at.saturating_duration_since(epoch).as_secs_f64() * 1000.0 - ext as f64 * 1000.0 / self.clock_hz;
        if self.transits.len() == CAP {
            self.transits.pop_front();
        }
        self.transits.push_back((at, transit));
        while self.transits.front().is_some_and(|&(t, _)| at.saturating_duration_since(t) > WINDOW) {
            self.transits.pop_front();
        }
        if self.computed.is_none_or(|c| at.saturating_duration_since(c) >= RECOMPUTE) {
            let dt = self.computed.map_or(0.0, |c| at.saturating_duration_since(c).as_secs_f64());
            self.computed = Some(at);
            self.update(dt);
        }
    }

    fn update(&mut self, dt: f64) {
        self.scratch.clear();
        self.scratch.extend(self.transits.iter().map(|&(_, t)| t));
        let Some(least) = self.scratch.iter().copied().reduce(f64::min) else { return };
        let n = self.scratch.len();
        let k = ((n as f64 * QUANTILE).ceil() as usize).clamp(1, n) - 1;
        let (_, late, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
        let wanted = (*late - least + MARGIN_MS).clamp(MIN_MS, MAX_MS);
        self.target_ms = if wanted >= self.target_ms { wanted } else { wanted.max(self.target_ms - SHRINK_PER_SECOND * dt) };
    }

    /// How long received audio should wait before it plays, in ms.
    pub fn target_ms(&self) -> f64 {
        self.target_ms
    }
}

/// Silence to queue before a frame so that what waits comes up to the target, ms (0 when it is
/// within [`SHORT_MS`] of it): a target that grew (the network got worse, or lip sync asks the
/// sound to wait for the picture) is met at once, with one short gap, rather than at the next
/// time the speaker runs dry.
pub fn short_ms(buffered_ms: f64, target_ms: f64) -> f64 {
    if buffered_ms + SHORT_MS < target_ms { target_ms - buffered_ms } else { 0.0 }
}

/// Whether a frame about to be queued for the speaker should be shed instead: the speaker
/// already holds `buffered_ms`, far over the target; `quiet` frames go first.
pub fn sheds(buffered_ms: f64, target_ms: f64, quiet: bool) -> bool {
    let over = buffered_ms - target_ms;
    over > SHED_ANY_MS || (quiet && over > SHED_QUIET_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms packets for `secs`, each delayed by `delay(i)` ms on top of a fixed path; returns
    /// the target after each second.
    fn run(j: &mut JitterTarget, t0: Instant, from: u32, secs: u32, delay: impl Fn(u32) -> f64) -> Vec<f64> {
        let mut per_second = Vec::new();
        for i in from..from + secs * 50 {
            let at = t0 + Duration::from_secs_f64(f64::from(i) * 0.02 + 0.030 + delay(i) / 1000.0);
            j.on_packet(at, 1_000_000u32.wrapping_add(i * 960));
            if (i + 1) % 50 == 0 {
                per_second.push(j.target_ms());
            }
        }
        per_second
    }

    #[test]
    fn a_steady_network_keeps_the_least_cushion() {
        let (t0, mut j) = (Instant::now(), JitterTarget::new(48_000));
        let t = run(&mut j, t0, 0, 5, |i| f64::from(i % 3)); // 0-2 ms of jitter
        assert_eq!(*t.last().unwrap(), MIN_MS, "{t:?}");
    }

    #[test]
    fn bursts_raise_the_target_at_once_and_calm_lowers_it_slowly() {
        let (t0, mut j) = (Instant::now(), JitterTarget::new(48_000));
        run(&mut j, t0, 0, 3, |_| 0.0);
        // The sender stalls 150 ms every second, then sends what waited at once: the packets
        // of a stall arrive up to 150 ms late.
        let stalled = run(&mut j, t0, 150, 4, |i| {
            let in_second = i % 50;
            if in_second < 8 { f64::from(8 - in_second) * 20.0 - 10.0 } else { 0.0 }
        });
        assert!((140.0..=200.0).contains(&stalled[0]), "up within the first second of stalls: {stalled:?}");
        // Calm again: down by 20 ms a second at most, back to the floor within 10 s.
        let calm = run(&mut j, t0, 350, 10, |_| 0.0);
        assert!(calm[0] >= stalled[3] - SHRINK_PER_SECOND - 1.0, "not down at once: {stalled:?} then {calm:?}");
        assert_eq!(*calm.last().unwrap(), MIN_MS, "{calm:?}");
    }

    #[test]
    fn a_wrapping_rtp_clock_and_reordering_change_nothing() {
        let (t0, mut j) = (Instant::now(), JitterTarget::new(48_000));
        for i in 0..300u32 {
            // Starts just short of the wrap; every tenth pair arrives swapped.
            let k = if i % 10 == 4 { i + 1 } else if i % 10 == 5 { i - 1 } else { i };
            let at = t0 + Duration::from_millis(u64::from(i) * 20);
            j.on_packet(at, (u32::MAX - 50 * 960).wrapping_add(k * 960));
        }
        // A swapped pair is 20 ms early and 20 ms late: 40 ms spread, under the margin's reach.
        assert!(j.target_ms() <= 60.0 + 0.1, "{}", j.target_ms());
    }

    #[test]
    fn audio_well_under_the_target_is_made_up_with_silence() {
        assert_eq!(short_ms(0.0, 40.0), 40.0);
        assert_eq!(short_ms(30.0, 50.0), 0.0, "an ordinary swing");
        assert_eq!(short_ms(40.0, 160.0), 120.0);
    }

    #[test]
    fn audio_far_over_the_target_is_shed_quiet_frames_first() {
        assert!(!sheds(100.0, 80.0, true));
        assert!(sheds(150.0, 80.0, true));
        assert!(!sheds(150.0, 80.0, false));
        assert!(sheds(240.0, 80.0, false));
    }
}
