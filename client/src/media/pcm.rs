//! Moving PCM between a sound device's clock and ours: a bounded ring and a linear resampler.
//! Both are always built (and tested); the devices that use them need the `sound` feature.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Samples a second, the Opus clock (and everything's rate between the devices and the codec).
pub const RATE: u32 = 48_000;
/// Samples in one 20 ms frame (mono).
pub const FRAME: usize = 960;

/// A bounded FIFO of mono samples (at one rate: 48 kHz for the microphone, the device's for the
/// speaker) shared by a device callback and a media thread. When it is full the oldest samples
/// go: latency stays bounded, it never grows. The lock is held for a copy of one device period.
pub struct PcmRing {
    buf: Mutex<VecDeque<i16>>,
    capacity: usize,
}

impl PcmRing {
    /// A ring holding at most `capacity` samples (allocated once, here).
    pub fn new(capacity: usize) -> PcmRing {
        PcmRing { buf: Mutex::new(VecDeque::with_capacity(capacity)), capacity }
    }

    /// Appends samples, dropping the oldest beyond capacity.
    pub fn push(&self, samples: impl IntoIterator<Item = i16>) {
        // One short critical section per device period (every few ms): no allocation inside.
        let Ok(mut b) = self.buf.lock() else { return };
        for s in samples {
            if b.len() == self.capacity {
                b.pop_front();
            }
            b.push_back(s);
        }
    }

    /// Fills `out` from the front; returns how many samples were there (the rest is silence).
    pub fn pop_into(&self, out: &mut [i16]) -> usize {
        let Ok(mut b) = self.buf.lock() else { return 0 };
        let n = b.len().min(out.len());
        for (o, s) in out.iter_mut().zip(b.drain(..n)) {
            *o = s;
        }
        out[n..].fill(0);
        n
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.buf.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Linear resampling of a mono stream from one rate to another, chunk by chunk, keeping
/// its position across chunks so that chunk boundaries do not click.
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, relative to `prev` (0.0 = prev, 1.0 = the next input).
    pos: f64,
    prev: f32,
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Resampler {
        Resampler { step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)), pos: 0.0, prev: 0.0 }
    }

    /// Resamples `input`, calling `out` once per output sample.
    pub fn process(&mut self, input: &[f32], mut out: impl FnMut(f32)) {
        for &next in input {
            while self.pos < 1.0 {
                out(self.prev + (next - self.prev) * self.pos as f32);
                self.pos += self.step;
            }
            self.pos -= 1.0;
            self.prev = next;
        }
    }
}

/// A float sample in [-1, 1] as i16.
#[inline]
pub fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_drops_the_oldest_and_pads_with_silence() {
        let r = PcmRing::new(4);
        r.push([1, 2, 3, 4, 5, 6]);
        assert_eq!(r.len(), 4);
        let mut out = [9; 6];
        assert_eq!(r.pop_into(&mut out), 4);
        assert_eq!(out, [3, 4, 5, 6, 0, 0]);
        assert!(r.is_empty());
    }

    #[test]
    fn resampling_keeps_count_and_level_across_chunks() {
        for (from, to) in [(44_100, 48_000), (48_000, 48_000), (96_000, 48_000), (16_000, 48_000)] {
            let mut rs = Resampler::new(from, to);
            let tone: Vec<f32> = (0..from).map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / from as f32).sin() * 0.5).collect();
            let mut got = Vec::new();
            for chunk in tone.chunks(441) {
                rs.process(chunk, |s| got.push(s));
            }
            assert!((got.len() as i64 - i64::from(to)).abs() <= 2, "{from}->{to}: {} samples", got.len());
            let rms = (got.iter().map(|s| s * s).sum::<f32>() / got.len() as f32).sqrt();
            assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "{from}->{to}: rms {rms}");
        }
    }
}
