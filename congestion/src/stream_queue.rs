//! The queue in front of a stream transport (TURN carried over TCP, TLS or a WebSocket, when
//! UDP is blocked). A datagram sent into a TCP stream waits behind everything before it, and a
//! lost segment holds up all that follows until it is retransmitted, so a stream must never
//! hold much: the writer takes a packet from here only when the socket's own unsent backlog is
//! small, and what waits here too long is dropped, video first.
//!
//! - Video (RTP that is not audio-sized, inside TURN ChannelData) that has waited longer than
//!   the queue's patience is dropped when it reaches the head: the receiver sees a loss, asks
//!   for a keyframe, and the sender's congestion control backs off, as on a UDP link.
//! - Everything else (audio, RTCP, DTLS, STUN and TURN control) is small and always sent.
//! - A full queue (in bytes) drops the oldest video to make room; if none is left, the new
//!   packet is refused.
//!
//! Buffers are recycled: a packet is copied into a buffer taken back from an earlier one, so
//! a steady stream allocates nothing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// RTP payloads at most this long are treated as audio (Opus at the rates termcall and
/// browsers use is 40–200 bytes a packet); longer ones as video, which may be dropped.
pub const AUDIO_MAX: usize = 300;
/// How long video may wait before it is dropped rather than sent late.
pub const PATIENCE: Duration = Duration::from_millis(100);
/// The most the queue holds.
pub const MAX_BYTES: usize = 256 * 1024;
/// How many spare buffers are kept for reuse.
const SPARE: usize = 64;

/// Whether a TURN message may be dropped rather than queued: ChannelData carrying RTP (not
/// RTCP) longer than [`AUDIO_MAX`]. SRTP leaves the RTP header in the clear, so this is seen
/// without keys; everything else (STUN, DTLS, RTCP, audio) is kept.
pub fn droppable(turn_message: &[u8]) -> bool {
    // ChannelData: a channel number in 0x4000..=0x7FFF, then the payload's length.
    if turn_message.len() < 4 || !(0x40..=0x7F).contains(&turn_message[0]) {
        return false;
    }
    let len = usize::from(u16::from_be_bytes([turn_message[2], turn_message[3]]));
    let Some(payload) = turn_message.get(4..4 + len) else { return false };
    // RFC 7983: RTP and RTCP start with 128..=191; RFC 5761: RTCP's second byte is 192..=223.
    payload.len() > AUDIO_MAX && (128..=191).contains(&payload[0]) && !(192..=223).contains(&payload[1])
}

struct Queued {
    at: Instant,
    droppable: bool,
    data: Vec<u8>,
}

/// Packets waiting for a stream, with the drop rules above.
pub struct StreamQueue {
    packets: VecDeque<Queued>,
    bytes: usize,
    spare: Vec<Vec<u8>>,
    patience: Duration,
    max_bytes: usize,
    dropped: u64,
}

impl Default for StreamQueue {
    fn default() -> Self {
        StreamQueue::new(PATIENCE, MAX_BYTES)
    }
}

impl StreamQueue {
    pub fn new(patience: Duration, max_bytes: usize) -> Self {
        StreamQueue { packets: VecDeque::new(), bytes: 0, spare: Vec::new(), patience, max_bytes, dropped: 0 }
    }

    /// Queues a copy of `packet`; false if it was refused (the queue is full of what may not be
    /// dropped).
    pub fn push(&mut self, packet: &[u8], now: Instant) -> bool {
        while self.bytes + packet.len() > self.max_bytes {
            let Some(oldest) = self.packets.iter().position(|p| p.droppable) else {
                self.dropped += 1;
                return false;
            };
            if let Some(p) = self.packets.remove(oldest) {
                self.forget(p);
            }
        }
        let mut data = self.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(packet);
        self.bytes += data.len();
        self.packets.push_back(Queued { at: now, droppable: droppable(packet), data });
        true
    }

