//! The hot path: one participant's track, packet by packet, to every receiver of it.
//! The receivers change rarely (joins, leaves) and are read without a lock: the loop keeps its
//! own list and swaps it when the watch says it changed. Each receiver has its own queue
//! ([`super::downtrack::DownTrack`]): the loop pushes and never waits on a receiver. Of a simulcast sender, each
//! receiver gets one layer, the smallest that covers what it shows ([`SenderLayers`] and
//! [`termcall_congestion::layers`]), and the sender is told which layers anyone gets.
//! Keyframe requests from receivers (and from queues that overflowed, and from layer switches)
//! set a flag; the loop passes them to the sender at most once per [`PLI_INTERVAL`] per layer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use termcall_congestion::layers::{Forwarder, Verdict, LAYERS};
use termcall_shared::media::rtcp_tap::asks_keyframe;
use termcall_shared::media::codecs::VideoCodec;
use termcall_shared::media::simulcast::keyframe_start;
use termcall_shared::Signal;
use tokio::sync::watch;
use tracing::debug;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::downtrack::Sink;
use super::layers::SenderLayers;
use super::select::{choose_layers, Receiver};
use crate::metrics::Metrics;

/// At most one keyframe request per stream this often, however many receivers ask.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// The receivers of one stream; the room edits it, the forwarding loop reads it.
pub type Sinks = watch::Sender<Arc<[Sink]>>;

