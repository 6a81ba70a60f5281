//! The microphone and the speaker, through cpal (ALSA on Linux); built with the `sound` feature.
//!
//! Each device is driven by cpal's own callback thread. A device thread of ours opens it and
//! keeps the cpal stream alive (cpal streams may not move between threads) until the handle
//! drops. PCM crosses to and from the media threads through a bounded [`PcmRing`], so a device
//! running late or early costs at most the ring's length, never a growing delay.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::engine::api::SoundDevice;
use super::echo::{far_end, Canceller};
use super::pcm::{to_i16, PcmRing, Resampler, FRAME, RATE};

/// How much audio a ring holds at most: 200 ms for the microphone; the speaker's holds the
/// jitter buffer's largest target and some.
const RING_MS: u32 = 200;
const SPEAKER_RING_MS: u32 = 600;
/// How long the microphone's reader waits for a frame the device has not delivered yet.
const MIC_WAIT: Duration = Duration::from_millis(30);

/// Keeps a device thread (and its cpal stream) alive; dropping it closes the device.
struct DeviceGuard(Arc<AtomicBool>);

impl Drop for DeviceGuard {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Runs `open` on a thread of its own that then holds the stream until the guard drops.
fn device_thread(name: &str, open: impl FnOnce() -> Result<cpal::Stream, String> + Send + 'static) -> Result<DeviceGuard, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let s = stop.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let stream = match open().and_then(|st| st.play().map(|_| st).map_err(|e| format!("cannot start the sound device: {e}"))) {
                Ok(st) => st,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            let _ = ready_tx.send(Ok(()));
            while !s.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(stream);
        })
        .map_err(|e| format!("cannot start a sound thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(DeviceGuard(stop)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the sound device thread stopped while opening".into()),
    }
}

