//! Echo cancellation, noise suppression and gain control for the microphone (the `sound`
//! feature), by `sonora`, a Rust port of WebRTC's audio processing module (AEC3, NS, AGC2), as
//! browsers run it.
//!
//! The echo's reference is what the speakers play: each [`super::sound::Speaker`]'s device
//! callback adds exactly what went out (silence while it waits for a cushion included) to one
//! [`FarEnd`] mix (a group call plays one stream per participant). Before each 20 ms of capture
//! the microphone's thread gives the module everything played since, as WebRTC feeds it from its
//! playout thread; AEC3 finds the delay from speaker to microphone itself. Processing runs on
//! the thread that reads the microphone, never in a device callback; the mix's lock is held for
//! a copy of one period.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use sonora::config::{EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::pcm::{FRAME, RATE};

/// The processing module's frame: 10 ms.
const HALF: usize = FRAME / 2;
/// How far a speaker's stream may run ahead of the microphone in the mix: 300 ms, more than the
/// speaker's own ring holds (what is further ahead than that is not what it plays). A stream
/// that gets further (its sender's clock runs fast beside our microphone's) is set back to it,
/// so the reference never drifts out of the canceller's reach over a long call.
const AHEAD: usize = RATE as usize * 3 / 10;

/// What the speakers play, mixed, for the microphone's canceller.
#[derive(Default)]
pub struct FarEnd {
    /// Microphones with a canceller that take it (speakers add nothing while there are none).
    listeners: AtomicUsize,
    next_id: AtomicU64,
    mix: Mutex<Mix>,
}

#[derive(Default)]
struct Mix {
    /// Samples from `read` on (absolute sample numbers), summed over the speakers.
    buf: VecDeque<i32>,
    read: u64,
    /// Where each speaker's next sample goes.
    cursors: HashMap<u64, u64>,
}

/// The process's one far end (there is one room, one set of speakers).
pub fn far_end() -> &'static FarEnd {
    static FAR: OnceLock<FarEnd> = OnceLock::new();
    FAR.get_or_init(FarEnd::default)
}

impl FarEnd {
    /// A name for one speaker's stream in the mix.
    pub fn speaker(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    /// `speaker` plays `pcm` (48 kHz mono) now: it is added to the mix after what it played
    /// before, or at the microphone's position if that has passed it (it was silent, or late).
    pub fn play(&self, speaker: u64, pcm: &[i16]) {
        if self.listeners.load(Relaxed) == 0 {
            return;
        }
        let mut m = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        let read = m.read;
        let pcm = &pcm[pcm.len().saturating_sub(AHEAD)..];
        let at = m.cursors.get(&speaker).map_or(read, |&c| c.max(read));
        // Too far ahead: set back so that this ends at the limit.
        let start = ((at - read) as usize).min(AHEAD - pcm.len());
        let end = start + pcm.len();
        if m.buf.len() < end {
            m.buf.resize(end, 0);
        }
        for (slot, &s) in m.buf.range_mut(start..end).zip(pcm) {
            *slot += i32::from(s);
        }
        m.cursors.insert(speaker, read + end as u64);
    }

    /// A canceller starts or stops taking the mix; a new one starts from an empty mix.
    fn listen(&self, on: bool) {
        let mut m = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            self.listeners.fetch_add(1, Relaxed);
            let read = m.read;
            m.buf.clear();
            m.cursors.values_mut().for_each(|c| *c = read);
        } else {
            self.listeners.fetch_sub(1, Relaxed);
        }
    }

    /// `speaker` is closed: its place in the mix goes.
    pub fn forget(&self, speaker: u64) {
        self.mix.lock().unwrap_or_else(|e| e.into_inner()).cursors.remove(&speaker);
    }

    /// Moves what has been played since the last call (up to the speaker furthest on) to the
    /// end of `out`, which keeps `cap` samples at most (the oldest go).
    fn take_played(&self, out: &mut VecDeque<i16>, cap: usize) {
        let mut m = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        let furthest = m.cursors.values().copied().max().unwrap_or(m.read);
        let n = (furthest.saturating_sub(m.read) as usize).min(m.buf.len());
        out.extend(m.buf.drain(..n).map(|s| s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16));
        m.read += n as u64;
        let over = out.len().saturating_sub(cap);
        out.drain(..over);
    }
}

/// The microphone's processing: the far end's echo cancelled, noise suppressed, level kept.
pub struct Canceller {
    apm: AudioProcessing,
    /// What the speakers played, not yet given to the module.
    render: VecDeque<i16>,
    chunk: [i16; HALF],
    spare: [i16; HALF],
    far: &'static FarEnd,
}

impl Canceller {
    /// Echo cancellation (AEC3), noise suppression (moderate) and gain control (AGC2's limiter),
    /// with a high-pass filter, as a browser's `getUserMedia` turns on by default (less the
    /// adaptive gain: see [`Canceller::with_parts`]).
    pub fn new() -> Canceller {
        Canceller::with_parts(true, true, true)
    }

    /// Only the parts asked for (the benchmark times each).
    pub fn with_parts(echo: bool, noise: bool, gain: bool) -> Canceller {
        let config = Config {
            // AEC3 turns the high-pass filter on too.
            echo_canceller: echo.then(EchoCanceller::default),
            noise_suppression: noise.then(NoiseSuppression::default),
            // The limiter, without the adaptive digital gain: that raised a voice at an
            // ordinary level by 4–5 dB (espeak-ng's, in the tests), a change the far end hears
            // as the voice jumping when processing starts.
            gain_controller2: gain.then(GainController2::default),
            high_pass_filter: Some(HighPassFilter::default()),
            ..Default::default()
        };
        let stream = StreamConfig::new(RATE, 1);
        let apm = AudioProcessing::builder().config(config).capture_config(stream).render_config(stream).build();
        let far = far_end();
        far.listen(true);
        Canceller { apm, render: VecDeque::with_capacity(AHEAD + FRAME), chunk: [0; HALF], spare: [0; HALF], far }
    }

