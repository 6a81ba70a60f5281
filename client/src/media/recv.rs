//! Receiving: RTP from a remote track, depacketized, decoded and measured. Video decodes on a
//! thread of its own and publishes only the newest picture; a slow consumer never builds a queue.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use termcall_shared::media::congestion::SendLink;
use tokio::sync::watch;
use tracing::debug;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::assembler::Assembler;
use super::audio::OpusDecoder;
use super::counters::{add_energy, RecvCounters};
use super::frame::Frame;
use super::h264::Decoded;
use super::jitter::JitterTarget;
use super::lipsync::{unix_us, LipSync};
use super::video_codec::{is_keyframe, VideoCodec, VideoDecoder};
use super::rtcp_tap::ClockMap;

/// The newest decoded remote picture, for whoever draws or snapshots it.
pub type FrameSlot = watch::Sender<Option<Arc<Frame>>>;
/// A reader of a [`FrameSlot`].
pub type FrameWatch = watch::Receiver<Option<Arc<Frame>>>;

/// A frame for the decoder: its data, RTP time, whether something before it was lost, its codec.
type Unit = (Bytes, u32, bool, VideoCodec);

/// At most one keyframe request per this long.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// Access units waiting for the decoder; past this the decoder is too slow and we resync.
/// Frames held for lip sync wait here too: 300 ms of 30 fps, and some.
const DECODE_QUEUE: usize = 16;

/// Puts `picture` in the slot, and gives back in its place the picture it replaces when nobody
/// holds that one any more, so that its buffer is reused: no allocation per frame once warm.
pub fn publish(slot: &FrameSlot, picture: &mut Frame) {
    let fresh = Arc::new(std::mem::replace(picture, Frame::new(0, 0)));
    if let Some(old) = slot.send_replace(Some(fresh)) {
        if let Ok(f) = Arc::try_unwrap(old) {
            *picture = f;
        }
    }
}

/// Where decoded pictures of one remote track go: the call's main remote picture, or a
/// participant's own slot (a tile) in a call through the hub.
pub enum Screen {
    Main(Arc<super::Pictures>),
    Tile(Arc<FrameSlot>),
}

impl Screen {
    fn slot(&self) -> &FrameSlot {
        match self {
            Screen::Main(p) => &p.remote,
            Screen::Tile(s) => s,
        }
    }
}

/// How received media is played.
#[derive(Debug, Clone, Copy)]
pub struct Playout {
    /// Audio goes to the speaker (with the `sound` feature; ignored without).
    pub speaker: bool,
    /// Video is shown in step with the audio heard ([`super::lipsync`]).
    pub lip_sync: bool,
}

/// Reads a remote track until it ends.
/// `link` is the call's link, for its round trip: how long a lost packet's repair takes.
/// Audio goes to the speaker `device` names or the default, following it when it changes.
pub async fn run(track: Arc<dyn TrackRemote>, counters: Arc<RecvCounters>, screen: Screen, link: Arc<SendLink>, playout: Playout, device: watch::Receiver<Option<String>>) {
    match track.kind().await {
        RtpCodecKind::Video => video(track, counters, screen, &link).await,
        RtpCodecKind::Audio => audio(track, counters, playout, device).await,
        _ => while track.poll().await.is_some() {},
    }
}

