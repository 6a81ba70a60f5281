//! Sending: our tracks on the peer connection, and one thread each for video and audio that
//! produce, encode and hand samples to webrtc-rs. A thread that cannot keep up skips raw frames
//! (never encoded ones), so nothing queues and latency stays flat.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use termcall_shared::media::glue::local_track;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc;
use tracing::{debug, warn};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use super::audio::{AudioSource, OpusEncoder, FRAME};
use super::codecs;
use super::counters::{add_energy, SendCounters};
use super::frame::Frame;
use super::h264::H264Encoder;
use super::rtcp_tap::asks_keyframe;
use super::recv::{publish, FrameSlot};
use super::source::VideoSource;

/// Live switches the user and the receiver flip while a call runs.
#[derive(Debug, Default)]
pub struct Controls {
    pub audio_muted: AtomicBool,
    pub video_muted: AtomicBool,
    /// Set on a keyframe request (PLI, unmute); the video thread clears it.
    pub keyframe: AtomicBool,
    stop: AtomicBool,
}

/// One of our tracks, with the sender it is attached to.
pub struct LocalTrack {
    pub track: Arc<TrackLocalStaticSample>,
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
}

/// Our side of the media: a track for each kind we send, a receive-only transceiver otherwise,
/// so that the other side can always send us both.
pub struct LocalTracks {
    pub video: Option<LocalTrack>,
    pub audio: Option<LocalTrack>,
}

/// Adds the tracks before the offer (or, for the answerer, after the offer is applied).
pub async fn add_tracks(pc: &Arc<dyn PeerConnection>, video: bool, audio: bool) -> anyhow::Result<LocalTracks> {
    let mut out = LocalTracks { video: None, audio: None };
    for (kind, wanted, codec) in [(RtpCodecKind::Audio, audio, codecs::opus()), (RtpCodecKind::Video, video, codecs::h264())] {
        if !wanted {
            let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
            pc.add_transceiver_from_kind(kind, Some(init)).await?;
            continue;
        }
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticSample::new(Instant::now(), local_track("termcall", kind, ssrc, codec))?);
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        let t = LocalTrack { track, sender, ssrc };
        if kind == RtpCodecKind::Video { out.video = Some(t) } else { out.audio = Some(t) }
    }
    Ok(out)
}


/// The payload type the peer agreed to for this sender.
pub async fn payload_type(sender: &Arc<dyn RtpSender>, fallback: u8) -> u8 {
    match sender.get_parameters().await {
        Ok(p) => p.rtp_parameters.codecs.first().map_or(fallback, |c| c.payload_type),
        Err(_) => fallback,
    }
}

/// Stops the media threads when dropped.
pub struct Sending {
    controls: Arc<Controls>,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.controls.stop.store(true, Relaxed);
    }
}

/// How to encode video.
#[derive(Debug, Clone, Copy)]
pub struct VideoParams {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

/// Starts the threads for the sources we have; they stop when the returned guard drops.
pub async fn start(
    tracks: &LocalTracks,
    video: Option<(VideoSource, VideoParams)>,
    audio: Option<AudioSource>,
    controls: Arc<Controls>,
    counters: Arc<SendCounters>,
    pictures: Arc<super::Pictures>,
) -> Sending {
    if let (Some(t), Some((source, params))) = (&tracks.video, video) {
        let pt = payload_type(&t.sender, codecs::H264_PT).await;
        let tx = sample_pump(t.track.clone(), t.ssrc, pt, 2);
        watch_keyframe_requests(t.track.clone(), controls.clone());
        let (c, n) = (controls.clone(), counters.clone());
        spawn_thread("termcall-video", move || video_loop(source, params, tx, &c, &n, &pictures.local));
    }
    if let (Some(t), Some(source)) = (&tracks.audio, audio) {
        let pt = payload_type(&t.sender, codecs::OPUS_PT).await;
        let tx = sample_pump(t.track.clone(), t.ssrc, pt, 4);
        let (c, n) = (controls.clone(), counters.clone());
        spawn_thread("termcall-audio", move || audio_loop(source, tx, &c, &n));
    }
    Sending { controls }
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

/// Turns the peer's PLI/FIR into a keyframe at the next frame.
fn watch_keyframe_requests(track: Arc<TrackLocalStaticSample>, controls: Arc<Controls>) {
    tokio::spawn(async move {
        while let Some(ev) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(rtcp) = ev else { continue };
            if asks_keyframe(&rtcp) {
                debug!("keyframe requested by the peer");
                controls.keyframe.store(true, Relaxed);
            }
            if controls.stop.load(Relaxed) {
                return;
            }
        }
    });
}

/// An async task that writes samples to the track, fed by a small channel.
fn sample_pump(track: Arc<TrackLocalStaticSample>, ssrc: u32, pt: u8, depth: usize) -> mpsc::Sender<Sample> {
    let (tx, mut rx) = mpsc::channel::<Sample>(depth);
    tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&s).await {
                debug!("sample not sent: {e}");
            }
        }
    });
    tx
}

