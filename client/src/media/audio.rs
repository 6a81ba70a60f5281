//! Audio: sources (`--audio tone|sync|none|FILE.wav|mic`), Opus at 48 kHz in 20 ms frames, and levels.

use std::path::PathBuf;

pub use super::pcm::{FRAME, RATE};
/// The test tone's peak, as a fraction of full scale: quiet, about -23 dBov RMS.
pub const TONE_PEAK: f32 = 0.1;
/// The test tone's pitch.
pub const TONE_HZ: f32 = 440.0;

/// What the user asked to send as audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSpec {
    Tone,
    /// The sync test pattern's beeps ([`super::syncpattern`]).
    Sync,
    None,
    Wav(PathBuf),
    /// A microphone: the system's default, or the device named (`mic:NAME`, as `--list-devices` shows it).
    Microphone(Option<String>),
}

impl AudioSpec {
    pub fn parse(s: &str) -> Result<AudioSpec, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(name) = s.strip_prefix("mic:").or_else(|| s.strip_prefix("microphone:")) {
            if name.is_empty() {
                return Err("--audio mic: needs a device name after the colon (see --list-devices), or use mic for the default".into());
            }
            return Ok(AudioSpec::Microphone(Some(name.to_owned())));
        }
        Ok(match lower.as_str() {
            "tone" | "" => AudioSpec::Tone,
            "sync" => AudioSpec::Sync,
            "none" | "off" => AudioSpec::None,
            "mic" | "microphone" => AudioSpec::Microphone(None),
            _ if lower.ends_with(".wav") => AudioSpec::Wav(s.into()),
            _ => return Err(format!("unsupported --audio {s:?}: use tone, sync, none, a .wav file, mic or mic:DEVICE")),
        })
    }
}

/// A source of 20 ms mono frames at 48 kHz.
pub enum AudioSource {
    Tone { phase: f32 },
    Sync { phase: f32 },
    /// A whole file, resampled to 48 kHz mono, played in a loop.
    Clip { pcm: Vec<i16>, at: usize },
    #[cfg(feature = "sound")]
    Mic(Box<super::sound::Microphone>),
}

impl std::fmt::Debug for AudioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AudioSource::Tone { .. } => "tone",
            AudioSource::Sync { .. } => "sync",
            AudioSource::Clip { .. } => "clip",
            #[cfg(feature = "sound")]
            AudioSource::Mic(_) => "microphone",
        })
    }
}

impl AudioSource {
    /// Opens the source; `Ok(None)` for `none`. Errors name the file. A microphone's echo is
    /// cancelled, its noise suppressed and its level kept if `processing`.
    pub fn open(spec: &AudioSpec, processing: bool) -> Result<Option<AudioSource>, String> {
        Ok(Some(match spec {
            AudioSpec::None => return Ok(None),
            AudioSpec::Tone => AudioSource::Tone { phase: 0.0 },
            AudioSpec::Sync => AudioSource::Sync { phase: 0.0 },
            AudioSpec::Wav(p) => AudioSource::Clip { pcm: load_wav(p)?, at: 0 },
            #[cfg(feature = "sound")]
            AudioSpec::Microphone(device) => AudioSource::Mic(Box::new(super::sound::Microphone::open(device.as_deref(), processing)?)),
            #[cfg(not(feature = "sound"))]
            AudioSpec::Microphone(_) => {
                let _ = processing;
                return Err("cannot use the microphone: this termcall was built without sound support; \
                            rebuild with `cargo build --release --features sound` (needs libasound2-dev), or use tone, none or a .wav file"
                    .into())
            }
        }))
    }

    /// How much the microphone's echo canceller takes off the echo, dB, once it knows.
    pub fn erle_db(&self) -> Option<f64> {
        match self {
            #[cfg(feature = "sound")]
            AudioSource::Mic(m) => m.erle_db(),
            _ => None,
        }
    }

    /// Fills one frame.
    pub fn next_into(&mut self, out: &mut [i16; FRAME]) {
        match self {
            AudioSource::Tone { phase } => {
                let step = 2.0 * std::f32::consts::PI * TONE_HZ / RATE as f32;
                for s in out.iter_mut() {
                    *s = (phase.sin() * TONE_PEAK * 32767.0) as i16;
                    *phase = (*phase + step) % (2.0 * std::f32::consts::PI);
                }
            }
            AudioSource::Sync { phase } => super::syncpattern::beep(out, std::time::SystemTime::now(), RATE, phase),
            AudioSource::Clip { pcm, at } => {
                for s in out.iter_mut() {
                    *s = pcm[*at];
                    *at = (*at + 1) % pcm.len();
                }
            }
            #[cfg(feature = "sound")]
            AudioSource::Mic(m) => m.next_into(out),
        }
    }
}