/// A device's error callback: the first error is a warning, then one line per 1000 with the
/// count (the others at debug). ALSA through PulseAudio's plugin reports a failed
/// `snd_pcm_avail_delay` on every period while playing fine: 280 warnings in a 15 s call.
fn device_errors(what: &'static str) -> impl FnMut(cpal::Error) + Send + 'static {
    let mut count = 0u64;
    move |e| {
        count += 1;
        if count == 1 || count.is_multiple_of(1000) {
            tracing::warn!("{what}: {e} ({count} so far; the sound may still be fine)");
        } else {
            tracing::debug!("{what}: {e}");
        }
    }
}

/// Which way a device goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

/// The device named `wanted` (its id or its name, as [`devices`] shows them), or the default.
fn find(direction: Direction, wanted: Option<&str>) -> Result<cpal::Device, String> {
    let host = cpal::default_host();
    let what = if direction == Direction::Input { "microphone" } else { "speaker" };
    let Some(wanted) = wanted else {
        let default = if direction == Direction::Input { host.default_input_device() } else { host.default_output_device() };
        return default.ok_or_else(|| format!("no {what} found (no default ALSA {} device); see --list-devices", if direction == Direction::Input { "input" } else { "output" }));
    };
    let all: Vec<cpal::Device> = match direction {
        Direction::Input => host.input_devices().map_err(|e| format!("cannot list the {what}s: {e}"))?.collect(),
        Direction::Output => host.output_devices().map_err(|e| format!("cannot list the {what}s: {e}"))?.collect(),
    };
    let id = |d: &cpal::Device| d.id().map(|i| i.to_string()).unwrap_or_default();
    // An id with or without its host (`alsa:pulse` or `pulse`), or the device's name.
    let named = |d: &cpal::Device| {
        let i = id(d);
        i == wanted || i.split_once(':').is_some_and(|(_, bare)| bare == wanted) || d.to_string() == wanted
    };
    if let Some(d) = all.iter().find(|d| named(d)) {
        return Ok(d.clone());
    }
    let names: Vec<String> = all.iter().map(id).collect();
    Err(format!("no {what} named {wanted:?}; there are: {}", if names.is_empty() { "none".to_owned() } else { names.join(", ") }))
}

/// The sound devices there are: microphones and speakers, each with the name to give
/// `--audio mic:NAME`, `--speaker NAME` or the `devices` command, and the defaults marked.
pub fn device_lists() -> Result<(Vec<SoundDevice>, Vec<SoundDevice>), String> {
    let host = cpal::default_host();
    let id = |d: &cpal::Device| d.id().map(|i| i.to_string()).unwrap_or_default();
    let describe = |list: Result<Vec<cpal::Device>, String>, default: Option<cpal::Device>| -> Result<Vec<SoundDevice>, String> {
        let default = default.as_ref().map(id);
        Ok(list?.iter().map(|d| SoundDevice { name: id(d), description: d.to_string(), default: default.as_deref() == Some(id(d).as_str()) }).collect())
    };
    let mics = describe(host.input_devices().map(|d| d.collect()).map_err(|e| format!("cannot list the sound devices: {e}")), host.default_input_device())?;
    let speakers = describe(host.output_devices().map(|d| d.collect()).map_err(|e| format!("cannot list the sound devices: {e}")), host.default_output_device())?;
    Ok((mics, speakers))
}

/// The same, for `--list-devices`: a line each, microphones then speakers.
pub fn devices() -> Result<String, String> {
    let (mics, speakers) = device_lists()?;
    let mut out = String::new();
    for (title, list) in [("microphones (--audio mic:NAME)", mics), ("speakers (--speaker NAME)", speakers)] {
        out.push_str(&format!("{title}:\n"));
        if list.is_empty() {
            out.push_str("  (none)\n");
        }
        for d in &list {
            out.push_str(&format!("  {}  {}{}\n", d.name, d.description, if d.default { "  (default)" } else { "" }));
        }
    }
    Ok(out)
}

/// Whether there is a microphone named `name`; the error lists the ones there are.
pub fn check_microphone(name: &str) -> Result<(), String> {
    find(Direction::Input, Some(name)).map(drop)
}

/// Whether there is a speaker named `name`; the error lists the ones there are.
pub fn check_speaker(name: &str) -> Result<(), String> {
    find(Direction::Output, Some(name)).map(drop)
}

/// The default input device, as 48 kHz mono for the Opus encoder.
pub struct Microphone {
    ring: Arc<PcmRing>,
    /// Echo cancellation, noise suppression and gain control, unless turned off (`--no-aec`).
    processing: Option<Box<Canceller>>,
    _guard: DeviceGuard,
}

impl Microphone {
    /// Opens the microphone named `device` (as [`devices`] lists it), or the system's default,
    /// with its echo cancelled, noise suppressed and level kept if `processing`; the error says
    /// what is missing.
    pub fn open(device: Option<&str>, processing: bool) -> Result<Microphone, String> {
        let device = device.map(str::to_owned);
        let ring = Arc::new(PcmRing::new((RATE * RING_MS / 1000) as usize));
        let r = ring.clone();
        let guard = device_thread("termcall-mic", move || {
            let dev = find(Direction::Input, device.as_deref())?;
            tracing::debug!(device = %dev.id().map(|i| i.to_string()).unwrap_or_default(), "the microphone opens");
            let cfg = dev.default_input_config().map_err(|e| format!("cannot query the microphone: {e}"))?;
            let (fmt, cfg): (SampleFormat, StreamConfig) = (cfg.sample_format(), cfg.into());
            match fmt {
                SampleFormat::F32 => input::<f32>(&dev, cfg, r),
                SampleFormat::I16 => input::<i16>(&dev, cfg, r),
                SampleFormat::I32 => input::<i32>(&dev, cfg, r),
                SampleFormat::U8 => input::<u8>(&dev, cfg, r),
                other => Err(format!("the microphone's sample format {other} is not supported")),
            }
        })?;
        Ok(Microphone { ring, processing: processing.then(|| Box::new(Canceller::new())), _guard: guard })
    }

    /// Takes the next 20 ms, processed. The device delivers in periods of its own: a frame not
    /// all there yet is waited for a little (the audio thread follows the microphone's clock),
    /// and only then filled with silence. Silence slipped into the capture would move the echo
    /// against its reference, and the canceller would have to find it again.
    pub fn next_into(&mut self, out: &mut [i16; FRAME]) {
        let deadline = Instant::now() + MIC_WAIT;
        while self.ring.len() < FRAME && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.ring.pop_into(out);
        if let Some(p) = self.processing.as_mut() {
            p.process(out);
        }
    }

    /// How much the echo canceller takes off the echo, dB, once it knows.
    pub fn erle_db(&self) -> Option<f64> {
        self.processing.as_ref().and_then(|p| p.erle_db())
    }
}

fn input<T>(dev: &cpal::Device, cfg: StreamConfig, ring: Arc<PcmRing>) -> Result<cpal::Stream, String>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(cfg.channels.max(1));
    let mut rs = Resampler::new(cfg.sample_rate, RATE);
    // Scratch for one callback's mono samples, sized here for any usual device period (a larger
    // one would grow it once); the callback itself does not allocate.
    let mut mono: Vec<f32> = Vec::with_capacity(16_384);
    dev.build_input_stream(
        cfg,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            mono.clear();
            mono.extend(data.chunks(channels).map(|c| c.iter().map(|&s| <f32 as FromSample<T>>::from_sample_(s)).sum::<f32>() / c.len() as f32));
            let mut resampled = [0i16; 2048];
            let mut n = 0;
            rs.process(&mono, |s| {
                if n == resampled.len() {
                    ring.push(resampled);
                    n = 0;
                }
                resampled[n] = to_i16(s);
                n += 1;
            });
            ring.push(resampled[..n].iter().copied());
        },
        device_errors("microphone"),
        None,
    )
    .map_err(|e| format!("cannot open the microphone: {e}"))
}

