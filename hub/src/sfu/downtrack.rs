//! One receiver's copy of one sender's stream: a small queue of its own, emptied by a task of
//! its own into the receiver's peer connection. The forwarding loop only pushes (it never
//! waits on a receiver), so a receiver whose connection is slow or stuck loses its own packets,
//! oldest first, and never holds up the others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::rtp;
use tokio::sync::{watch, Notify};
use tracing::debug;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;

use super::receiver::ReceiverLink;
use crate::metrics::Metrics;

/// Packets a video receiver may have waiting: about half a second of a 1 Mbit/s stream, or a
/// large keyframe. Audio: about 300 ms.
pub const VIDEO_QUEUE: usize = 64;
pub const AUDIO_QUEUE: usize = 16;

/// One receiver of a stream: its queue, which a task empties into a track on the receiver's
/// peer connection ([`drain`]); the track identifies the receiver.
#[derive(Clone)]
pub struct Sink {
    pub track: Arc<TrackLocalStaticRTP>,
    pub down: Arc<DownTrack>,
}

/// A receiver's queue for one stream.
pub struct DownTrack {
    /// Packets and when they reached the hub. Locked by the forwarding loop to push and by the
    /// writer to pop, each for a few instructions; allocated once, never grown.
    queue: Mutex<VecDeque<(rtp::Packet, Instant)>>,
    capacity: usize,
    ready: Notify,
    /// The SSRC this receiver knows the stream by.
    ssrc: u32,
    /// The most the receiver shows of this stream, width << 32 | height (0: not said).
    view: AtomicU64,
    /// Its receiver's downlink, and what it got (for `/metrics`).
    pub receiver: Arc<ReceiverLink>,
    /// Set by the forwarding loop when the queue overflowed (and it asked the sender for a
    /// keyframe); cleared once the queue is empty again.
    pub overflowed: AtomicBool,
}

impl DownTrack {
    pub fn new(ssrc: u32, capacity: usize, receiver: Arc<ReceiverLink>) -> Self {
        let capacity = capacity.max(1);
        DownTrack { queue: Mutex::new(VecDeque::with_capacity(capacity)), capacity, ready: Notify::new(), ssrc, view: AtomicU64::new(0), receiver, overflowed: AtomicBool::new(false) }
    }

    /// Queues `packet` for this receiver under its SSRC; when the queue is full the oldest
    /// packet makes room. Returns whether one was dropped.
    pub fn push(&self, mut packet: rtp::Packet, arrived: Instant) -> bool {
        packet.header.ssrc = self.ssrc;
        let dropped = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let full = q.len() >= self.capacity;
            if full {
                q.pop_front();
            }
            q.push_back((packet, arrived));
            full
        };
        self.ready.notify_one();
        dropped
    }

    /// The receiver shows at most `width`x`height` of this stream.
    pub fn set_view(&self, width: u32, height: u32) {
        self.view.store(u64::from(width) << 32 | u64::from(height), Relaxed);
    }

    pub fn view(&self) -> Option<(u32, u32)> {
        let v = self.view.load(Relaxed);
        (v != 0).then_some(((v >> 32) as u32, v as u32))
    }

    fn pop(&self) -> Option<(rtp::Packet, Instant)> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    /// Packets waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

/// What `packet` costs on the wire (its RTP header and payload, and the transport's headers):
/// the unit of every rate the hub's estimates and layer choices compare.
pub fn wire_size(packet: &rtc::rtp::Packet) -> usize {
    use rtc::shared::marshal::MarshalSize;
    packet.header.marshal_size() + packet.payload.len() + termcall_congestion::WIRE_OVERHEAD
}

/// Writes what `down` queues into `track` until `alive`'s sender drops; records each packet's
/// time in the hub, from arrival to hand-over.
pub async fn drain(down: Arc<DownTrack>, track: Arc<TrackLocalStaticRTP>, metrics: Arc<Metrics>, mut alive: watch::Receiver<()>) {
    loop {
        while let Some((packet, arrived)) = down.pop() {
            let bytes = wire_size(&packet) as u64;
            match track.write_rtp(packet).await {
                Ok(()) => {
                    down.receiver.figures.bytes.fetch_add(bytes, Relaxed);
                    Metrics::add(&metrics.sfu_rtp_forwarded_total, 1);
                    metrics.sfu_forward_us.observe(arrived.elapsed().as_micros() as u64);
                }
                // Not bound yet (negotiation under way) or closing: this one is lost.
                Err(e) => debug!("not forwarded: {e}"),
            }
        }
        down.overflowed.store(false, Relaxed);
        tokio::select! {
            _ = down.ready.notified() => {}
            r = alive.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> Arc<ReceiverLink> {
        Arc::new(ReceiverLink::new(Arc::default(), Arc::default()))
    }

    fn packet(seq: u16) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.sequence_number = seq;
        p.header.ssrc = 7;
        p
    }

    #[test]
    fn a_full_queue_loses_its_oldest_packet_and_says_so() {
        let d = DownTrack::new(42, 3, receiver());
        let t = Instant::now();
        assert!(!d.push(packet(1), t));
        assert!(!d.push(packet(2), t));
        assert!(!d.push(packet(3), t));
        assert!(d.push(packet(4), t), "the fourth overflows");
        assert_eq!(d.waiting(), 3);
        let seqs: Vec<u16> = std::iter::from_fn(|| d.pop()).map(|(p, _)| p.header.sequence_number).collect();
        assert_eq!(seqs, [2, 3, 4]);
    }

    #[test]
    fn packets_go_out_under_the_receivers_ssrc() {
        let d = DownTrack::new(42, 3, receiver());
        d.push(packet(1), Instant::now());
        assert_eq!(d.pop().unwrap().0.header.ssrc, 42);
    }
}
