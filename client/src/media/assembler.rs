//! Reassembling frames (H.264 access units, VP8 frames) from RTP, released as soon as the packet with the marker bit
//! completes one (webrtc-rs's SampleBuilder waits for the next frame's first packet, which adds a
//! whole frame interval of latency). Out-of-order packets and NACK retransmissions are waited for
//! a while, as long as a repair takes on this path (the round trip and a margin, within
//! bounds); after that the broken frame is skipped and the caller asks for a keyframe. On a
//! path whose queue makes the round trip long, a fixed short wait would give up on every
//! loss before its repair could come and freeze the picture until a keyframe instead.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::Packet;

use super::video_codec::{Depacketize, VideoCodec};

/// How long a gap may wait for a retransmission before its frame is given up, at least (and
/// while the round trip is not known), and at most.
pub const MAX_WAIT: Duration = Duration::from_millis(300);
pub const LONGEST_WAIT: Duration = Duration::from_millis(1000);
/// A repair takes the round trip and this: the NACK's own wait (the generator sends them every
/// 100 ms or so), the sender's turn-around, and jitter.
const REPAIR_MARGIN: Duration = Duration::from_millis(150);
/// Packets held at most; past this the oldest frame is given up.
const MAX_PENDING: usize = 4096;

/// One complete access unit.
#[derive(Debug, PartialEq, Eq)]
pub struct AccessUnit {
    /// The frame: Annex-B NAL units (H.264), or the VP8 frame.
    pub data: Bytes,
    pub rtp_ts: u32,
    /// Something before this unit was lost: the decoder needs a keyframe.
    pub after_loss: bool,
}

/// Packets in, access units out.
pub struct Assembler {
    depacketizer: Depacketize,
    pending: BTreeMap<u64, (Packet, Instant)>,
    /// The extended sequence number of the next unit's first packet.
    next: Option<u64>,
    last_ext: Option<u64>,
    lost: bool,
    /// How long a gap waits for its repair now.
    wait: Duration,
}

impl Default for Assembler {
    /// For H.264.
    fn default() -> Self {
        Assembler::new(VideoCodec::H264)
    }
}

impl Assembler {
    /// For frames of `codec`.
    pub fn new(codec: VideoCodec) -> Assembler {
        Assembler { depacketizer: Depacketize::new(codec), pending: BTreeMap::new(), next: None, last_ext: None, lost: false, wait: MAX_WAIT }
    }

    /// The path's round trip now, if known: a gap waits that and [`REPAIR_MARGIN`] for its
    /// repair, within [`MAX_WAIT`] and [`LONGEST_WAIT`].
    pub fn set_rtt(&mut self, rtt: Option<Duration>) {
        self.wait = rtt.map_or(MAX_WAIT, |r| (r + REPAIR_MARGIN).clamp(MAX_WAIT, LONGEST_WAIT));
    }

