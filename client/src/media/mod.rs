//! Media: what a call sends and receives, from sources to codecs to measurements.
//!
//! - [`frame`]: an RGB picture; [`scale`]: resizing it.
//! - [`source`]: choosing a video source; [`testsrc`], [`y4m`] and `camera` (feature `camera`) are some.
//! - [`pixfmt`]: YUV layouts to RGB.
//! - [`audio`]: audio sources, Opus, levels; [`pcm`]: rings and resampling for sound devices;
//!   `sound` (feature `sound`): the microphone and the speaker.
//! - [`h264`] and [`vp8`]: the video codecs, one face for both in [`video_codec`];
//!   [`assembler`]: frames from RTP packets.
//! - [`codecs`]: what is negotiated (defined in `termcall-shared`, which the hub's SFU shares).
//! - [`send`]: our tracks, the threads that feed them, and RTP packetizing.
//! - [`adapt`]: what the encoder should do under the network's estimate (bitrate, size, frame rate).
//! - [`recv`]: decoding what arrives; [`jitter`]: how long received audio waits before it plays;
//!   [`lipsync`]: a participant's audio and video played in step; [`syncpattern`]: the flash and
//!   beep that test it.
//! - [`rtcp_tap`]: the RTCP the application needs (sender reports, keyframe requests; shared too).
//! - [`counters`]: what the stats are computed from.
//! - [`snapshot`]: a frame to a PNG file.

pub mod adapt;
pub mod assembler;
pub mod audio;
#[cfg(feature = "camera")]
pub mod camera;
pub mod counters;
pub mod frame;
pub mod h264;
pub mod jitter;
pub mod lipsync;
pub mod vp8;
pub mod video_codec;
pub mod pcm;
pub mod pixfmt;
pub mod recv;
pub mod scale;
pub mod send;
pub mod snapshot;
#[cfg(feature = "sound")]
pub mod echo;
#[cfg(feature = "sound")]
pub mod sound;
pub mod source;
pub mod syncpattern;
pub mod testsrc;
pub mod y4m;

pub use frame::Frame;
pub use termcall_shared::media::{codecs, rtcp_tap};

/// The newest pictures of a call for whoever draws them (the TUI): the decoded remote video and
/// our own outgoing video (the self-view). Each slot holds one picture; nobody queues.
/// A call through the hub has a tile per other participant instead of `remote`.
pub struct Pictures {
    pub remote: recv::FrameSlot,
    pub local: recv::FrameSlot,
    pub tiles: tokio::sync::watch::Sender<Vec<Tile>>,
}

/// One other participant of a call through the hub, as the TUI draws it.
#[derive(Clone)]
pub struct Tile {
    pub name: String,
    /// The participant's newest decoded picture.
    pub frame: recv::FrameWatch,
    /// What arrived from them (the audio level shows who is speaking).
    pub counters: std::sync::Arc<counters::RecvCounters>,
}

/// The faces' ends of [`Pictures`]: the remote picture, the self-view, the tiles.
pub struct PictureWatches {
    pub remote: recv::FrameWatch,
    pub local: recv::FrameWatch,
    pub tiles: tokio::sync::watch::Receiver<Vec<Tile>>,
}

impl Pictures {
    /// Drops the tiles `gone` picks, telling the faces only if there were any.
    pub fn remove_tiles(&self, gone: impl Fn(&Tile) -> bool) {
        self.tiles.send_if_modified(|tiles| {
            let before = tiles.len();
            tiles.retain(|t| !gone(t));
            tiles.len() != before
        });
    }

    /// Empty slots, and their receivers.
    pub fn new() -> (Pictures, PictureWatches) {
        let (remote, remote_rx) = tokio::sync::watch::channel(None);
        let (local, local_rx) = tokio::sync::watch::channel(None);
        let (tiles, tiles_rx) = tokio::sync::watch::channel(Vec::new());
        (Pictures { remote, local, tiles }, PictureWatches { remote: remote_rx, local: local_rx, tiles: tiles_rx })
    }
}
use audio::AudioSpec;
use source::VideoSpec;

/// What a user sends, chosen on the command line.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub video: VideoSpec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The most video may use, kbit/s (`--video-kbps`); `None`: by size, as browsers default it.
    pub video_kbps: Option<u32>,
    pub audio: AudioSpec,
    /// Cancel the speaker's echo in the microphone, suppress noise and keep the level (the
    /// microphone only; `--no-aec` turns it off).
    pub voice_processing: bool,
    /// Play received audio (only with the `sound` feature).
    pub speaker: bool,
    /// Play a participant's video in step with its audio ([`lipsync`]; `--no-lip-sync` turns it off).
    pub lip_sync: bool,
    /// The speaker to play it on (`--speaker NAME`); the system's default when `None`.
    pub speaker_device: Option<String>,
    /// What feedback we ask receivers for, to adapt to the network.
    pub feedback: termcall_shared::media::interceptors::Feedback,
    /// How often a call reports its figures (`--stats-every`).
    pub stats_every: std::time::Duration,
    /// The video codecs we offer and accept, in our order of preference (`--video-codec`).
    pub video_codecs: Vec<video_codec::VideoCodec>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig { video: VideoSpec::TestSrc, width: 640, height: 480, fps: 15, video_kbps: None, audio: AudioSpec::Tone, voice_processing: true, speaker: true, lip_sync: true, speaker_device: None, feedback: Default::default(), stats_every: std::time::Duration::from_secs(1), video_codecs: video_codec::VideoCodec::ALL.to_vec() }
    }
}

impl MediaConfig {
    /// The most video may use, kbit/s.
    pub fn max_video_kbps(&self) -> u32 {
        self.video_kbps.unwrap_or_else(|| adapt::default_max_kbps(self.width, self.height))
    }

    /// Opens every source once, so that a bad file is reported at start, not mid-call.
    pub fn check(&self) -> Result<(), String> {
        source::VideoSource::open(&self.video, self.width, self.height, self.fps)?;
        audio::AudioSource::open(&self.audio, false)?;
        Ok(())
    }
}