async fn video(track: Arc<dyn TrackRemote>, counters: Arc<RecvCounters>, screen: Screen, link: &SendLink) {
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let codec = match track.codec(media_ssrc).await {
        None => VideoCodec::H264,
        Some(c) => match VideoCodec::from_name(&c.mime_type) {
            Some(codec) => codec,
            None => {
                tracing::warn!("video in {} cannot be decoded here: ignoring it", c.mime_type);
                while track.poll().await.is_some() {}
                return;
            }
        },
    };
    counters.codec.store(codec.code(), Relaxed);
    // The sender starts with a keyframe: ask only when something goes wrong (a loss, a frame
    // that does not decode). Asking at once would make it send a second one behind the first.
    let need_keyframe = Arc::new(AtomicBool::new(false));
    let clock: Arc<Mutex<Option<ClockMap>>> = Arc::default();
    let (tx, rx) = sync_channel::<Unit>(DECODE_QUEUE);
    {
        let (c, k, m) = (counters.clone(), need_keyframe.clone(), clock.clone());
        let spawned = std::thread::Builder::new().name("termcall-decode".into()).spawn(move || decode_loop(codec, rx, &c, &k, &m, screen.slot()));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the video decoder thread: {e}");
            return;
        }
    }
    let mut assembler = Assembler::new(codec);
    // The codec can change mid-call (the hub moves a room to VP8 when someone needs it): the
    // first packet in another payload type starts a new assembler, and the decoder follows.
    let (mut codec, mut pt) = (codec, None);
    let mut last_pli: Option<Instant> = None;
    let mut dropped = false;
    while let Some(ev) = track.poll().await {
        let p = match ev {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnRtcpPacket(rtcp) => {
                if let Some(map) = ClockMap::from_rtcp(&rtcp, media_ssrc) {
                    *clock.lock().unwrap_or_else(|e| e.into_inner()) = Some(map);
                }
                continue;
            }
            _ => continue,
        };
        counters.video_bytes.fetch_add(p.payload.len() as u64, Relaxed);
        let now = Instant::now();
        if pt != Some(p.header.payload_type) {
            let known = pt.is_some();
            pt = Some(p.header.payload_type);
            if let Some(c) = VideoCodec::of_payload_type(p.header.payload_type).filter(|c| known && *c != codec) {
                debug!(from = %codec, to = %c, "the video codec changed");
                codec = c;
                counters.codec.store(c.code(), Relaxed);
                assembler = Assembler::new(c);
            }
        }
        assembler.set_rtt(link.rtt());
        assembler.push(p, now);
        while let Some(au) = assembler.pop(now) {
            // A frame after a loss (or after one the decoder had no room for) refers to what
            // never came: the decoder waits for a keyframe.
            let broken = au.after_loss || std::mem::take(&mut dropped);
            if broken {
                need_keyframe.store(true, Relaxed);
            }
            match tx.try_send((au.data, au.rtp_ts, broken, codec)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    need_keyframe.store(true, Relaxed);
                    dropped = true;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if need_keyframe.load(Relaxed) && last_pli.is_none_or(|t| now.duration_since(t) >= PLI_INTERVAL) {
            last_pli = Some(now);
            need_keyframe.store(false, Relaxed);
            debug!("asking for a keyframe");
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
            if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                debug!("PLI not sent: {e}");
            }
        }
    }
}

/// Decodes access units as they come. After a loss or a frame that did not decode, the frames
/// until the next keyframe would decode into a broken picture (or not at all): they are
/// skipped, and the last good picture stays on screen until the keyframe asked for comes.
fn decode_loop(mut codec: VideoCodec, rx: Receiver<Unit>, counters: &RecvCounters, need_keyframe: &AtomicBool, clock: &Mutex<Option<ClockMap>>, frames: &FrameSlot) {
    let mut dec = match VideoDecoder::new(codec) {
        Ok(d) => d,
        Err(e) => return tracing::warn!("{e}"),
    };
    let mut spare = Frame::new(0, 0);
    let mut broken = false;
    let mut sync = LipSync::default();
    let mut flashing = false;
    while let Ok((au, rtp_ts, after_loss, of)) = rx.recv() {
        if of != codec {
            match VideoDecoder::new(of) {
                Ok(d) => (dec, codec, broken) = (d, of, true), // starts at a keyframe
                Err(e) => return tracing::warn!("{e}"),
            }
        }
        broken |= after_loss;
        if broken {
            if !is_keyframe(codec, &au) {
                counters.frames_held.fetch_add(1, Relaxed);
                need_keyframe.store(true, Relaxed);
                continue;
            }
            broken = false;
        }
        match dec.decode(&au, &mut spare) {
            Ok(Decoded::Picture) => {
                // Capture-to-decode: the sender's wall clock for this RTP time, from its last report.
                let map = *clock.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(map) = map {
                    let captured = map.wall_clock(rtp_ts, 90_000);
                    if let Ok(d) = SystemTime::now().duration_since(captured) {
                        let us = (d.as_micros() as u64).max(1);
                        counters.latency_us.store(us, Relaxed);
                        counters.latency_sum_us.fetch_add(us, Relaxed);
                        counters.latency_count.fetch_add(1, Relaxed);
                    }
                    // In step with the sound being heard: held while it is ahead of it.
                    if let Some(heard) = counters.av.heard_at(Instant::now()) {
                        let ahead_ms = (unix_us(captured) as i64 - heard) as f64 / 1000.0;
                        let hold = sync.on_frame(ahead_ms);
                        counters.av.set_audio_extra_ms(sync.audio_extra_ms());
                        if !hold.is_zero() {
                            std::thread::sleep(hold);
                        }
                    }
                }
                counters.frames_decoded.fetch_add(1, Relaxed);
                counters.width.store(spare.width, Relaxed);
                counters.height.store(spare.height, Relaxed);
                let flash = super::syncpattern::is_flash(&spare);
                publish(frames, &mut spare);
                if flash && !flashing {
                    counters.flash_at_ms.store(unix_us(SystemTime::now()) / 1000, Relaxed);
                }
                flashing = flash;
            }
            Ok(Decoded::Nothing) => {}
            Err(e) => {
                debug!("dropping a frame: {e}");
                counters.decode_errors.fetch_add(1, Relaxed);
                need_keyframe.store(true, Relaxed);
                broken = true;
            }
        }
    }
}

