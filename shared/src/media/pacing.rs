//! The pacer on a peer connection: an interceptor around [`termcall_congestion::Pacer`] that
//! holds outgoing RTP and releases it at a multiple of the send estimate (2.5× for ordinary
//! frames, 1.25× for the tail of a keyframe). Audio goes first, then retransmissions (the NACK
//! responder's, which sit application-ward of here and so are paced too), then video. RTCP is
//! not paced. The release instant becomes the packet's time, so the congestion interceptor below
//! sees when it really left.
//!
//! A packet is retransmitted at most once per round trip: the receiver NACKs a missing packet
//! every 30 ms until it comes (so a loss on a LAN is repaired within a frame), and over a long
//! round trip that is a dozen NACKs for one packet. Answering each would multiply a congested
//! link's losses by ten in repairs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Packet, StreamInfo, TaggedPacket};
use rtc::shared::marshal::MarshalSize;
use termcall_congestion::{Class, Pacer};

use super::congestion::SendLink;
use super::stage::{Belt, Stage};

/// A burst of this long at the pacing rate may leave at once: an ordinary frame is not delayed.
pub const BURST: Duration = Duration::from_millis(40);
/// At most this many packets wait (about 12 MB; in practice the sender skips frames long before).
const QUEUE_LIMIT: usize = 10_000;
/// Retransmissions remembered, by sequence number modulo this.
const REPAIRS: usize = 1024;
/// The least time between two retransmissions of one packet, whatever the round trip.
const MIN_REPAIR_INTERVAL: Duration = Duration::from_millis(20);
/// The round trip assumed until one is measured.
const UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(100);

/// When each recent packet was last retransmitted: a fixed table, no allocation per packet.
struct Repairs {
    last: Box<[(u32, u16, Option<Instant>)]>,
}

impl Repairs {
    fn new() -> Repairs {
        Repairs { last: vec![(0, 0, None); REPAIRS].into_boxed_slice() }
    }

    /// Whether packet `seq` of `ssrc` may be retransmitted now (and notes that it is).
    fn allow(&mut self, ssrc: u32, seq: u16, now: Instant, interval: Duration) -> bool {
        let slot = &mut self.last[usize::from(seq) % REPAIRS];
        if let (s, q, Some(at)) = *slot {
            if s == ssrc && q == seq && now.saturating_duration_since(at) < interval {
                return false;
            }
        }
        *slot = (ssrc, seq, Some(now));
        true
    }
}

