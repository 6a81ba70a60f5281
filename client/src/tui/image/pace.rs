//! Pacing images to what the terminal link takes, without I/O. The terminal's writer
//! ([`crate::tui::output`]) writes each frame on its own thread; writing blocks once the pty's
//! buffer is full, until the terminal (or sshd) has read what came before. A frame goes only
//! when the writer has finished the last one (never a queue: a tick that comes while it is busy
//! skips its frame, and the next one goes out newest), and after the link has had as long again
//! to itself as the last frame's write took. Where frames are much larger than the pty's buffer
//! that leaves images about half of a slow link; where a frame fits in the buffer the write
//! returns before the link has carried it and images take most of the link, and keys and the
//! UI's changes wait behind one frame at most. A fast terminal takes a frame in well under a
//! millisecond and every tick's frame goes. There is no estimate to fall behind: the first
//! frame after a link gets faster already goes faster.

use std::time::{Duration, Instant};

/// The share of the link images may take: after a write of `t`, `t * (1 / SHARE - 1)` free.
const SHARE: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct Pacer {
    free_at: Instant,
    /// Bytes a second the last slow write drained (for the log).
    rate: f64,
    sent: u64,
    skipped: u64,
    bytes: u64,
}

impl Pacer {
    pub fn new(now: Instant) -> Pacer {
        Pacer { free_at: now, rate: 0.0, sent: 0, skipped: 0, bytes: 0 }
    }

    /// Whether a frame may go now (`busy`: the writer has not finished what it has); counts a
    /// skipped one if not.
    pub fn ready(&mut self, now: Instant, busy: bool) -> bool {
        let ok = !busy && now >= self.free_at;
        if !ok {
            self.skipped += 1;
        }
        ok
    }

    /// A frame of `bytes` was handed to the writer.
    pub fn submitted(&mut self, bytes: usize) {
        self.sent += 1;
        self.bytes += bytes as u64;
    }

    /// The writer wrote a frame of `bytes` from `start` to `end`.
    pub fn written(&mut self, bytes: usize, start: Instant, end: Instant) {
        let took = end.saturating_duration_since(start);
        self.free_at = end + took.mul_f64(1.0 / SHARE - 1.0);
        if took >= Duration::from_millis(1) {
            let r = bytes as f64 / took.as_secs_f64();
            self.rate = if self.rate == 0.0 { r } else { 0.7 * self.rate + 0.3 * r };
        }
    }

    /// Bytes a second the link drained in recent writes that waited for it (0: none did).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Frames handed over, ticks skipped because the link was busy, bytes handed over.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.sent, self.skipped, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 15 fps ticks for `secs` over a link of `link` bytes a second (a write of a frame takes
    /// its bytes at that rate, on the writer's thread); frames of `frame` bytes. The frames
    /// that went a second, and the most time a frame waited in a queue (always zero: none).
    fn run(p: &mut Pacer, t: &mut Instant, secs: u32, link: f64, frame: usize) -> f64 {
        let tick = Duration::from_micros(66_667);
        let mut writing: Option<(Instant, Instant)> = None;
        let before = p.counts().0;
        for _ in 0..secs * 15 {
            *t += tick;
            let now = *t;
            if let Some((s, e)) = writing {
                if e <= now {
                    p.written(frame, s, e);
                    writing = None;
                }
            }
            if p.ready(now, writing.is_some()) {
                p.submitted(frame);
                writing = Some((now, now + Duration::from_secs_f64(frame as f64 / link)));
            }
        }
        (p.counts().0 - before) as f64 / f64::from(secs)
    }

    #[test]
    fn a_fast_link_takes_every_frame() {
        let mut t = Instant::now();
        let mut p = Pacer::new(t);
        let fps = run(&mut p, &mut t, 10, 100e6, 200_000);
        assert!(fps >= 14.9, "{fps}");
        assert_eq!(p.counts().1, 0);
    }

    #[test]
    fn a_slow_link_gets_fewer_frames_and_half_of_it_and_a_fast_one_every_frame_again() {
        let mut t = Instant::now();
        let mut p = Pacer::new(t);
        // 1 MB/s and 200 KB frames: 5 frames a second would fill it; half of it is 2.5.
        let fps = run(&mut p, &mut t, 20, 1e6, 200_000);
        assert!((1.8..=2.6).contains(&fps), "{fps} fps");
        assert!((0.9e6..=1.1e6).contains(&p.rate()), "rate {}", p.rate());
        assert!(p.counts().1 > 200, "ticks skipped while the link was busy");
        let fps = run(&mut p, &mut t, 2, 100e6, 200_000);
        assert!(fps >= 14.0, "{fps}");
    }
}