    /// Sequence numbers wrap at 2^16; extend them so that order is plain integer order.
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last_ext {
            None => (1u64 << 32) + u64::from(seq),
            Some(last) => {
                let diff = seq.wrapping_sub(last as u16) as i16;
                (last as i64 + i64::from(diff)) as u64
            }
        };
        if self.last_ext.is_none_or(|l| ext > l) {
            self.last_ext = Some(ext);
        }
        ext
    }

    /// Takes one packet.
    pub fn push(&mut self, p: Packet, now: Instant) {
        let ext = self.extend(p.header.sequence_number);
        if self.next.is_some_and(|n| ext < n) {
            return; // a late duplicate of something already assembled or given up
        }
        self.pending.entry(ext).or_insert((p, now));
        if self.pending.len() > MAX_PENDING {
            self.give_up_oldest();
        }
    }

    /// The next complete access unit, if any.
    pub fn pop(&mut self, now: Instant) -> Option<AccessUnit> {
        loop {
            let (&first, _) = self.pending.iter().next()?;
            let start = *self.next.get_or_insert(first);
            // Walk contiguous packets from the start until a marker.
            let mut seq = start;
            let mut end = None;
            while let Some((p, _)) = self.pending.get(&seq) {
                if p.header.marker {
                    end = Some(seq);
                    break;
                }
                seq += 1;
            }
            if let Some(end) = end {
                return self.emit(start, end);
            }
            // Incomplete: wait for the missing packet, but not for ever.
            let oldest = self.pending.values().map(|(_, t)| *t).min()?;
            if now.duration_since(oldest) < self.wait {
                return None;
            }
            self.give_up_oldest();
        }
    }

    fn emit(&mut self, start: u64, end: u64) -> Option<AccessUnit> {
        let mut data = BytesMut::new();
        let mut rtp_ts = 0;
        let mut broken = false;
        for seq in start..=end {
            if let Some((p, _)) = self.pending.remove(&seq) {
                rtp_ts = p.header.timestamp;
                match self.depacketizer.depacketize(&p.payload) {
                    Ok(nal) => data.extend_from_slice(&nal),
                    Err(_) => broken = true,
                }
            }
        }
        self.next = Some(end + 1);
        if broken {
            self.depacketizer.reset();
            self.lost = true;
            return None;
        }
        let after_loss = std::mem::take(&mut self.lost);
        Some(AccessUnit { data: data.freeze(), rtp_ts, after_loss })
    }

    /// Drops the frame at the head (it cannot be completed) and restarts at the next frame.
    fn give_up_oldest(&mut self) {
        let Some((&first, (p, _))) = self.pending.iter().next() else { return };
        let stuck_ts = p.header.timestamp;
        let resume = self.pending.iter().find(|(_, (p, _))| p.header.timestamp != stuck_ts).map(|(s, _)| *s);
        match resume {
            Some(r) => {
                self.pending.retain(|s, _| *s >= r);
                self.next = Some(r);
            }
            None => {
                let last = self.pending.keys().next_back().copied().unwrap_or(first);
                self.pending.clear();
                self.next = Some(last + 1);
            }
        }
        self.depacketizer.reset();
        self.lost = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single-NAL packet (type 1, a non-IDR slice) of one byte of payload.
    fn pkt(seq: u16, ts: u32, marker: bool) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        p.header.marker = marker;
        p.payload = Bytes::from_static(&[0x41, 0xAA, 0xBB]);
        p
    }

    #[test]
    fn a_unit_is_released_on_its_marker_without_waiting_for_the_next() {
        let mut a = Assembler::default();
        let t = Instant::now();
        a.push(pkt(10, 900, false), t);
        assert!(a.pop(t).is_none());
        a.push(pkt(11, 900, true), t);
        let au = a.pop(t).expect("complete on the marker");
        assert_eq!(au.rtp_ts, 900);
        assert!(!au.after_loss);
        assert_eq!(au.data.iter().filter(|&&b| b == 0x41).count(), 2, "both NAL units");
    }

    #[test]
    fn reordering_and_wrapping_are_handled() {
        let mut a = Assembler::default();
        let t = Instant::now();
        a.push(pkt(65534, 1, false), t);
        a.push(pkt(0, 1, true), t);
        assert!(a.pop(t).is_none(), "65535 is missing");
        a.push(pkt(65535, 1, false), t);
        assert_eq!(a.pop(t).unwrap().rtp_ts, 1);
        a.push(pkt(1, 2, true), t);
        assert_eq!(a.pop(t).unwrap().rtp_ts, 2);
    }

    #[test]
    fn a_lost_packet_is_waited_for_then_its_frame_is_skipped() {
        let mut a = Assembler::default();
        let t = Instant::now();
        a.push(pkt(1, 100, false), t);
        // seq 2 (the end of frame 100) is lost; frame 200 arrives whole.
        a.push(pkt(3, 200, false), t);
        a.push(pkt(4, 200, true), t);
        assert!(a.pop(t).is_none(), "waiting for a retransmission");
        let au = a.pop(t + MAX_WAIT).expect("gave up on frame 100");
        assert_eq!(au.rtp_ts, 200);
        assert!(au.after_loss, "the decoder must resync");
        // The late retransmission is ignored.
        a.push(pkt(2, 100, true), t + MAX_WAIT);
        assert!(a.pop(t + MAX_WAIT).is_none());
    }

    #[test]
    fn a_long_round_trip_waits_longer_for_the_repair_within_bounds() {
        let t = Instant::now();
        let mut a = Assembler::default();
        a.set_rtt(Some(Duration::from_millis(400)));
        a.push(pkt(1, 100, false), t);
        a.push(pkt(3, 200, true), t);
        let waited = t + MAX_WAIT;
        assert!(a.pop(waited).is_none(), "a 400 ms round trip: the repair cannot have come yet");
        // The repair comes after one round trip and a little more: nothing was lost.
        a.push(pkt(2, 100, true), t + Duration::from_millis(520));
        let au = a.pop(t + Duration::from_millis(520)).expect("frame 100, repaired");
        assert_eq!((au.rtp_ts, au.after_loss), (100, false));
        assert_eq!(a.pop(t + Duration::from_millis(520)).map(|u| u.rtp_ts), Some(200));
        // Never past the longest wait, and never under the shortest.
        for (rtt, wait) in [(Some(5_000), LONGEST_WAIT), (Some(10), MAX_WAIT), (None, MAX_WAIT)] {
            a.set_rtt(rtt.map(Duration::from_millis));
            assert_eq!(a.wait, wait);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut a = Assembler::default();
        let t = Instant::now();
        let mut x = 7u32;
        for i in 0..5000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let mut p = pkt((x >> 8) as u16, x >> 20, x & 1 == 1);
            p.payload = Bytes::from((0..(x % 40)).map(|j| (x >> (j % 24)) as u8).collect::<Vec<u8>>());
            a.push(p, t + Duration::from_millis(u64::from(i)));
            while a.pop(t + Duration::from_millis(u64::from(i))).is_some() {}
        }
    }
}
