//! Sending: our tracks on the peer connection, and one thread each for video and audio that
//! produce, encode and hand frames to a packetizer task, which writes RTP to webrtc-rs. The
//! peer connection's congestion control paces the packets and estimates the path; the video
//! thread follows its estimate (bitrate, size, frame rate) and skips raw frames (never encoded
//! ones) when the network side is behind, so nothing queues and latency stays flat.
//!
//! - [`video`]: the video thread and its adaptation to the estimate.
//! - [`simulcast`]: the video thread of a call through the hub: three layers.
//! - [`audio`]: the audio thread.
//! - [`rtp`]: frames to RTP packets with capture-time timestamps.

mod audio;
pub mod rtp;
pub mod simulcast;
mod video;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::opus::OpusPayloader;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use termcall_congestion::layers::LAYERS;
use termcall_shared::media::simulcast::RIDS;
use termcall_shared::media::congestion::SendLink;
use termcall_shared::media::glue::{local_track, simulcast_track};
use tokio::sync::mpsc;
use tracing::{debug, warn};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use super::audio::AudioSource;
use super::codecs;
use super::counters::SendCounters;
use super::rtcp_tap::{asks_keyframe, keyframe_ssrcs};
use super::source::VideoSource;
use super::video_codec::{payloader, VideoCodec};
use rtp::Packetizer;

/// Live switches the user and the receiver flip while a call runs.
#[derive(Debug)]
pub struct Controls {
    pub audio_muted: AtomicBool,
    pub video_muted: AtomicBool,
    /// Set on a keyframe request (PLI, unmute); the video thread clears it. With simulcast, a
    /// flag per layer (from the smallest).
    pub keyframe: AtomicBool,
    pub layer_keyframe: [AtomicBool; LAYERS],
    /// The most the receiver shows, width << 32 | height (0: no limit).
    view: AtomicU64,
    /// The simulcast layers someone receives, a bit each from the smallest.
    layers: AtomicU8,
    /// The video codec to send in ([`VideoCodec::code`]; 0: as the call started).
    video_codec: AtomicU8,
    /// Another audio source (a microphone switched mid-call) for the audio thread to take at
    /// its next frame; the flag spares it the lock on every other frame.
    next_audio: std::sync::Mutex<Option<AudioSource>>,
    audio_waiting: AtomicBool,
    stop: AtomicBool,
}

impl Default for Controls {
    fn default() -> Self {
        Controls {
            audio_muted: AtomicBool::new(false),
            video_muted: AtomicBool::new(false),
            keyframe: AtomicBool::new(false),
            layer_keyframe: Default::default(),
            view: AtomicU64::new(0),
            layers: AtomicU8::new((1 << LAYERS) - 1),
            video_codec: AtomicU8::new(0),
            next_audio: std::sync::Mutex::new(None),
            audio_waiting: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }
}

impl Controls {
    /// The audio thread sends from `source` from its next frame on.
    pub fn offer_audio(&self, source: AudioSource) {
        *self.next_audio.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
        self.audio_waiting.store(true, Relaxed);
    }