/// Reads a PCM .wav (8/16/24/32-bit integer or 32-bit float, any rate and channel count)
/// as 48 kHz mono.
pub fn load_wav(path: &std::path::Path) -> Result<Vec<i16>, String> {
    let name = path.display();
    let mut reader = hound::WavReader::open(path).map_err(|e| format!("cannot read audio file {name}: {e}"))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .map_err(|e| format!("cannot read audio file {name}: {e}"))?;
    let mono: Vec<f32> = samples.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    if mono.is_empty() {
        return Err(format!("audio file {name} has no samples"));
    }
    // Linear resampling to 48 kHz: plenty for a voice call.
    let ratio = spec.sample_rate as f64 / f64::from(RATE);
    let n = ((mono.len() as f64) / ratio).max(1.0) as usize;
    Ok((0..n)
        .map(|i| {
            let pos = i as f64 * ratio;
            let (j, frac) = (pos as usize, (pos.fract()) as f32);
            let a = mono[j.min(mono.len() - 1)];
            let b = mono[(j + 1).min(mono.len() - 1)];
            ((a + (b - a) * frac).clamp(-1.0, 1.0) * 32767.0) as i16
        })
        .collect())
}

/// RMS level of PCM in dBov (0 for a full-scale square wave; -inf clamps to -127).
pub fn level_dbov(sum_squares: f64, count: u64) -> f64 {
    if count == 0 || sum_squares <= 0.0 {
        return -127.0;
    }
    let rms = (sum_squares / count as f64).sqrt() / 32768.0;
    (20.0 * rms.log10()).max(-127.0)
}

/// Sum of squares of a frame, for [`level_dbov`].
pub fn sum_squares(pcm: &[i16]) -> f64 {
    pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
}

/// Opus's bitrate unless the link is very slow, bit/s.
pub const DEFAULT_BITRATE: i32 = 32_000;

/// Opus encoder for 20 ms mono frames.
pub struct OpusEncoder {
    enc: opus::Encoder,
    buf: Vec<u8>,
}

impl OpusEncoder {
    pub fn new() -> Result<OpusEncoder, String> {
        let mut enc = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip).map_err(|e| format!("cannot start Opus: {e}"))?;
        let _ = enc.set_inband_fec(true);
        let _ = enc.set_packet_loss_perc(5);
        // 32 kbit/s, as browsers send voice: Opus left to itself takes about 50 with FEC on.
        let _ = enc.set_bitrate(opus::Bitrate::Bits(DEFAULT_BITRATE));
        Ok(OpusEncoder { enc, buf: vec![0; 1500] })
    }

    pub fn encode(&mut self, pcm: &[i16; FRAME]) -> Result<&[u8], String> {
        let n = self.enc.encode(pcm, &mut self.buf).map_err(|e| format!("Opus encode failed: {e}"))?;
        Ok(&self.buf[..n])
    }

    /// Sets the bitrate, bit/s.
    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), String> {
        self.enc.set_bitrate(opus::Bitrate::Bits(bps)).map_err(|e| format!("Opus refused the bitrate: {e}"))
    }
}

/// Opus decoder to mono PCM.
pub struct OpusDecoder {
    dec: opus::Decoder,
    pub pcm: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<OpusDecoder, String> {
        let dec = opus::Decoder::new(RATE, opus::Channels::Mono).map_err(|e| format!("cannot start Opus: {e}"))?;
        // Room for the longest Opus packet, 120 ms.
        Ok(OpusDecoder { dec, pcm: vec![0; RATE as usize * 120 / 1000] })
    }

    /// Decodes one packet; returns the samples written to `self.pcm`.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], String> {
        let n = self.dec.decode(packet, &mut self.pcm, false).map_err(|e| format!("Opus decode failed: {e}"))?;
        Ok(&self.pcm[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_survives_opus_at_its_level() {
        let mut src = AudioSource::open(&AudioSpec::Tone, true).unwrap().unwrap();
        let (mut enc, mut dec) = (OpusEncoder::new().unwrap(), OpusDecoder::new().unwrap());
        let mut frame = [0i16; FRAME];
        let (mut sent, mut got) = ((0.0, 0u64), (0.0, 0u64));
        for i in 0..50 {
            src.next_into(&mut frame);
            sent.0 += sum_squares(&frame);
            sent.1 += FRAME as u64;
            let pkt = enc.encode(&frame).unwrap().to_vec();
            let pcm = dec.decode(&pkt).unwrap();
            if i > 5 {
                got.0 += sum_squares(pcm);
                got.1 += pcm.len() as u64;
            }
        }
        let (s, r) = (level_dbov(sent.0, sent.1), level_dbov(got.0, got.1));
        assert!((s - -23.0).abs() < 1.0, "tone level {s}");
        assert!((s - r).abs() < 2.0, "sent {s} dBov, decoded {r} dBov");
    }

    #[test]
    fn garbage_packets_are_errors_not_panics() {
        let mut dec = OpusDecoder::new().unwrap();
        for n in 0..300usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            let _ = dec.decode(&data);
        }
    }

    #[test]
    fn specs_parse() {
        assert_eq!(AudioSpec::parse("tone").unwrap(), AudioSpec::Tone);
        assert_eq!(AudioSpec::parse("none").unwrap(), AudioSpec::None);
        assert!(AudioSpec::parse("x.mp3").is_err());
        assert_eq!(AudioSpec::parse("mic").unwrap(), AudioSpec::Microphone(None));
        assert_eq!(AudioSpec::parse("mic:pulse").unwrap(), AudioSpec::Microphone(Some("pulse".into())));
        assert!(AudioSpec::parse("mic:").is_err());
        assert!(AudioSource::open(&AudioSpec::Wav("/nope.wav".into()), true).err().unwrap().contains("/nope.wav"));
    }
}
