//! Counters the media threads bump and the once-a-second stats read. Atomics only: the hot
//! paths never take a lock for them.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// What arrived from the peer.
#[derive(Default, Debug)]
pub struct RecvCounters {
    pub video_bytes: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Frames not decoded because they came after a loss, before the keyframe that resyncs.
    pub frames_held: AtomicU64,
    /// The video codec it arrives in ([`termcall_shared::media::codecs::VideoCodec::code`]; 0 none yet).
    pub codec: AtomicU8,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// Capture-to-decode latency of the newest frame, in microseconds (0 = unknown).
    pub latency_us: AtomicU64,
    /// The sum and count of the latencies measured since the last stats read (for their mean).
    pub latency_sum_us: AtomicU64,
    pub latency_count: AtomicU64,
    pub audio_packets: AtomicU64,
    pub audio_bytes: AtomicU64,
    /// Sum of squared samples and their count since the last stats read.
    pub audio_sq: AtomicU64,
    pub audio_samples: AtomicU64,
    /// The newest decoded audio frame's level, in tenths of a dBov (for a speaking indicator;
    /// 0 until the first frame, which reads as silence).
    pub audio_level_decidb: AtomicI32,
    /// How long received audio waits before it plays, in ms ([`super::jitter`]): it follows
    /// how much the network's delay varies.
    pub audio_jitter_ms: AtomicU32,
    /// What this participant's audio and video sides tell each other to play in step.
    pub av: super::lipsync::AvClock,
    /// When a flash of the sync test pattern was last shown, Unix ms (0: none).
    pub flash_at_ms: AtomicU64,
}

impl RecvCounters {
    /// The level of the newest decoded audio frame in dBov, -127 when none came yet.
    pub fn recent_level_dbov(&self) -> f64 {
        match self.audio_level_decidb.load(Relaxed) {
            0 => -127.0,
            d => f64::from(d) / 10.0,
        }
    }
}

/// What we sent.
#[derive(Default, Debug)]
pub struct SendCounters {
    pub video_frames: AtomicU64,
    pub video_bytes: AtomicU64,
    /// Raw frames not encoded because the network side was behind (the pacer's queue, or the
    /// packetizer's channel), or to lower the frame rate.
    pub video_skipped: AtomicU64,
    /// Frames the encoder's own rate control dropped.
    pub encoder_dropped: AtomicU64,
    /// The video codec we send in ([`termcall_shared::media::codecs::VideoCodec::code`]; 0 none yet).
    pub codec: AtomicU8,
    /// What the encoder does now: its size, frame rate (in hundredths), bitrate target (bit/s),
    /// and why that is less than configured (see [`super::adapt::QualityLimitation`]: 0 none,
    /// 1 bandwidth, 2 cpu).
    pub plan_width: AtomicU32,
    pub plan_height: AtomicU32,
    pub plan_fps_centi: AtomicU32,
    pub plan_bps: AtomicU32,
    pub limitation: AtomicU8,
    /// The sum and count of encoded frames' quantizers since the last stats read.
    pub qp_sum: AtomicU64,
    pub qp_count: AtomicU64,
    pub audio_packets: AtomicU64,
    pub audio_bytes: AtomicU64,
    pub audio_sq: AtomicU64,
    pub audio_samples: AtomicU64,
    /// The microphone's echo canceller: how much it takes off the echo, hundredths of a dB,
    /// once it knows (`aec_known`).
    pub aec_erle_centi_db: AtomicI32,
    pub aec_known: AtomicBool,
}

/// Adds a frame's energy (sum of squares, integer) to a pair of counters.
pub fn add_energy(sq: &AtomicU64, n: &AtomicU64, pcm: &[i16]) {
    let e: u64 = pcm.iter().map(|&s| (i64::from(s) * i64::from(s)) as u64).sum();
    sq.fetch_add(e, Relaxed);
    n.fetch_add(pcm.len() as u64, Relaxed);
}

/// Takes (and resets) the energy counters as a level in dBov.
pub fn take_level(sq: &AtomicU64, n: &AtomicU64) -> f64 {
    let (e, c) = (sq.swap(0, Relaxed), n.swap(0, Relaxed));
    super::audio::level_dbov(e as f64, c)
}