    /// The source offered, if one waits (one atomic read when none does).
    pub fn take_audio(&self) -> Option<AudioSource> {
        if !self.audio_waiting.swap(false, Relaxed) {
            return None;
        }
        self.next_audio.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The receiver shows at most `width`x`height`.
    pub fn set_view(&self, width: u32, height: u32) {
        self.view.store(u64::from(width) << 32 | u64::from(height), Relaxed);
    }

    /// The most the receiver shows, if it said.
    pub fn view(&self) -> Option<(u32, u32)> {
        let v = self.view.load(Relaxed);
        (v != 0).then_some(((v >> 32) as u32, v as u32))
    }

    pub fn set_layers(&self, wanted: [bool; LAYERS]) {
        let bits = wanted.iter().enumerate().fold(0u8, |b, (i, w)| b | (u8::from(*w) << i));
        self.layers.store(bits, Relaxed);
    }

    /// Our video goes in `codec` from the next frame on.
    pub fn set_video_codec(&self, codec: VideoCodec) {
        self.video_codec.store(codec.code(), Relaxed);
    }

    /// The codec our video goes in, if one was set.
    pub fn video_codec(&self) -> Option<VideoCodec> {
        VideoCodec::from_code(self.video_codec.load(Relaxed))
    }

    pub fn layers(&self) -> [bool; LAYERS] {
        let bits = self.layers.load(Relaxed);
        std::array::from_fn(|i| bits & (1 << i) != 0)
    }
}

/// One of our tracks, with the sender it is attached to.
pub struct LocalTrack {
    pub track: Arc<TrackLocalStaticRTP>,
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
    /// A simulcast video track's SSRC per layer, from the smallest (`ssrc` is the first).
    pub layers: Option<[u32; LAYERS]>,
    /// Its transceiver's MID, which simulcast packets carry.
    pub mid: Option<String>,
}

/// Our side of the media: a track for each kind we send, a receive-only transceiver otherwise,
/// so that the other side can always send us both.
pub struct LocalTracks {
    pub video: Option<LocalTrack>,
    pub audio: Option<LocalTrack>,
}

/// Adds the tracks before the offer (or, for the answerer, after the offer is applied); video
/// as simulcast layers with `simulcast` (calls through the hub). Video is described in
/// `codecs.0`; an offerer gives, in `codecs.1`, every codec to offer, in its order.
pub async fn add_tracks(pc: &Arc<dyn PeerConnection>, video: bool, audio: bool, simulcast: bool, codecs: (VideoCodec, Option<&[VideoCodec]>)) -> anyhow::Result<LocalTracks> {
    let mut out = LocalTracks { video: None, audio: None };
    for (kind, wanted) in [(RtpCodecKind::Audio, audio), (RtpCodecKind::Video, video)] {
        if !wanted {
            let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
            pc.add_transceiver_from_kind(kind, Some(init)).await?;
            continue;
        }
        let ssrc = rand::random::<u32>();
        let layers = (simulcast && kind == RtpCodecKind::Video).then(|| std::array::from_fn(|i| if i == 0 { ssrc } else { rand::random::<u32>() }));
        let track = Arc::new(TrackLocalStaticRTP::new(describe(kind, ssrc, layers, codecs.0)));
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        let mid = if layers.is_some() { mid_of(pc, &sender).await } else { None };
        if let (RtpCodecKind::Video, Some(offered)) = (kind, codecs.1) {
            // A track's codec alone would make the offer carry only that one.
            if let Some(t) = transceiver_of(pc, &sender).await {
                t.set_codec_preferences(codecs::preferences(codecs::Repairs::Rtx, offered)).await?;
            }
        }
        let t = LocalTrack { track, sender, ssrc, layers, mid };
        if kind == RtpCodecKind::Video { out.video = Some(t) } else { out.audio = Some(t) }
    }
    Ok(out)
}

/// A track we send: of `kind`, on `ssrc` (or simulcast `layers`), in `video` if it is video.
fn describe(kind: RtpCodecKind, ssrc: u32, layers: Option<[u32; LAYERS]>, video: VideoCodec) -> rtc::media_stream::MediaStreamTrack {
    let codec = if kind == RtpCodecKind::Video { video.rtp_codec() } else { codecs::opus() };
    match layers {
        Some(ssrcs) => simulcast_track("termcall", ssrcs, codec),
        None => local_track("termcall", kind, ssrc, codec),
    }
}

impl LocalTracks {
    /// Describes our video in `codec` (the answer chose it), before the answer is applied:
    /// webrtc-rs binds a sender's retransmissions, reports and statistics to the codec its
    /// track names. The track we write to stays the same.
    pub async fn video_in(&self, codec: VideoCodec) -> anyhow::Result<()> {
        let Some(t) = &self.video else { return Ok(()) };
        let described = Arc::new(TrackLocalStaticRTP::new(describe(RtpCodecKind::Video, t.ssrc, t.layers, codec)));
        t.sender.replace_track(described as Arc<dyn TrackLocal>).await?;
        Ok(())
    }
}

/// The payload type the peer agreed to for this sender.
pub async fn payload_type(sender: &Arc<dyn RtpSender>, fallback: u8) -> u8 {
    match sender.get_parameters().await {
        Ok(p) => p.rtp_parameters.codecs.first().map_or(fallback, |c| c.payload_type),
        Err(_) => fallback,
    }
}

/// The payload type of `codec` as the peer agreed to it for this sender.
async fn video_payload_type(sender: &Arc<dyn RtpSender>, codec: VideoCodec) -> u8 {
    match sender.get_parameters().await {
        Ok(p) => p.rtp_parameters.codecs.iter().find(|c| VideoCodec::from_name(&c.rtp_codec.mime_type) == Some(codec)).map_or(codec.payload_type(), |c| c.payload_type),
        Err(_) => codec.payload_type(),
    }
}

/// Stops the media threads when dropped.
pub struct Sending {
    controls: Arc<Controls>,
    /// An audio thread runs (a microphone switched mid-call goes to it).
    pub audio: bool,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.controls.stop.store(true, Relaxed);
    }
}

/// How to encode video.
#[derive(Debug, Clone, Copy)]
pub struct VideoParams {
    /// The codec negotiated.
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The most video may use, kbit/s: the network's estimate decides below it.
    pub max_kbps: u32,
}

/// What the media threads share with the call.
pub struct Shared {
    pub controls: Arc<Controls>,
    pub counters: Arc<SendCounters>,
    pub pictures: Arc<super::Pictures>,
    /// The peer connection's congestion control.
    pub link: Arc<SendLink>,
}

/// Starts the threads for the sources we have; they stop when the returned guard drops.
pub async fn start(tracks: &LocalTracks, video: Option<(VideoSource, VideoParams)>, audio: Option<AudioSource>, shared: Shared) -> Sending {
    let sends_audio = audio.is_some() && tracks.audio.is_some();
    if let (Some(t), Some((source, params))) = (&tracks.video, video) {
        let codec = shared.controls.video_codec().unwrap_or(params.codec);
        let pt = video_payload_type(&t.sender, codec).await;
        shared.counters.codec.store(codec.code(), Relaxed);
        if let Some(ssrcs) = t.layers {
            let extensions = simulcast_extensions(t).await;
            if extensions.is_none() {
                warn!("the hub did not agree to the MID and RID header extensions: its layers may not be told apart");
            }
            let first = Packetizer::new(payloader(codec), ssrcs[0], pt, 90_000, 1, Instant::now());
            let tx: [mpsc::Sender<Encoded>; LAYERS] = std::array::from_fn(|i| {
                let packetizer = Packetizer::new(payloader(codec), ssrcs[i], pt, 90_000, 1, Instant::now())
                    .with_clock_of(&first)
                    .with_extensions(extensions.as_ref().map(|(mid_id, mid, rid_id)| vec![(*mid_id, Bytes::copy_from_slice(mid.as_bytes())), (*rid_id, Bytes::from_static(RIDS[i].as_bytes()))]).unwrap_or_default());
                rtp_pump(t.track.clone(), packetizer, 2, Some((t.sender.clone(), codec)))
            });
            watch_keyframe_requests(t.track.clone(), shared.controls.clone(), Some(ssrcs));
            let job = simulcast::Job {
                source,
                params,
                tx,
                controls: shared.controls.clone(),
                counters: shared.counters.clone(),
                selfview: shared.pictures.clone(),
                link: shared.link.clone(),
                audio: sends_audio,
            };
            spawn_thread("termcall-video", move || job.run());
        } else {
            let packetizer = Packetizer::new(payloader(codec), t.ssrc, pt, 90_000, 1, Instant::now());
            let tx = rtp_pump(t.track.clone(), packetizer, 2, Some((t.sender.clone(), codec)));
            watch_keyframe_requests(t.track.clone(), shared.controls.clone(), None);
            let job = video::Job {
                source,
                params,
                tx,
                controls: shared.controls.clone(),
                counters: shared.counters.clone(),
                selfview: shared.pictures.clone(),
                link: shared.link.clone(),
                audio: sends_audio,
            };
            spawn_thread("termcall-video", move || job.run());
        }
    }
    if let (Some(t), Some(source)) = (&tracks.audio, audio) {
        let pt = payload_type(&t.sender, codecs::OPUS_PT).await;
        let packetizer = Packetizer::new(Box::new(OpusPayloader), t.ssrc, pt, 48_000, audio::FRAME_TICKS, Instant::now());
        let tx = rtp_pump(t.track.clone(), packetizer, 4, None);
        let (c, n, l) = (shared.controls.clone(), shared.counters.clone(), shared.link.clone());
        spawn_thread("termcall-audio", move || audio::run(source, tx, &c, &n, &l));
    }
    Sending { controls: shared.controls, audio: sends_audio }
}

fn spawn_thread(name: &str, f: impl FnOnce() -> Result<(), String> + Send + 'static) {
    let name = name.to_owned();
    let n = name.clone();
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        if let Err(e) = f() {
            warn!("{n} stopped: {e}");
        }
    });
    if let Err(e) = spawned {
        warn!("cannot start a media thread: {e}");
    }
}