    /// Processes one 20 ms frame of capture in place. What the speakers played since the last
    /// frame goes to the module first, 10 ms at a time, as it came: the module's render buffer
    /// and delay estimator absorb the speakers' periods not matching the microphone's (as
    /// WebRTC feeds it from the playout thread).
    pub fn process(&mut self, frame: &mut [i16; FRAME]) {
        self.far.take_played(&mut self.render, AHEAD);
        while self.render.len() >= HALF {
            for (c, s) in self.chunk.iter_mut().zip(self.render.drain(..HALF)) {
                *c = s;
            }
            // Errors are for frames of the wrong size, which these are not.
            let _ = self.apm.process_render_i16(&self.chunk, &mut self.spare);
        }
        for capture in frame.chunks_exact_mut(HALF) {
            self.spare.copy_from_slice(capture);
            let _ = self.apm.process_capture_i16(&self.spare, capture);
        }
    }

    /// How much the canceller takes off the echo, dB (echo return loss enhancement), once known.
    pub fn erle_db(&self) -> Option<f64> {
        self.apm.statistics().echo_return_loss_enhancement
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        self.far.listen(false);
    }
}

impl Default for Canceller {
    fn default() -> Self {
        Canceller::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(far: &FarEnd) -> Vec<i16> {
        let mut out = VecDeque::new();
        far.take_played(&mut out, AHEAD);
        out.into()
    }

    #[test]
    fn speakers_are_mixed_and_taken_as_they_play() {
        let far = FarEnd::default();
        far.play(0, &[1; 10]);
        assert!(taken(&far).is_empty(), "nobody listens: nothing is kept");
        far.listen(true);
        let (a, b) = (far.speaker(), far.speaker());
        far.play(a, &[100; 6]);
        far.play(b, &[10; 3]);
        far.play(b, &[20; 3]);
        assert_eq!(taken(&far), [110, 110, 110, 120, 120, 120]);
        assert!(taken(&far).is_empty(), "nothing new");
        // a plays on while b is silent; b comes back where the microphone took up to, not where
        // it left off.
        far.play(a, &[1; 4]);
        assert_eq!(taken(&far), [1; 4]);
        far.play(b, &[5; 2]);
        far.play(a, &[1; 2]);
        assert_eq!(taken(&far), [6, 6]);
        // Loud speakers saturate instead of wrapping.
        far.play(a, &[30_000; 2]);
        far.play(b, &[30_000; 2]);
        assert_eq!(taken(&far), [i16::MAX, i16::MAX]);
        // What waits for the module is kept to a bound: the oldest goes.
        let mut out: VecDeque<i16> = (0..10).collect();
        far.play(a, &[7; 3]);
        far.take_played(&mut out, 5);
        assert_eq!(Vec::from(out), [8, 9, 7, 7, 7]);
        // A speaker that runs ahead is held at the limit: what it plays next ends there.
        for _ in 0..20 {
            far.play(a, &[1; FRAME]);
        }
        let read = far.mix.lock().unwrap().read;
        assert_eq!(far.mix.lock().unwrap().buf.len(), AHEAD);
        assert_eq!(far.mix.lock().unwrap().cursors[&a], read + AHEAD as u64);
        far.forget(a);
        assert!(!far.mix.lock().unwrap().cursors.contains_key(&a));
        // A new canceller starts from an empty mix, every speaker at its position.
        far.listen(true);
        assert!(far.mix.lock().unwrap().buf.is_empty());
        assert_eq!(far.mix.lock().unwrap().cursors[&b], read);
        far.listen(false);
        far.listen(false);
        far.play(b, &[7; 4]);
        assert!(far.mix.lock().unwrap().buf.is_empty(), "nobody listens any more");
    }

    #[test]
    fn the_echo_of_what_the_speaker_plays_is_taken_out_of_the_microphone() {
        // A noise-like far end, heard by the microphone 40 ms later at half the level.
        let far = far_end();
        let mut c = Canceller::new();
        let speaker = far.speaker();
        let mut x = 12345u32;
        let mut played: Vec<i16> = Vec::new();
        let (mut echo_in, mut echo_out) = (0f64, 0f64);
        let delay = RATE as usize / 25;
        for n in 0..250 {
            let frame: Vec<i16> = (0..FRAME)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ((x >> 16) as i16) / 4
                })
                .collect();
            far.play(speaker, &frame);
            played.extend_from_slice(&frame);
            let mut mic = [0i16; FRAME];
            let base = played.len() - FRAME;
            for (i, m) in mic.iter_mut().enumerate() {
                *m = (base + i).checked_sub(delay).map_or(0, |k| played[k] / 2);
            }
            let before: f64 = mic.iter().map(|&s| f64::from(s).powi(2)).sum();
            c.process(&mut mic);
            if n >= 150 {
                // After three seconds to converge.
                echo_in += before;
                echo_out += mic.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            }
        }
        far.forget(speaker);
        let erle = 10.0 * (echo_in / echo_out.max(1.0)).log10();
        assert!(erle >= 20.0, "the echo was taken down by {erle:.1} dB only");
    }
}
