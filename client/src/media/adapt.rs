//! What the video encoder should do, from the network's estimate and the encoder's own account
//! of itself, without I/O (the time is passed in): the bitrate, the size and the frame rate.
//!
//! WebRTC's "balanced" degradation, for a call: when the bitrate is too low for the size, the
//! size steps down (full, ¾, ½, ¼: 640x480 → 480x360 → 320x240 → 160x120), then the frame rate
//! (15 → 10 → 7.5 → 5); both step back up with hysteresis when the estimate allows.
//!
//! Whether the bitrate is too low depends on the picture: a slide or the test pattern needs a
//! tenth of what a noisy camera does. The encoder says which it is by how much of its target it
//! fills (openh264's rate control fills the target on hard content, and falls far short on easy
//! content): a step down needs it to fill most of it; a larger size comes back soon when it
//! fills little, or when the rate is clearly enough for it for a few seconds.
//!
//! A call starts at the size its first estimate carries, as libwebrtc's initial frame dropper
//! does: the first keyframe is the largest frame of a call, and a slow link should not have to
//! swallow one made for a fast one. Easy content is back at full size within a second or two.

use std::time::{Duration, Instant};

/// Kept for audio out of the estimate: Opus at 32 kbit/s plus 50 packets a second of RTP, SRTP,
/// UDP and IP headers.
pub const AUDIO_RESERVE_BPS: f64 = 56_000.0;
/// The share of what is left that the encoder aims at: the rest is packet headers, RTX and slack.
const VIDEO_SHARE: f64 = 0.9;
/// The least the encoder is asked for.
pub const MIN_VIDEO_BPS: f64 = 30_000.0;
/// Bits per pixel per frame below which a size is too large for the rate (noisy content).
/// 640x480@15 needs 350 kbit/s, 480x360 197, 320x240 88, 160x120 22.
const DOWN_BPP: f64 = 0.076;
/// A size is taken back when the rate is this much above its own step-down line.
const UP_MARGIN: f64 = 1.35;
/// The encoder is struggling when it fills more than this share of its target (its output over
/// the last second or so), and cruising below the other.
const FILL_HIGH: f64 = 0.7;
const FILL_LOW: f64 = 0.35;
/// How long a condition must hold before the size or rate changes: down, up when the rate
/// allows, up when the content is easy.
const DOWN_AFTER: Duration = Duration::from_millis(500);
const UP_AFTER: Duration = Duration::from_secs(2);
const UP_EASY_AFTER: Duration = Duration::from_secs(1);
/// After a step down, no step up for this long.
const UP_PAUSE: Duration = Duration::from_secs(4);
/// The encoder's bitrate is updated at least this often when it moved, and at once when it
/// moved by more than [`BITRATE_STEP`].
const BITRATE_EVERY: Duration = Duration::from_millis(500);
const BITRATE_STEP: f64 = 0.1;
/// Frame rates tried below the configured one, as fractions of it.
const FPS_STEPS: [f64; 4] = [1.0, 2.0 / 3.0, 0.5, 1.0 / 3.0];
/// Encoding that takes longer than this share of the frame interval, for [`DOWN_AFTER`] × 4, is a
/// CPU limit.
const CPU_BUSY: f64 = 0.9;

/// Why the picture is less than it could be, as browsers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityLimitation {
    None,
    Bandwidth,
    Cpu,
}

impl QualityLimitation {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityLimitation::None => "none",
            QualityLimitation::Bandwidth => "bandwidth",
            QualityLimitation::Cpu => "cpu",
        }
    }
}

/// What the encoder should use now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub bitrate_bps: u32,
    pub limitation: QualityLimitation,
}

/// What one encoded frame said about the encoder.
#[derive(Debug, Clone, Copy)]
pub struct EncodedFrame {
    /// Its size.
    pub bytes: usize,
    /// How long it took.
    pub took: Duration,
    /// A keyframe: many frames' worth by nature, so it says nothing of how hard the picture is.
    pub keyframe: bool,
}

/// The adapter's state for one sender.
#[derive(Debug)]
pub struct Adapter {
    sizes: Vec<(u32, u32)>,
    fps_max: f64,
    max_bps: f64,
    level: usize,
    fps_step: usize,
    bitrate_bps: u32,
    bitrate_set: Option<Instant>,
    /// The share of its target the encoder fills.
    fill: Ewma,
    busy: Ewma,
    want_down_since: Option<Instant>,
    want_up_since: Option<Instant>,
    cpu_since: Option<Instant>,
    last_down: Option<Instant>,
    limitation: QualityLimitation,
}

#[derive(Debug, Clone, Copy, Default)]
struct Ewma(Option<f64>);

impl Ewma {
    fn add(&mut self, x: f64, alpha: f64) {
        self.0 = Some(self.0.map_or(x, |m| m + alpha * (x - m)));
    }
}