/// The default output device, fed with decoded 48 kHz mono PCM.
pub struct Speaker {
    ring: Arc<PcmRing>,
    /// The device's rate, for the ring's length in time.
    rate: u32,
    /// How long audio waits before it plays, ms (the jitter buffer's target): the device starts
    /// once its ring holds that much, and again after running dry.
    target_ms: Arc<AtomicU32>,
    /// The device's own buffer (from what its callback says of when it plays), µs.
    latency_us: Arc<AtomicU32>,
    /// This speaker's stream in the microphone's echo reference.
    far: u64,
    resampler: Resampler,
    scratch: Vec<f32>,
    _guard: DeviceGuard,
}

impl Speaker {
    /// Opens the speaker named `device` (as [`devices`] lists it), or the system's default;
    /// the error says what is missing.
    pub fn open(device: Option<&str>) -> Result<Speaker, String> {
        let device = device.map(str::to_owned);
        let (tx, rx) = mpsc::channel();
        let far = far_end().speaker();
        let target_ms = Arc::new(AtomicU32::new(super::jitter::MIN_MS as u32));
        let latency_us = Arc::new(AtomicU32::new(0));
        let (target, latency) = (target_ms.clone(), latency_us.clone());
        let guard = device_thread("termcall-speaker", move || {
            let dev = find(Direction::Output, device.as_deref())?;
            let cfg = dev.default_output_config().map_err(|e| format!("cannot query the speaker: {e}"))?;
            let (fmt, cfg): (SampleFormat, StreamConfig) = (cfg.sample_format(), cfg.into());
            let ring = Arc::new(PcmRing::new((cfg.sample_rate * SPEAKER_RING_MS / 1000) as usize));
            let _ = tx.send((ring.clone(), cfg.sample_rate));
            match fmt {
                SampleFormat::F32 => output::<f32>(&dev, cfg, ring, far, target, latency),
                SampleFormat::I16 => output::<i16>(&dev, cfg, ring, far, target, latency),
                SampleFormat::I32 => output::<i32>(&dev, cfg, ring, far, target, latency),
                SampleFormat::U8 => output::<u8>(&dev, cfg, ring, far, target, latency),
                other => Err(format!("the speaker's sample format {other} is not supported")),
            }
        })?;
        let (ring, rate) = rx.recv().map_err(|_| "the speaker thread stopped while opening".to_string())?;
        Ok(Speaker { ring, rate, target_ms, latency_us, far, resampler: Resampler::new(RATE, rate), scratch: Vec::with_capacity(FRAME * 4), _guard: guard })
    }

