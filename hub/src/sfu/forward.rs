//! The hot path: one participant's track, packet by packet, to every receiver of it.
//! The receivers change rarely (joins, leaves) and are read without a lock: the loop keeps its
//! own list and swaps it when the watch says it changed. Keyframe requests from receivers set a
//! flag; the loop passes them to the sender at most once per [`PLI_INTERVAL`].

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use termcall_shared::media::rtcp_tap::asks_keyframe;
use tokio::sync::watch;
use tracing::debug;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::metrics::Metrics;

/// At most one keyframe request per stream this often, however many receivers ask.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// One receiver of a stream: a track on the receiver's peer connection, with its own SSRC.
#[derive(Clone)]
pub struct Sink {
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
}

/// The receivers of one stream; the room edits it, the forwarding loop reads it.
pub type Sinks = watch::Sender<Arc<[Sink]>>;

/// What one sending participant's streams share: receivers per kind, and the keyframe flag.
pub struct Upstream {
    pub video: Sinks,
    pub audio: Sinks,
    /// Set when a receiver asks for a keyframe or a new receiver joins.
    pub keyframe: Arc<AtomicBool>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream { video: watch::channel(Arc::from([])).0, audio: watch::channel(Arc::from([])).0, keyframe: Arc::default() }
    }
}

impl Upstream {
    /// The receivers of `kind`.
    pub fn sinks(&self, kind: RtpCodecKind) -> &Sinks {
        if kind == RtpCodecKind::Video { &self.video } else { &self.audio }
    }

    /// Adds a receiver of `kind`.
    pub fn add(&self, kind: RtpCodecKind, sink: Sink) {
        self.sinks(kind).send_modify(|list| *list = list.iter().cloned().chain([sink]).collect());
        if kind == RtpCodecKind::Video {
            self.keyframe.store(true, Relaxed); // the new receiver can decode nothing until one
        }
    }

    /// Removes every receiver whose track is among `tracks`.
    pub fn remove(&self, tracks: &[Arc<TrackLocalStaticRTP>]) {
        for s in [&self.video, &self.audio] {
            s.send_if_modified(|list| {
                let before = list.len();
                *list = list.iter().filter(|k| !tracks.iter().any(|t| Arc::ptr_eq(t, &k.track))).cloned().collect();
                list.len() != before
            });
        }
    }
}

/// Forwards `track` to its receivers until the track ends or its sender leaves the room.
pub async fn run(track: Arc<dyn TrackRemote>, mut sinks: watch::Receiver<Arc<[Sink]>>, keyframe: Arc<AtomicBool>, metrics: Arc<Metrics>) {
    let video = track.kind().await == RtpCodecKind::Video;
    let ssrcs = track.ssrcs().await;
    let Some(&media_ssrc) = ssrcs.first() else { return };
    let mut current = sinks.borrow_and_update().clone();
    let mut last_pli: Option<Instant> = None;
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(mut packet) = ev else { continue };
        let arrived = Instant::now();
        match sinks.has_changed() {
            Ok(true) => current = sinks.borrow_and_update().clone(),
            Ok(false) => {}
            Err(_) => return, // the sender left the room
        }
        // Only the primary stream: a repair stream's packets would need their own SSRC.
        if packet.header.ssrc != media_ssrc {
            continue;
        }
        // Header extensions were negotiated on the sender's leg, not on the receivers'.
        packet.header.extension = false;
        packet.header.extensions.clear();
        let n = current.len();
        for (i, sink) in current.iter().enumerate() {
            let mut p = if i + 1 == n { std::mem::take(&mut packet) } else { packet.clone() };
            p.header.ssrc = sink.ssrc;
            if let Err(e) = sink.track.write_rtp(p).await {
                debug!("not forwarded: {e}");
            }
        }
        if n > 0 {
            Metrics::add(&metrics.sfu_rtp_forwarded_total, n as u64);
            metrics.sfu_forward_us.observe(arrived.elapsed().as_micros() as u64);
        }
        if video && keyframe.load(Relaxed) {
            if last_pli.is_some_and(|t| arrived.duration_since(t) < PLI_INTERVAL) {
                continue; // held: it goes once the interval is over
            }
            keyframe.store(false, Relaxed);
            last_pli = Some(arrived);
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
            match track.write_rtcp(vec![Box::new(pli)]).await {
                Ok(()) => Metrics::add(&metrics.sfu_pli_forwarded_total, 1),
                Err(e) => debug!("PLI not sent: {e}"),
            }
        }
    }
}

/// Reads a receiver's feedback on one of its tracks: keyframe requests set the sender's flag
/// (counted as throttled when one was asked for already). Runs until `alive`'s sender drops.
/// The track has no feedback to read until negotiation binds it: until then it is retried.
pub async fn watch_feedback(track: Arc<TrackLocalStaticRTP>, keyframe: Arc<AtomicBool>, metrics: Arc<Metrics>, mut alive: watch::Receiver<()>) {
    loop {
        tokio::select! {
            ev = track.poll() => match ev {
                Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                    if asks_keyframe(&packets) && keyframe.swap(true, Relaxed) {
                        Metrics::add(&metrics.sfu_pli_throttled_total, 1);
                    }
                }
                Some(_) => {}
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            r = alive.changed() => if r.is_err() { return },
        }
    }
}
