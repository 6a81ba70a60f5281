//! The tracks that carry one participant's media to another: a track per kind on the
//! receiver's connection, each with its queue ([`DownTrack`]) and the tasks that empty it and
//! read its feedback, and what the receiver says it shows of each sender.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use termcall_shared::media::codecs::{self, VideoCodec};
use termcall_shared::media::glue::local_track;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use crate::metrics::Metrics;
use crate::sfu::downtrack::{self, DownTrack, Sink};
use crate::sfu::forward::{self, Upstream};
use crate::sfu::receiver::ReceiverLink;

/// One track on a receiver's peer connection carrying one kind of a sender's media.
pub(super) struct Outlet {
    pub track: Arc<TrackLocalStaticRTP>,
    pub sender: Arc<dyn RtpSender>,
    /// The stream id and SSRC it was made with, and (video) the codec it is described in.
    pub stream: String,
    pub ssrc: u32,
    pub codec: Option<VideoCodec>,
    /// Its queue, which also holds what the receiver shows of it.
    pub down: Arc<DownTrack>,
    /// Dropping it stops the tasks reading this track's feedback and writing its queue.
    _alive: watch::Sender<()>,
}

/// What a participant says it shows of the others' video (`view` signals).
#[derive(Default)]
pub(super) struct Views {
    pub all: Option<(u32, u32)>,
    /// By sender name; a few dozen at most (one per participant), replaced, never grown past
    /// the room's size.
    pub each: HashMap<String, (u32, u32)>,
}

impl Views {
    /// What it shows of `sender`.
    pub(super) fn of(&self, sender: &str) -> Option<(u32, u32)> {
        self.each.get(sender).copied().or(self.all)
    }
}

/// Adds to `pc` (`receiver`'s) a track per kind carrying `source`'s media, under the stream id `stream`
/// (the sender's name, which the receiver shows), and makes them receivers of it; the video
/// one described in `video` (the room's codec, or one the receiver takes; the section offers
/// both), showing at most `view`, if the receiver said. A receiver that takes no video
/// (`None`: it refused every video section) gets the video track off again at once: its
/// section is then offered as rejected, and nothing is forwarded into it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn outlets(
    pc: &Arc<dyn PeerConnection>,
    receiver: &Arc<ReceiverLink>,
    stream: &str,
    source: &Upstream,
    view: Option<(u32, u32)>,
    video: Option<VideoCodec>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<[Outlet; 2]> {
    let mut made = Vec::with_capacity(2);
    let described = video.unwrap_or(VideoCodec::H264);
    for (kind, codec) in [(RtpCodecKind::Audio, codecs::opus()), (RtpCodecKind::Video, described.rtp_codec())] {
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(local_track(stream, kind, ssrc, codec)));
        // A transceiver of its own (not one of the participant's upstream ones, which
        // add_track would reuse): a new m-line per stream, so the receiver sees a new track.
        let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Sendonly, ..Default::default() };
        let transceiver = pc.add_transceiver_from_track(track.clone() as Arc<dyn TrackLocal>, Some(init)).await?;
        let sender = transceiver.sender().await?.ok_or_else(|| anyhow::anyhow!("a send transceiver without a sender"))?;
        if kind == RtpCodecKind::Video {
            // Every codec the hub has, this one first: the receiver takes what it decodes.
            transceiver.set_codec_preferences(codecs::preferences(codecs::Repairs::InBand, &crate::sfu::codec::ordered(described))).await?;
        }
        let (alive, alive_rx) = watch::channel(());
        tokio::spawn(forward::watch_feedback(track.clone(), source.keyframe.clone(), metrics.clone(), alive_rx.clone()));
        let queue = if kind == RtpCodecKind::Video { downtrack::VIDEO_QUEUE } else { downtrack::AUDIO_QUEUE };
        let down = Arc::new(DownTrack::new(ssrc, queue, receiver.clone()));
        tokio::spawn(downtrack::drain(down.clone(), track.clone(), metrics.clone(), alive_rx));
        if kind == RtpCodecKind::Video {
            if let Some((w, h)) = view {
                down.set_view(w, h);
            }
        }
        let codec = (kind == RtpCodecKind::Video).then_some(described);
        made.push((kind, down.clone(), Outlet { track, sender, stream: stream.to_owned(), ssrc, codec, down, _alive: alive }));
    }
    receiver.video_streams.fetch_add(1, Relaxed);
    // Receivers of `source` only once both exist: a failure above leaves its forwarding as it was.
    for (kind, down, o) in &made {
        if *kind == RtpCodecKind::Video && video.is_none() {
            pc.remove_track(&o.sender).await?;
            continue;
        }
        source.add(*kind, Sink { track: o.track.clone(), down: down.clone() });
    }
    let [(_, _, audio), (_, _, video)]: [_; 2] = made.try_into().map_err(|_| anyhow::anyhow!("not two outlets"))?;
    Ok([audio, video])
}

impl Outlet {
    /// Describes this (video) outlet in the first codec the receiver `takes` when it does not
    /// take the one it was made in: before the receiver's answer is applied, so that webrtc-rs
    /// binds the sender (retransmissions, transport-wide sequence numbers) to a codec it
    /// negotiated.
    pub(super) async fn describe_for(&mut self, takes: &[VideoCodec]) -> anyhow::Result<()> {
        let (Some(current), Some(&codec)) = (self.codec, takes.first()) else { return Ok(()) };
        if takes.contains(&current) {
            return Ok(());
        }
        let described = Arc::new(TrackLocalStaticRTP::new(local_track(&self.stream, RtpCodecKind::Video, self.ssrc, codec.rtp_codec())));
        self.sender.replace_track(described as Arc<dyn TrackLocal>).await?;
        self.codec = Some(codec);
        Ok(())
    }
}