impl Adapter {
    /// For a sender of `width`x`height` at `fps`, whose video never exceeds `max_bps`, starting
    /// with a video budget of `initial_bps` (from [`Adapter::video_budget`]).
    pub fn new(width: u32, height: u32, fps: u32, max_bps: f64, initial_bps: f64) -> Adapter {
        let mut sizes = vec![(width, height)];
        for (num, den) in [(3, 4), (1, 2), (1, 4)] {
            // Even sizes, and none smaller than 16 pixels a side.
            let (w, h) = ((width * num / den) & !1, (height * num / den) & !1);
            if w >= 16 && h >= 16 && (w, h) != *sizes.last().unwrap_or(&(0, 0)) {
                sizes.push((w, h));
            }
        }
        let mut a = Adapter {
            sizes,
            fps_max: f64::from(fps.max(1)),
            max_bps,
            level: 0,
            fps_step: 0,
            bitrate_bps: initial_bps.min(max_bps) as u32,
            bitrate_set: None,
            fill: Ewma::default(),
            busy: Ewma::default(),
            want_down_since: None,
            want_up_since: None,
            cpu_since: None,
            last_down: None,
            limitation: QualityLimitation::None,
        };
        a.level = (0..a.sizes.len()).find(|&l| initial_bps >= a.needs(l)).unwrap_or(a.sizes.len() - 1);
        if a.level > 0 {
            a.limitation = QualityLimitation::Bandwidth;
        }
        a
    }

    /// The encoder's bitrate for an estimate of `estimate_bps` for everything we send.
    pub fn video_budget(&self, estimate_bps: f64, audio: bool) -> f64 {
        let reserve = if audio { AUDIO_RESERVE_BPS } else { 0.0 };
        ((estimate_bps - reserve) * VIDEO_SHARE).clamp(MIN_VIDEO_BPS, self.max_bps)
    }

    /// Learns from one encoded frame.
    pub fn on_encoded(&mut self, f: EncodedFrame) {
        let interval = 1.0 / self.fps();
        let per_frame = f64::from(self.bitrate_bps.max(1)) * interval;
        // A keyframe is many frames' worth whatever the picture: it does not count. Other
        // frames are capped, so that one large frame does not read as a hard picture.
        if !f.keyframe {
            self.fill.add((f.bytes as f64 * 8.0 / per_frame).min(3.0), 0.1);
        }
        self.busy.add(f.took.as_secs_f64() / interval, 0.1);
    }

    /// The frame rate now.
    pub fn fps(&self) -> f64 {
        self.fps_max * FPS_STEPS[self.fps_step]
    }

    /// Decides, before a frame, with the video budget (from [`Adapter::video_budget`]).
    pub fn plan(&mut self, now: Instant, budget_bps: f64) -> Plan {
        self.follow_rate(now, budget_bps);
        self.follow_cpu(now);
        let (width, height) = self.sizes[self.level];
        Plan { width, height, fps: self.fps(), bitrate_bps: self.bitrate_bps, limitation: self.limitation }
    }

    /// The rate a size at the current frame rate needs before it is worth it.
    fn needs(&self, level: usize) -> f64 {
        let (w, h) = self.sizes[level];
        f64::from(w) * f64::from(h) * self.fps() * DOWN_BPP
    }

