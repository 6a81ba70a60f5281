//! Echo cancellation, noise suppression and gain control for the microphone (the `sound`
//! feature), by `sonora`, a Rust port of WebRTC's audio processing module (AEC3, NS, AGC2), as
//! browsers run it.
//!
//! The echo's reference is what the speakers play. Every [`super::sound::Speaker`] adds what it
//! plays to one [`FarEnd`] mix (a group call plays one stream per participant); the microphone
//! takes as much of the mix as it takes of capture, 20 ms at a time, so the reference runs on
//! the microphone's clock and leads the echo by the speaker's buffer and the room. AEC3 finds
//! that delay itself. Processing runs on the thread that reads the microphone, never in a
//! device callback; the mix's lock is held for a copy of 20 ms.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use sonora::config::{EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::audio::{FRAME, RATE};

/// The processing module's frame: 10 ms.
const HALF: usize = FRAME / 2;
/// How far a speaker's stream may run ahead of the microphone in the mix: 1 s.
const AHEAD: usize = RATE as usize;

/// What the speakers play, mixed, for the microphone's canceller.
#[derive(Default)]
pub struct FarEnd {
    /// Whether a microphone with a canceller takes it (speakers add nothing otherwise).
    listened: AtomicBool,
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
        if !self.listened.load(Relaxed) {
            return;
        }
        let mut m = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        let read = m.read;
        let at = m.cursors.get(&speaker).map_or(read, |&c| c.max(read));
        let start = (at - read) as usize;
        let end = (start + pcm.len()).min(AHEAD);
        if start >= end {
            return; // far ahead of the microphone (it stopped reading): nothing to add
        }
        if m.buf.len() < end {
            m.buf.resize(end, 0);
        }
        for (slot, &s) in m.buf.range_mut(start..end).zip(pcm) {
            *slot += i32::from(s);
        }
        m.cursors.insert(speaker, at + pcm.len() as u64);
    }

    /// `speaker` is closed: its place in the mix goes.
    pub fn forget(&self, speaker: u64) {
        self.mix.lock().unwrap_or_else(|e| e.into_inner()).cursors.remove(&speaker);
    }

    /// The next `out.len()` samples of the mix (silence where nothing played).
    fn take(&self, out: &mut [i16]) {
        let mut m = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        let n = out.len().min(m.buf.len());
        for (o, s) in out.iter_mut().zip(m.buf.drain(..n)) {
            *o = s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
        out[n..].fill(0);
        m.read += out.len() as u64;
    }
}

/// The microphone's processing: the far end's echo cancelled, noise suppressed, level kept.
pub struct Canceller {
    apm: AudioProcessing,
    render: [i16; FRAME],
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
        far.listened.store(true, Relaxed);
        Canceller { apm, render: [0; FRAME], spare: [0; HALF], far }
    }

    /// Processes one 20 ms frame of capture in place, with the far end's 20 ms beside it.
    pub fn process(&mut self, frame: &mut [i16; FRAME]) {
        self.far.take(&mut self.render);
        for (render, capture) in self.render.chunks_exact(HALF).zip(frame.chunks_exact_mut(HALF)) {
            // Errors are for frames of the wrong size, which these are not.
            let _ = self.apm.process_render_i16(render, &mut self.spare);
            self.spare.copy_from_slice(capture);
            let _ = self.apm.process_capture_i16(&self.spare, capture);
        }
    }

    /// How much the canceller takes off the echo, dB (echo return loss enhancement), once known.
    pub fn erle_db(&self) -> Option<f64> {
        self.apm.statistics().echo_return_loss_enhancement
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

    #[test]
    fn speakers_are_mixed_on_the_microphones_clock() {
        let far = FarEnd::default();
        far.play(0, &[1; 10]);
        let mut out = [9i16; 4];
        far.take(&mut out);
        assert_eq!(out, [0; 4], "nobody listens: nothing is kept");
        far.listened.store(true, Relaxed);
        let (a, b) = (far.speaker(), far.speaker());
        far.play(a, &[100; 6]);
        far.play(b, &[10; 3]);
        far.play(b, &[20; 3]);
        far.take(&mut out);
        assert_eq!(out, [110, 110, 110, 120]);
        // b falls silent and comes back after the microphone has passed it: it starts where
        // the microphone is, not where it left off.
        far.take(&mut out);
        assert_eq!(out, [120, 120, 0, 0]);
        far.play(b, &[5; 2]);
        far.take(&mut out);
        assert_eq!(out, [5, 5, 0, 0]);
        // Loud speakers saturate instead of wrapping; a speaker far ahead is cut at a second.
        far.play(a, &[30_000; 2]);
        far.play(b, &[30_000; 2]);
        far.take(&mut out[..2]);
        assert_eq!(out[..2], [i16::MAX, i16::MAX]);
        far.play(a, &vec![1; 3 * RATE as usize]);
        assert_eq!(far.mix.lock().unwrap().buf.len(), AHEAD);
        far.forget(a);
        assert!(!far.mix.lock().unwrap().cursors.contains_key(&a));
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