/// The header extensions a simulcast layer's packets carry, as the hub agreed to them: the
/// MID's id and value, and the RID's id. None if it did not agree to both.
async fn simulcast_extensions(t: &LocalTrack) -> Option<(u8, String, u8)> {
    let params = t.sender.get_parameters().await.ok()?;
    let id = |uri: &str| params.rtp_parameters.header_extensions.iter().find(|e| e.uri == uri).and_then(|e| u8::try_from(e.id).ok());
    Some((id(rtc::sdp::extmap::SDES_MID_URI)?, t.mid.clone()?, id(rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI)?))
}

/// The MID of the transceiver `sender` belongs to.
async fn mid_of(pc: &Arc<dyn PeerConnection>, sender: &Arc<dyn RtpSender>) -> Option<String> {
    transceiver_of(pc, sender).await?.mid().await.ok().flatten()
}

/// The transceiver `sender` belongs to.
async fn transceiver_of(pc: &Arc<dyn PeerConnection>, sender: &Arc<dyn RtpSender>) -> Option<Arc<dyn webrtc::rtp_transceiver::RtpTransceiver>> {
    for t in pc.get_transceivers().await {
        if t.sender().await.ok().flatten().is_some_and(|s| s.id() == sender.id()) {
            return Some(t);
        }
    }
    None
}

