//! Lip sync: a participant's audio and video played in step, as browsers play them, from the
//! sender's RTCP sender reports (each maps its stream's RTP time to the sender's wall clock, so
//! a frame and a stretch of sound captured at the same instant have the same wall time).
//!
//! The audio side says, each time it queues a packet for the speaker, the sender's wall time of
//! the sound being heard now (the packet's, less what waits in the speaker's ring and in the
//! device). The video side, with each decoded frame, compares the frame's wall time with that:
//! - a frame **ahead** of the sound (audio waits in a jitter buffer and a device; video only in
//!   its decoder) is held that long before it is shown, 300 ms at most;
//! - a frame **behind** it (a slow decoder, a late keyframe) makes the audio wait longer: an
//!   extra delay that grows by half the gap per frame, up to 300 ms, and gives way again
//!   (before frames are held) once video keeps up.
//!
//! [`LipSync`] decides, without I/O; [`AvClock`] is what the two sides share (atomics, written
//! once per packet and read once per frame). Without a speaker nothing is heard, and frames
//! are shown as soon as they are decoded.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Held at most this long, and the audio's extra wait at most this.
pub const MAX_HOLD_MS: f64 = 300.0;
pub const MAX_EXTRA_MS: f64 = 300.0;
/// Audio and video this close are in step (well inside the 45 ms that ITU-R BT.1359 finds
/// detectable with sound first, and the 125 ms with sound late).
const IN_STEP_MS: f64 = 10.0;
/// A frame behind the sound by more than this makes the audio wait longer.
const BEHIND_MS: f64 = 15.0;

/// The decision, without I/O.
#[derive(Debug, Default)]
pub struct LipSync {
    extra_ms: f64,
}

impl LipSync {
    /// A frame captured `ahead_ms` after the sound heard now (negative: before it). Returns how
    /// long to hold it before it is shown.
    pub fn on_frame(&mut self, ahead_ms: f64) -> Duration {
        if !ahead_ms.is_finite() {
            return Duration::ZERO;
        }
        if ahead_ms < -BEHIND_MS {
            self.extra_ms = (self.extra_ms + 0.5 * -ahead_ms).min(MAX_EXTRA_MS);
            return Duration::ZERO;
        }
        if ahead_ms > 0.0 && self.extra_ms > 0.0 {
            // Video keeps up: the audio's extra wait goes first, a quarter of the lead a frame.
            self.extra_ms = (self.extra_ms - 0.25 * ahead_ms).max(0.0);
        }
        if ahead_ms <= IN_STEP_MS {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(ahead_ms.min(MAX_HOLD_MS) / 1000.0)
    }

    /// How much longer than its jitter buffer's target the audio should wait, ms.
    pub fn audio_extra_ms(&self) -> f64 {
        self.extra_ms
    }
}

/// Our monotonic clock in µs, from the first use in this process.
pub fn mono_us(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    at.saturating_duration_since(*EPOCH.get_or_init(Instant::now)).as_micros() as u64
}

/// A wall-clock time in µs since the Unix epoch (0 before it).
pub fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// What a participant's audio and video sides share.
#[derive(Debug, Default)]
pub struct AvClock {
    /// The sender's wall time (µs since the Unix epoch) of the sound heard at `heard_at`
    /// ([`mono_us`]); 0 while nothing is heard.
    heard_wall_us: AtomicU64,
    heard_at_us: AtomicU64,
    /// How much longer the audio should wait for the video, ms.
    audio_extra_ms: AtomicU32,
}

impl AvClock {
    /// The sound heard at `at` was captured at the sender's wall time `wall`.
    pub fn heard(&self, wall: SystemTime, at: Instant) {
        self.heard_at_us.store(mono_us(at), Relaxed);
        self.heard_wall_us.store(unix_us(wall), Relaxed);
    }

    /// Nothing is heard any more (the speaker closed).
    pub fn silent(&self) {
        self.heard_wall_us.store(0, Relaxed);
    }

    /// The sender's wall time, µs, of the sound heard at `at`, if any is.
    pub fn heard_at(&self, at: Instant) -> Option<i64> {
        let wall = self.heard_wall_us.load(Relaxed);
        let since = self.heard_at_us.load(Relaxed);
        // Older than a second: the audio stopped coming (muted, or gone).
        let now = mono_us(at);
        (wall != 0 && now.saturating_sub(since) < 1_000_000).then(|| wall as i64 + (now as i64 - since as i64))
    }

    pub fn set_audio_extra_ms(&self, ms: f64) {
        self.audio_extra_ms.store(ms.round().clamp(0.0, MAX_EXTRA_MS) as u32, Relaxed);
    }

    pub fn audio_extra_ms(&self) -> f64 {
        f64::from(self.audio_extra_ms.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_ahead_of_the_sound_is_held_that_long_and_one_in_step_is_not() {
        let mut s = LipSync::default();
        assert_eq!(s.on_frame(80.0), Duration::from_millis(80));
        assert_eq!(s.on_frame(5.0), Duration::ZERO);
        assert_eq!(s.on_frame(900.0), Duration::from_millis(300), "held 300 ms at most");
        assert_eq!(s.on_frame(f64::NAN), Duration::ZERO);
        assert_eq!(s.audio_extra_ms(), 0.0);
    }

    #[test]
    fn video_behind_the_sound_makes_the_audio_wait_until_it_is_in_step_then_gives_way() {
        let mut s = LipSync::default();
        // Video 100 ms behind: the audio's extra wait closes the gap frame by frame (each
        // frame sees the gap the extra has left).
        let mut gap = 100.0;
        for _ in 0..20 {
            assert_eq!(s.on_frame(-gap), Duration::ZERO);
            gap = 100.0 - s.audio_extra_ms();
        }
        assert!((85.0..=100.0).contains(&s.audio_extra_ms()), "{}", s.audio_extra_ms());
        // The decoder caught up: video is now ahead by what the audio waits extra, which goes
        // before any frame is held long.
        for _ in 0..40 {
            let ahead = s.audio_extra_ms();
            s.on_frame(ahead);
        }
        assert!(s.audio_extra_ms() < 1.0, "{}", s.audio_extra_ms());
    }

    #[test]
    fn the_shared_clock_runs_on_from_what_was_heard_and_forgets_a_stopped_stream() {
        let c = AvClock::default();
        let _ = mono_us(Instant::now()); // the clock's origin comes before t0
        let t0 = Instant::now();
        assert_eq!(c.heard_at(t0), None);
        let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        c.heard(wall, t0);
        assert_eq!(c.heard_at(t0 + Duration::from_millis(250)), Some(unix_us(wall) as i64 + 250_000));
        assert_eq!(c.heard_at(t0 + Duration::from_secs(2)), None, "stale after a second");
        c.heard(wall, t0);
        c.silent();
        assert_eq!(c.heard_at(t0), None);
    }
}