/// The sequence number a retransmission repairs: an RTX packet carries it first in its payload
/// (RFC 4588); a plain one is the packet itself.
fn repaired_sequence(p: &rtc::rtp::Packet, on_rtx: bool) -> Option<u16> {
    if on_rtx {
        let b = p.payload.get(..2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    } else {
        Some(p.header.sequence_number)
    }
}

/// The interceptor (as [`super::stage::Staged`]). See the module documentation.
pub struct PacerInterceptor {
    pacer: Pacer<TaggedPacket>,
    link: Arc<SendLink>,
    /// What each of our SSRCs carries (audio, video, or retransmissions on an RTX SSRC).
    classes: HashMap<u32, Class>,
    repairs: Repairs,
    /// Retransmissions not sent because the same packet went less than a round trip ago.
    repeated: u64,
    now: Option<Instant>,
}

impl PacerInterceptor {
    pub fn new(link: Arc<SendLink>) -> PacerInterceptor {
        PacerInterceptor {
            pacer: Pacer::new(link.target_bps().max(40_000.0), BURST, QUEUE_LIMIT),
            link,
            classes: HashMap::new(),
            repairs: Repairs::new(),
            repeated: 0,
            now: None,
        }
    }

    fn class_of(&self, msg: &TaggedPacket, p: &rtc::rtp::Packet) -> Class {
        if msg.message.has(&Attribute::Retransmission) {
            return Class::Retransmission;
        }
        self.classes.get(&p.header.ssrc).copied().unwrap_or(Class::Video)
    }

    /// Follows the estimate, releases what may go now, and tells the sender about the queue.
    fn release(&mut self, now: Instant, belt: &mut Belt) {
        self.now = Some(now);
        let target = self.link.target_bps();
        if target > 0.0 {
            self.pacer.set_rate(now, target);
        }
        while let Some(mut p) = self.pacer.pop(now) {
            // Rule of the chain: what lies wire-ward sees the release instant, not the enqueue one.
            p.now = now;
            belt.outward(p);
        }
        self.link.set_pacer(self.pacer.queue_time(), self.pacer.refused() + self.pacer.dropped() + self.repeated);
    }
}

impl Stage for PacerInterceptor {
    fn write(&mut self, msg: TaggedPacket, belt: &mut Belt) {
        let (class, bytes) = match &msg.message.packet {
            Packet::Rtp(p) => (self.class_of(&msg, p), p.marshal_size()),
            // RTCP, and anything else: only RTP is paced.
            _ => return belt.outward(msg),
        };
        let now = msg.now;
        if class == Class::Retransmission {
            if let Packet::Rtp(p) = &msg.message.packet {
                let on_rtx = self.classes.get(&p.header.ssrc) == Some(&Class::Retransmission);
                let interval = self.link.state().rtt.unwrap_or(UNKNOWN_ROUND_TRIP).max(MIN_REPAIR_INTERVAL);
                if repaired_sequence(p, on_rtx).is_some_and(|seq| !self.repairs.allow(p.header.ssrc, seq, now, interval)) {
                    self.repeated += 1;
                    return;
                }
            }
        }
        // A full queue refuses the packet: it is dropped, counted, and the receiver NACKs it.
        let _ = self.pacer.push(now, class, msg, bytes);
        self.release(now, belt);
    }

    fn timeout(&mut self, now: Instant, belt: &mut Belt) {
        self.release(now, belt);
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        let now = self.now?;
        self.pacer.next_release(now)
    }

    fn bind_local(&mut self, info: &StreamInfo) {
        let class = if info.mime_type.to_ascii_lowercase().starts_with("audio/") { Class::Audio } else { Class::Video };
        self.classes.insert(info.ssrc, class);
        if let Some(rtx) = info.ssrc_rtx {
            self.classes.insert(rtx, Class::Retransmission);
        }
    }

    fn unbind_local(&mut self, info: &StreamInfo) {
        self.classes.remove(&info.ssrc);
        if let Some(rtx) = info.ssrc_rtx {
            self.classes.remove(&rtx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_repaired_once_a_round_trip() {
        let t0 = Instant::now();
        let mut r = Repairs::new();
        let rtt = Duration::from_millis(300);
        assert!(r.allow(7, 100, t0, rtt));
        assert!(!r.allow(7, 100, t0 + Duration::from_millis(30), rtt), "the next NACK, 30 ms later");
        assert!(r.allow(7, 101, t0 + Duration::from_millis(30), rtt), "another packet");
        assert!(r.allow(7, 100, t0 + Duration::from_millis(310), rtt), "a round trip later");
        assert!(r.allow(7, 100 + REPAIRS as u16, t0 + Duration::from_millis(320), rtt), "a later packet in the same slot");
    }

    #[test]
    fn an_rtx_packet_names_the_packet_it_repairs() {
        let mut p = rtc::rtp::Packet::default();
        p.header.sequence_number = 9;
        p.payload = bytes::Bytes::from_static(&[0x12, 0x34, 0xff]);
        assert_eq!(repaired_sequence(&p, true), Some(0x1234));
        assert_eq!(repaired_sequence(&p, false), Some(9));
        p.payload = bytes::Bytes::from_static(&[1]);
        assert_eq!(repaired_sequence(&p, true), None, "too short to name one");
    }
}