    /// How long received audio should wait before it plays (see [`super::jitter`]).
    pub fn set_target_ms(&self, ms: f64) {
        self.target_ms.store(ms.round() as u32, Relaxed);
    }

    /// How much audio waits to be played, in ms.
    pub fn buffered_ms(&self) -> f64 {
        self.ring.len() as f64 * 1000.0 / f64::from(self.rate.max(1))
    }

    /// How long the device holds what it was given before it is heard, ms.
    pub fn device_latency_ms(&self) -> f64 {
        f64::from(self.latency_us.load(Relaxed)) / 1000.0
    }

    /// Queues `ms` of silence (the jitter buffer's target grew).
    pub fn pad_ms(&mut self, ms: f64) {
        let n = (ms.max(0.0) * f64::from(self.rate) / 1000.0) as usize;
        self.ring.push(std::iter::repeat_n(0i16, n));
    }

    /// Queues decoded PCM for playing, resampled to the device's rate.
    pub fn play(&mut self, pcm: &[i16]) {
        self.scratch.clear();
        let scratch = &mut self.scratch;
        for chunk in pcm.chunks(FRAME) {
            let mut f = [0f32; FRAME];
            for (d, &s) in f.iter_mut().zip(chunk) {
                *d = f32::from(s) / 32768.0;
            }
            self.resampler.process(&f[..chunk.len()], |s| scratch.push(s));
        }
        self.ring.push(self.scratch.iter().map(|&s| to_i16(s)));
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        far_end().forget(self.far);
    }
}

/// The device's callback: plays what the ring holds, and tells the microphone's echo canceller
/// exactly what went out (silence while it waits for a cushion included), back at 48 kHz: the
/// echo it will hear follows what the device played, not when packets came.
fn output<T>(dev: &cpal::Device, cfg: StreamConfig, ring: Arc<PcmRing>, far: u64, target_ms: Arc<AtomicU32>, latency_us: Arc<AtomicU32>) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(cfg.channels.max(1));
    let rate = cfg.sample_rate as usize;
    let mut primed = false;
    let mut mono = [0i16; 1024];
    let mut back = Resampler::new(cfg.sample_rate, RATE);
    let mut played = [0i16; 1024];
    dev.build_output_stream(
        cfg,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            let ahead = ts.playback.duration_since(ts.callback);
            latency_us.store(ahead.as_micros().min(u128::from(u32::MAX)) as u32, Relaxed);
            if !primed && ring.len() >= rate * target_ms.load(Relaxed) as usize / 1000 {
                primed = true;
            }
            for block in data.chunks_mut(mono.len() * channels) {
                let frames = block.len() / channels;
                let got = if primed { ring.pop_into(&mut mono[..frames]) } else { 0 };
                if got < frames {
                    mono[got..frames].fill(0);
                    primed = false; // ran dry: wait for a cushion again
                }
                for (frame, &s) in block.chunks_mut(channels).zip(&mono[..frames]) {
                    frame.fill(T::from_sample(f32::from(s) / 32768.0));
                }
                let mut n = 0;
                for &s in &mono[..frames] {
                    back.process(&[f32::from(s) / 32768.0], |x| {
                        if n == played.len() {
                            far_end().play(far, &played);
                            n = 0;
                        }
                        played[n] = to_i16(x);
                        n += 1;
                    });
                }
                far_end().play(far, &played[..n]);
            }
        },
        device_errors("speaker"),
        None,
    )
    .map_err(|e| format!("cannot open the speaker: {e}"))
}