/// What one sending participant's streams share: receivers per kind, the keyframe flag, and
/// its simulcast size.
pub struct Upstream {
    pub video: Sinks,
    pub audio: Sinks,
    /// Set when a receiver asks for a keyframe or a new receiver joins.
    pub keyframe: Arc<AtomicBool>,
    /// The full size of its simulcast layers (width << 32 | height; 0: none announced).
    pub full_size: Arc<AtomicU64>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream { video: watch::channel(Arc::from([])).0, audio: watch::channel(Arc::from([])).0, keyframe: Arc::default(), full_size: Arc::default() }
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

/// What a sender's forwarding loop is told by the room, and tells it back.
#[derive(Clone)]
pub struct SenderLink {
    pub keyframe: Arc<AtomicBool>,
    /// The sender's full picture size from its `simulcast` announcement, width << 32 | height.
    pub full_size: Arc<AtomicU64>,
    /// Sends a signal to the sender (which simulcast layers someone receives).
    pub tell: Tell,
}

/// A way to send the sender a signal.
pub type Tell = Arc<dyn Fn(Signal) + Send + Sync>;

/// How often each receiver's layer is chosen again.
const CHOOSE_EVERY: Duration = Duration::from_millis(250);
/// Unknown SSRCs (a repair stream, a RID not ours) remembered so they are looked up once.
const IGNORED: usize = 8;

/// Forwards `track` to its receivers until the track ends or its sender leaves the room: for
/// each receiver, the one layer chosen for it (see [`Forwarder`]), renumbered so that it sees
/// one continuous stream.
pub async fn run(track: Arc<dyn TrackRemote>, mut sinks: watch::Receiver<Arc<[Sink]>>, link: SenderLink, metrics: Arc<Metrics>) {
    let video = track.kind().await == RtpCodecKind::Video;
    let clock_rate = if video { 90_000 } else { 48_000 };
    let epoch = Instant::now();
    let mut layers = SenderLayers::new(epoch);
    let mut ignored: Vec<u32> = Vec::with_capacity(IGNORED);
    let mut receivers: Vec<Receiver> = Vec::new();
    let mut next_choice = epoch;
    let mut told: Option<[bool; LAYERS]> = None;
    let mut simulcast = false;
    let mut last_pli: [Option<Instant>; LAYERS] = [None; LAYERS];
    let mut pli_due = [false; LAYERS];
    // This stream, among each receiver's probes.
    let me: u64 = rand::random();
    // The receivers there already are taken in with the first packet.
    sinks.mark_changed();
    while let Some(ev) = track.poll().await {
        let mut packet = match ev {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnOpen(init) => {
                if let Some(rid) = init.rid.as_deref() {
                    simulcast |= layers.learn(init.ssrc, Some(rid)).is_some();
                }
                continue;
            }
            _ => continue,
        };
        let arrived = Instant::now();
        match sinks.has_changed() {
            Ok(true) => {
                let listed = sinks.borrow_and_update().clone();
                // Receivers still there keep their layer state; new ones start with none.
                let mut old = std::mem::take(&mut receivers);
                let kept = |r: &Receiver| listed.iter().any(|s| Arc::ptr_eq(&s.down, &r.sink.down));
                for gone in old.iter().filter(|r| !kept(r)) {
                    gone.sink.down.receiver.shares().forget(me);
                }
                receivers = listed
                    .iter()
                    .map(|sink| match old.iter().position(|r| Arc::ptr_eq(&r.sink.down, &sink.down)) {
                        Some(i) => old.swap_remove(i),
                        None => Receiver { sink: sink.clone(), layers: Forwarder::new(clock_rate) },
                    })
                    .collect();
                next_choice = arrived;
            }
            Ok(false) => {}
            Err(_) => break, // the sender left the room
        }
        let ssrc = packet.header.ssrc;
        let layer = match layers.layer(ssrc) {
            Some(l) => l,
            None if ignored.contains(&ssrc) => continue,
            None => {
                let rid = track.rid(ssrc).await;
                simulcast |= rid.is_some();
                match layers.learn(ssrc, rid.as_deref()) {
                    Some(l) => l,
                    None => {
                        if ignored.len() == IGNORED {
                            ignored.remove(0);
                        }
                        ignored.push(ssrc);
                        continue;
                    }
                }
            }
        };
        layers.on_packet(layer, super::downtrack::wire_size(&packet), arrived);
        if arrived >= next_choice {
            next_choice = arrived + CHOOSE_EVERY;
            let full = link.full_size.load(Relaxed);
            layers.set_full_size((full >> 32) as u32, full as u32);
            let wanted = choose_layers(&mut receivers, &layers, arrived, video, me, &mut pli_due);
            if video && simulcast && told != Some(wanted) {
                told = Some(wanted);
                debug!(?wanted, "simulcast layers someone receives");
                (link.tell)(Signal::Layers { wanted });
            }
        }
        // Header extensions were negotiated on the sender's leg, not on the receivers'.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extensions_padding = 0;
        packet.header.extension_profile = 0;
        // The codec is the payload type's (the hub numbers them: it makes the offers). It may
        // change mid-call when the room's codec does.
        let codec = VideoCodec::of_payload_type(packet.header.payload_type);
        if video && codec.is_none() {
            continue;
        }
        // Audio has no layers to switch: every packet may start the stream.
        let key = codec.is_none_or(|c| keyframe_start(c, &packet.payload));
        let now_us = arrived.saturating_duration_since(epoch).as_micros() as u64;
        let (seq, ts) = (packet.header.sequence_number, packet.header.timestamp);
        for r in receivers.iter_mut() {
            // A receiver that cannot decode this codec is not sent it (a room without a codec
            // for everyone; its video arrives from those who send one it takes).
            if let Some(c) = codec {
                if !super::codec::holds(r.sink.down.receiver.takes.load(Relaxed), c) {
                    continue;
                }
            }
            let before = r.layers.current();
            let Verdict::Forward { seq, ts } = r.layers.on_packet(layer, seq, ts, key, now_us) else { continue };
            if before != r.layers.current() {
                debug!(video, layer, from = ?before, first = ?&packet.payload[..packet.payload.len().min(4)], "a receiver starts on a layer");
            }
            // A clone shares the payload (reference-counted bytes) and has no extensions or
            // CSRCs to copy: it allocates nothing.
            let mut p = packet.clone();
            p.header.sequence_number = seq;
            p.header.timestamp = ts;
            let down = &r.sink.down;
            if video && key {
                // A keyframe's burst is no sign of congestion to the receiver's estimator.
                down.receiver.link.keyframe_sent();
            }
            if video {
                down.receiver.figures.layer_packets[layer].fetch_add(1, Relaxed);
                down.receiver.figures.layer_bytes[layer].fetch_add(p.payload.len() as u64, Relaxed);
            }
            if down.push(p, arrived) {
                Metrics::add(&metrics.sfu_queue_dropped_total, 1);
                // The receiver lost part of a frame: one keyframe request per overflow, which
                // lasts until its queue is empty again.
                if video && !down.overflowed.swap(true, Relaxed) {
                    link.keyframe.store(true, Relaxed);
                }
            }
        }
        if !video {
            continue;
        }
        if link.keyframe.swap(false, Relaxed) {
            // A receiver asked (or a new one came): the layers they get, or wait for.
            for r in &receivers {
                for l in [r.layers.current(), r.layers.pending()].into_iter().flatten() {
                    pli_due[l] = true;
                }
            }
        }
        for l in 0..LAYERS {
            if !pli_due[l] || last_pli[l].is_some_and(|t| arrived.duration_since(t) < PLI_INTERVAL) {
                continue; // held: it goes once the interval is over
            }
            let Some(media_ssrc) = layers.ssrc(l) else { continue };
            pli_due[l] = false;
            last_pli[l] = Some(arrived);
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
            match track.write_rtcp(vec![Box::new(pli)]).await {
                Ok(()) => Metrics::add(&metrics.sfu_pli_forwarded_total, 1),
                Err(e) => debug!("PLI not sent: {e}"),
            }
        }
    }
    // Probes of this stream end with it.
    for r in &receivers {
        r.sink.down.receiver.shares().forget(me);
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