    fn follow_rate(&mut self, now: Instant, budget: f64) {
        // The encoder's bitrate: promptly on a large move, every half second on a small one.
        let moved = (budget - f64::from(self.bitrate_bps)).abs() / f64::from(self.bitrate_bps.max(1));
        let due = self.bitrate_set.is_none_or(|t| now.saturating_duration_since(t) >= BITRATE_EVERY);
        if moved > BITRATE_STEP || (due && moved > 0.01) {
            self.bitrate_bps = budget as u32;
            self.bitrate_set = Some(now);
        }
        let struggling = self.fill.0.is_some_and(|f| f >= FILL_HIGH);
        let cruising = self.fill.0.is_some_and(|f| f <= FILL_LOW);
        let lowest_size = self.level + 1 == self.sizes.len();
        let lowest_fps = self.fps_step + 1 == FPS_STEPS.len();

        // Down: too little rate for this size (or, at the smallest size, this frame rate), and
        // the encoder shows it.
        let too_little = budget < self.needs(self.level) && !(lowest_size && lowest_fps);
        // Under half of what the size needs (a link that just dropped): no need to wait and see.
        let far_too_little = budget < 0.5 * self.needs(self.level);
        if too_little && struggling {
            if far_too_little || held(&mut self.want_down_since, now, DOWN_AFTER) {
                if !lowest_size {
                    // Straight to the largest size the rate carries, not one step a time.
                    let fits = (self.level + 1..self.sizes.len()).find(|&l| budget >= self.needs(l));
                    self.level = fits.unwrap_or(self.sizes.len() - 1);
                } else {
                    self.fps_step += 1;
                }
                self.limitation = QualityLimitation::Bandwidth;
                self.last_down = Some(now);
                self.want_down_since = None;
                self.want_up_since = None;
                return;
            }
        } else {
            self.want_down_since = None;
        }

        // Up: frame rate first, then size, each when the rate is clearly enough (or the
        // content is easy), for a while, and not soon after a step down.
        let reduced = self.level > 0 || self.fps_step > 0;
        if !reduced {
            self.want_up_since = None;
            if self.limitation == QualityLimitation::Bandwidth {
                self.limitation = QualityLimitation::None;
            }
            return;
        }
        let paused = self.last_down.is_some_and(|t| now.saturating_duration_since(t) < UP_PAUSE);
        let next_needs = if self.fps_step > 0 {
            self.needs(self.level) / FPS_STEPS[self.fps_step] * FPS_STEPS[self.fps_step - 1]
        } else {
            self.needs(self.level - 1)
        };
        let (next_fits, wait) = if budget >= UP_MARGIN * next_needs {
            (true, UP_AFTER)
        } else {
            (cruising && budget >= 0.25 * next_needs, UP_EASY_AFTER)
        };
        if next_fits && !paused && self.limitation != QualityLimitation::Cpu {
            if held(&mut self.want_up_since, now, wait) {
                if self.fps_step > 0 {
                    self.fps_step -= 1;
                } else {
                    self.level -= 1;
                }
                self.want_up_since = None;
            }
        } else {
            self.want_up_since = None;
        }
    }

    /// An encoder that cannot keep up with the frame rate steps the size down too.
    fn follow_cpu(&mut self, now: Instant) {
        let busy = self.busy.0.is_some_and(|b| b > CPU_BUSY);
        if !busy {
            self.cpu_since = None;
            if self.limitation == QualityLimitation::Cpu && self.busy.0.is_some_and(|b| b < CPU_BUSY / 2.0) {
                self.limitation = if self.level > 0 || self.fps_step > 0 { QualityLimitation::Bandwidth } else { QualityLimitation::None };
            }
            return;
        }
        if held(&mut self.cpu_since, now, DOWN_AFTER * 4) && self.level + 1 < self.sizes.len() {
            self.level += 1;
            self.limitation = QualityLimitation::Cpu;
            self.last_down = Some(now);
            self.cpu_since = None;
            self.busy = Ewma::default();
        }
    }
}

/// Whether a condition first seen at `since` (set now if it was not) has held for `long`.
fn held(since: &mut Option<Instant>, now: Instant, long: Duration) -> bool {
    now.saturating_duration_since(*since.get_or_insert(now)) >= long
}