async fn audio(track: Arc<dyn TrackRemote>, counters: Arc<RecvCounters>, playout: Playout, mut device: watch::Receiver<Option<String>>) {
    let play = playout.speaker;
    let mut dec = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => return tracing::warn!("{e}"),
    };
    let mut speaker = open_speaker(play, device.borrow_and_update().as_deref());
    let mut jitter = JitterTarget::new(super::audio::RATE);
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let mut clock: Option<ClockMap> = None;
    while let Some(ev) = track.poll().await {
        let p = match ev {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnRtcpPacket(rtcp) => {
                clock = ClockMap::from_rtcp(&rtcp, media_ssrc).or(clock);
                continue;
            }
            _ => continue,
        };
        let now = Instant::now();
        jitter.on_packet(now, p.header.timestamp);
        counters.audio_jitter_ms.store(jitter.target_ms().round() as u32, Relaxed);
        // Lip sync may ask the sound to wait for the picture.
        let target_ms = jitter.target_ms() + counters.av.audio_extra_ms();
        // Another speaker was chosen (checked by the engine before it got here): one atomic
        // read a packet until then.
        if device.has_changed().unwrap_or(false) {
            let name = device.borrow_and_update().clone();
            debug!(?name, "the speaker changes");
            speaker = open_speaker(play, name.as_deref());
        }
        counters.audio_packets.fetch_add(1, Relaxed);
        counters.audio_bytes.fetch_add(p.payload.len() as u64, Relaxed);
        match dec.decode(&p.payload) {
            Ok(pcm) => {
                add_energy(&counters.audio_sq, &counters.audio_samples, pcm);
                let level = super::audio::level_dbov(super::audio::sum_squares(pcm), pcm.len() as u64);
                counters.audio_level_decidb.store(((level * 10.0) as i32).min(-1), Relaxed);
                speaker.play(pcm, target_ms, level < QUIET_DBOV);
                // What is heard now: this packet's end, less what waits before it is.
                match (clock, speaker.delay_ms()) {
                    (Some(map), Some(delay_ms)) if playout.lip_sync => {
                        let end = map.wall_clock(p.header.timestamp.wrapping_add(pcm.len() as u32), super::audio::RATE);
                        counters.av.heard(end.checked_sub(Duration::from_secs_f64(delay_ms / 1000.0)).unwrap_or(end), now);
                    }
                    _ => counters.av.silent(),
                }
            }
            Err(e) => debug!("dropping an audio packet: {e}"),
        }
    }
    counters.av.silent();
}

/// Where received audio is played: the speaker with the `sound` feature, else nowhere.
struct Playback(#[cfg(feature = "sound")] Option<super::sound::Speaker>);

impl Playback {
    /// Queues `pcm` to wait `target_ms` before it plays: silence first if much less waits (the
    /// target grew), or nothing if far more does (`quiet` frames, near silence, go first).
    #[inline]
    fn play(&mut self, _pcm: &[i16], _target_ms: f64, _quiet: bool) {
        #[cfg(feature = "sound")]
        if let Some(s) = &mut self.0 {
            s.set_target_ms(_target_ms);
            let buffered = s.buffered_ms();
            if super::jitter::sheds(buffered, _target_ms, _quiet) {
                return;
            }
            let short = super::jitter::short_ms(buffered, _target_ms);
            if short > 0.0 {
                s.pad_ms(short);
            }
            s.play(_pcm);
        }
    }

    /// How long what is queued now waits before it is heard (the speaker's ring and the
    /// device's own buffer), ms; `None` without a speaker.
    fn delay_ms(&self) -> Option<f64> {
        #[cfg(feature = "sound")]
        if let Some(s) = &self.0 {
            return Some(s.buffered_ms() + s.device_latency_ms());
        }
        None
    }
}

/// A frame under this level is quiet: shed first when too much audio waits.
const QUIET_DBOV: f64 = -45.0;

#[cfg(feature = "sound")]
fn open_speaker(play: bool, device: Option<&str>) -> Playback {
    Playback(play.then(|| super::sound::Speaker::open(device)).and_then(|r| r.map_err(|e| tracing::warn!("not playing audio: {e}")).ok()))
}

#[cfg(not(feature = "sound"))]
fn open_speaker(_play: bool, _device: Option<&str>) -> Playback {
    Playback()
}