    /// The next packet to send `now`, video that waited too long dropped on the way. Give the
    /// buffer back with [`StreamQueue::recycle`] once it is sent.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        while let Some(p) = self.packets.pop_front() {
            if p.droppable && now.saturating_duration_since(p.at) > self.patience {
                self.forget(p);
                continue;
            }
            self.bytes -= p.data.len();
            return Some(p.data);
        }
        None
    }

    /// A sent packet's buffer, for a later one.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < SPARE {
            self.spare.push(buf);
        }
    }

    fn forget(&mut self, p: Queued) {
        self.bytes -= p.data.len();
        self.dropped += 1;
        self.recycle(p.data);
    }

    /// Packets dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ChannelData on channel 0x4000 around an RTP packet of `len` bytes with payload type `pt`.
    fn channel_rtp(len: usize, second_byte: u8) -> Vec<u8> {
        let mut p = vec![0x40, 0x00];
        p.extend_from_slice(&(len as u16).to_be_bytes());
        let mut rtp = vec![0u8; len];
        rtp[0] = 0x80;
        rtp[1] = second_byte;
        p.extend_from_slice(&rtp);
        p
    }

    #[test]
    fn only_video_sized_rtp_in_channel_data_may_be_dropped() {
        assert!(droppable(&channel_rtp(1100, 102)), "video");
        assert!(droppable(&channel_rtp(1100, 102 | 0x80)), "video with the marker bit");
        assert!(!droppable(&channel_rtp(120, 111)), "audio");
        assert!(!droppable(&channel_rtp(1100, 200)), "RTCP (sender report)");
        let mut dtls = channel_rtp(1100, 0);
        dtls[4] = 22;
        assert!(!droppable(&dtls), "DTLS");
        let mut stun = channel_rtp(1100, 102);
        stun[0] = 0x00;
        assert!(!droppable(&stun), "a STUN message");
        let cut = channel_rtp(1100, 102);
        assert!(!droppable(&cut[..600]), "a length past the end");
        assert!(!droppable(&[0x40]), "too short");
    }

    #[test]
    fn stale_video_is_dropped_at_the_head_and_the_rest_is_sent_in_order() {
        let t0 = Instant::now();
        let mut q = StreamQueue::default();
        let video = channel_rtp(1000, 102);
        let audio = channel_rtp(100, 111);
        assert!(q.push(&video, t0));
        assert!(q.push(&audio, t0));
        assert!(q.push(&video, t0 + Duration::from_millis(90)));
        let later = t0 + Duration::from_millis(150);
        assert_eq!(q.pop(later).as_deref(), Some(&audio[..]), "the stale video went; old audio is still sent");
        assert_eq!(q.pop(later).as_deref(), Some(&video[..]), "video that waited 60 ms is sent");
        assert_eq!(q.pop(later), None);
        assert_eq!((q.dropped(), q.bytes(), q.len()), (1, 0, 0));
    }

    #[test]
    fn a_full_queue_makes_room_by_dropping_the_oldest_video() {
        let t0 = Instant::now();
        let mut q = StreamQueue::new(PATIENCE, 3000);
        let video = channel_rtp(1000, 102);
        let audio = channel_rtp(100, 111);
        assert!(q.push(&audio, t0));
        assert!(q.push(&video, t0));
        assert!(q.push(&video, t0));
        assert!(q.push(&video, t0), "the oldest video made room");
        assert_eq!(q.dropped(), 1);
        assert!(q.bytes() <= 3000);
        // Full of what may not be dropped: refused.
        let mut q = StreamQueue::new(PATIENCE, 250);
        assert!(q.push(&audio, t0));
        assert!(q.push(&audio, t0));
        assert!(!q.push(&audio, t0));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn buffers_come_back_for_reuse() {
        let t0 = Instant::now();
        let mut q = StreamQueue::default();
        q.push(&channel_rtp(1000, 102), t0);
        let sent = q.pop(t0).unwrap();
        let at = sent.as_ptr();
        q.recycle(sent);
        q.push(&channel_rtp(500, 102), t0);
        let again = q.pop(t0).unwrap();
        assert_eq!(again.as_ptr(), at, "the same buffer");
    }
}