/// Turns the peer's PLI/FIR into a keyframe at the next frame: of the layer whose SSRC it
/// names, with simulcast `layers`.
fn watch_keyframe_requests(track: Arc<TrackLocalStaticRTP>, controls: Arc<Controls>, layers: Option<[u32; LAYERS]>) {
    tokio::spawn(async move {
        while let Some(ev) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(rtcp) = ev else { continue };
            match layers {
                Some(ssrcs) => {
                    for ssrc in keyframe_ssrcs(&rtcp) {
                        if let Some(i) = ssrcs.iter().position(|s| *s == ssrc) {
                            debug!(layer = i, "keyframe requested by the hub");
                            controls.layer_keyframe[i].store(true, Relaxed);
                        }
                    }
                }
                None if asks_keyframe(&rtcp) => {
                    debug!("keyframe requested by the peer");
                    controls.keyframe.store(true, Relaxed);
                }
                None => {}
            }
            if controls.stop.load(Relaxed) {
                return;
            }
        }
    });
}

/// One encoded frame, when it was captured, and (video) its codec.
type Encoded = (Bytes, Instant, Option<VideoCodec>);

/// An async task that packetizes frames and writes the packets to the track, fed by a small
/// channel: a media thread that finds it full skips its next raw frame. A video pump is given
/// its sender and first codec: a frame in another codec changes its payload format and type.
fn rtp_pump(track: Arc<TrackLocalStaticRTP>, mut packetizer: Packetizer, depth: usize, video: Option<(Arc<dyn RtpSender>, VideoCodec)>) -> mpsc::Sender<Encoded> {
    let (tx, mut rx) = mpsc::channel::<Encoded>(depth);
    tokio::spawn(async move {
        let mut current = video.as_ref().map(|(_, c)| *c);
        while let Some((frame, captured, codec)) = rx.recv().await {
            if let (Some(c), Some((sender, _))) = (codec, &video) {
                if current != Some(c) {
                    packetizer.set_payload(payloader(c), video_payload_type(sender, c).await);
                    current = Some(c);
                }
            }
            for p in packetizer.packetize(&frame, captured) {
                if let Err(e) = track.write_rtp(p).await {
                    debug!("packet not sent: {e}");
                }
            }
        }
    });
    tx
}

/// Sleeps until `next`, then moves it one period on; if we fell behind, starts afresh on the
/// grid (the ticks missed are skipped, not made up).
fn pace(next: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next += period;
    if *next + period < Instant::now() {
        *next = grid_start(period);
    }
}

/// The next tick of a grid of `period` laid on the wall clock (whole periods from each second):
/// a sender samples its audio (20 ms) and video (1/15 s) on grids that meet at every second, so
/// that what happens at one instant in both (the sync pattern's flash and beep, `--video sync`
/// and `--audio sync`) is captured at the same time in both.
pub fn grid_start(period: Duration) -> Instant {
    let now = Instant::now();
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // From the start of this second (whole periods since the Unix epoch would not meet the
    // seconds: 1/15 s does not divide 1.7e18 ns evenly).
    let p = period.as_nanos().max(1);
    let wait = (p - u128::from(unix.subsec_nanos()) % p) % p;
    now + Duration::from_nanos(wait as u64)
}