/// The most video should use at a size when nobody says otherwise, as browsers default it.
pub fn default_max_kbps(width: u32, height: u32) -> u32 {
    match width * height {
        p if p <= 320 * 240 => 600,
        p if p <= 640 * 480 => 1700,
        p if p <= 960 * 540 => 2000,
        _ => 2500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs 15 frames a second for `secs` with this budget, the encoder filling `fill` of its
    /// target; returns the last plan.
    fn run(a: &mut Adapter, t: &mut Instant, secs: f64, budget: f64, fill: f64) -> Plan {
        let mut plan = a.plan(*t, budget);
        for _ in 0..(secs * 15.0) as u32 {
            *t += Duration::from_millis(66);
            plan = a.plan(*t, budget);
            let bytes = (f64::from(plan.bitrate_bps) / plan.fps / 8.0 * fill) as usize;
            a.on_encoded(EncodedFrame { bytes, took: Duration::from_millis(5), keyframe: false });
        }
        plan
    }

    fn full(budget: f64) -> Adapter {
        Adapter::new(640, 480, 15, 1.7e6, budget)
    }

    #[test]
    fn the_ladder_is_the_size_and_its_fractions() {
        let a = full(1e6);
        assert_eq!(a.sizes, vec![(640, 480), (480, 360), (320, 240), (160, 120)]);
        let a = Adapter::new(50, 40, 15, 1e6, 1e6);
        assert_eq!(a.sizes, vec![(50, 40), (36, 30), (24, 20)]);
    }

    #[test]
    fn a_starved_encoder_steps_straight_to_the_size_the_rate_carries_and_back_up_later() {
        let (mut a, mut t) = (full(1.5e6), Instant::now());
        let p = run(&mut a, &mut t, 2.0, 1.5e6, 1.0);
        assert_eq!((p.width, p.height, p.limitation), (640, 480, QualityLimitation::None));
        let p = run(&mut a, &mut t, 1.0, 150_000.0, 1.0);
        assert_eq!((p.width, p.height), (320, 240), "150 kbit/s carries 320x240, in one step");
        assert_eq!(p.bitrate_bps, 150_000);
        assert_eq!(p.limitation, QualityLimitation::Bandwidth);
        // The link comes back: after the pause and three seconds of plenty, one step at a time.
        let p = run(&mut a, &mut t, 3.0, 1.5e6, 1.0);
        assert_eq!((p.width, p.height), (320, 240), "not within the pause");
        let p = run(&mut a, &mut t, 4.0, 1.5e6, 1.0);
        assert_eq!((p.width, p.height), (480, 360));
        let p = run(&mut a, &mut t, 4.0, 1.5e6, 1.0);
        assert_eq!((p.width, p.height, p.limitation), (640, 480, QualityLimitation::None));
    }

    #[test]
    fn a_link_that_drops_far_is_followed_at_once() {
        let (mut a, mut t) = (full(1.5e6), Instant::now());
        run(&mut a, &mut t, 2.0, 1.5e6, 1.0);
        // The budget falls to a seventh; the frames in flight were made for the old one.
        t += Duration::from_millis(66);
        a.on_encoded(EncodedFrame { bytes: 12_000, took: Duration::from_millis(5), keyframe: false });
        let p = a.plan(t, 150_000.0);
        assert_eq!((p.width, p.height), (320, 240), "the first frame after the fall is smaller already");
    }

    #[test]
    fn keyframes_do_not_make_easy_content_look_hard() {
        // Started small by a low first estimate; a keyframe of 3 frames' worth, then easy frames.
        let (mut a, mut t) = (full(231_000.0), Instant::now());
        assert_eq!(a.plan(t, 231_000.0).width, 480);
        a.on_encoded(EncodedFrame { bytes: 231_000 / 15 / 8 * 6, took: Duration::from_millis(5), keyframe: true });
        let p = run(&mut a, &mut t, 1.5, 231_000.0, 0.25);
        assert_eq!((p.width, p.height), (640, 480), "easy content is back at full size within a second or two");
    }

    #[test]
    fn easy_content_keeps_its_size_at_a_low_rate() {
        let (mut a, mut t) = (full(1.5e6), Instant::now());
        let p = run(&mut a, &mut t, 5.0, 100_000.0, 0.2);
        assert_eq!((p.width, p.height, p.limitation), (640, 480, QualityLimitation::None));
    }

    #[test]
    fn a_call_starts_at_the_size_its_first_estimate_carries_and_easy_content_is_soon_back_at_full_size() {
        let (mut a, mut t) = (full(227_000.0), Instant::now());
        let p = a.plan(t, 227_000.0);
        assert_eq!((p.width, p.height, p.bitrate_bps), (480, 360, 227_000));
        let p = run(&mut a, &mut t, 1.5, 227_000.0, 0.1);
        assert_eq!((p.width, p.height, p.limitation), (640, 480, QualityLimitation::None), "the test pattern fills a tenth");
        let (mut a, mut t) = (full(227_000.0), Instant::now());
        let p = run(&mut a, &mut t, 5.0, 227_000.0, 1.0);
        assert_eq!((p.width, p.height, p.limitation), (480, 360, QualityLimitation::Bandwidth), "a camera stays");
    }

    #[test]
    fn below_the_smallest_size_the_frame_rate_goes_and_returns() {
        let (mut a, mut t) = (full(1.5e6), Instant::now());
        let p = run(&mut a, &mut t, 3.0, 12_000.0, 1.0);
        assert_eq!((p.width, p.height), (160, 120));
        assert!(p.fps < 15.0, "{p:?}");
        let p = run(&mut a, &mut t, 12.0, 60_000.0, 1.0);
        assert_eq!(p.fps, 15.0, "{p:?}");
    }

    #[test]
    fn a_slow_encoder_is_a_cpu_limit() {
        let (mut a, mut t) = (full(1.5e6), Instant::now());
        let mut plan = a.plan(t, 1.5e6);
        for _ in 0..60 {
            t += Duration::from_millis(66);
            plan = a.plan(t, 1.5e6);
            a.on_encoded(EncodedFrame { bytes: 12_000, took: Duration::from_millis(80), keyframe: false });
        }
        assert_eq!((plan.width, plan.limitation), (480, QualityLimitation::Cpu));
    }

    #[test]
    fn the_budget_leaves_room_for_audio_and_stays_in_bounds() {
        let a = full(1e6);
        assert_eq!(a.video_budget(300_000.0, true), (300_000.0 - AUDIO_RESERVE_BPS) * VIDEO_SHARE);
        assert_eq!(a.video_budget(10_000.0, true), MIN_VIDEO_BPS);
        assert_eq!(a.video_budget(9e9, false), 1.7e6);
        assert_eq!(default_max_kbps(640, 480), 1700);
    }
}