/// Sleeps until `next`, then moves it one period on; if we fell behind, starts afresh from now
/// (the ticks missed are skipped, not made up).
fn pace(next: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next += period;
    if *next + period < Instant::now() {
        *next = Instant::now() + period;
    }
}

fn video_loop(mut source: VideoSource, p: VideoParams, tx: mpsc::Sender<Sample>, c: &Controls, n: &SendCounters, selfview: &FrameSlot) -> Result<(), String> {
    let fps = p.fps.clamp(1, 60);
    let period = Duration::from_secs_f64(1.0 / f64::from(fps));
    let mut enc = H264Encoder::new(p.width, p.height, fps as f32, p.kbps, fps * 2)?;
    let mut frame = Frame::new(p.width, p.height);
    let mut shown = Frame::new(p.width, p.height);
    let mut next = Instant::now();
    let mut was_muted = false;
    while !c.stop.load(Relaxed) && !tx.is_closed() {
        pace(&mut next, period);
        if c.video_muted.load(Relaxed) {
            was_muted = true;
            continue;
        }
        if tx.capacity() == 0 {
            // The network side is behind: skip this raw frame rather than queue it.
            n.video_skipped.fetch_add(1, Relaxed);
            continue;
        }
        let captured = Instant::now();
        source.next_into(&mut frame)?;
        if !selfview.is_closed() {
            // A copy into a recycled buffer (see `publish`): the self-view never holds up the encoder.
            shown.resize(frame.width, frame.height);
            shown.rgb.copy_from_slice(&frame.rgb);
            publish(selfview, &mut shown);
        }
        if c.keyframe.swap(false, Relaxed) || std::mem::take(&mut was_muted) {
            enc.force_keyframe();
        }
        let au = enc.encode(&frame)?;
        if au.is_empty() {
            continue;
        }
        n.video_frames.fetch_add(1, Relaxed);
        n.video_bytes.fetch_add(au.len() as u64, Relaxed);
        let sample = Sample { data: Bytes::copy_from_slice(au), duration: period, ..Sample::new(captured) };
        if tx.try_send(sample).is_err() {
            n.video_skipped.fetch_add(1, Relaxed);
            c.keyframe.store(true, Relaxed); // an encoded frame was lost: resync the decoder
        }
    }
    Ok(())
}

fn audio_loop(mut source: AudioSource, tx: mpsc::Sender<Sample>, c: &Controls, n: &SendCounters) -> Result<(), String> {
    let period = Duration::from_millis(20);
    let mut enc = OpusEncoder::new()?;
    let mut pcm = [0i16; FRAME];
    let mut next = Instant::now();
    while !c.stop.load(Relaxed) && !tx.is_closed() {
        pace(&mut next, period);
        if c.audio_muted.load(Relaxed) {
            continue;
        }
        let captured = Instant::now();
        source.next_into(&mut pcm);
        add_energy(&n.audio_sq, &n.audio_samples, &pcm);
        let packet = enc.encode(&pcm)?;
        n.audio_packets.fetch_add(1, Relaxed);
        n.audio_bytes.fetch_add(packet.len() as u64, Relaxed);
        let _ = tx.try_send(Sample { data: Bytes::copy_from_slice(packet), duration: period, ..Sample::new(captured) });
    }
    Ok(())
}
