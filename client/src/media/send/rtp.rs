//! Encoded frames to RTP packets, with timestamps that follow capture time: a frame the encoder
//! skipped, a raw frame dropped for the network, or a mute all leave their gap in media time, so
//! the receiver's clock (and its latency figure) stays true.

use std::time::Instant;

use bytes::Bytes;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp::{Header, Packet};

/// The largest RTP packet we make, as webrtc-rs and browsers do; header extensions fit beside it.
pub const MTU: usize = 1200;

/// One stream's packetizer.
pub struct Packetizer {
    payloader: Box<dyn Payloader>,
    ssrc: u32,
    payload_type: u8,
    clock_rate: u32,
    /// RTP time advances in whole steps of this many ticks (one Opus frame), or 1 for video.
    step: u32,
    sequence: u16,
    base: u32,
    epoch: Instant,
    last: Option<u32>,
    /// Header extensions every packet carries (id, value): a simulcast layer's MID and RID.
    extensions: Vec<(u8, Bytes)>,
}

impl Packetizer {
    /// A stream starting at a random sequence number and RTP time, as RFC 3550 asks.
    pub fn new(payloader: Box<dyn Payloader>, ssrc: u32, payload_type: u8, clock_rate: u32, step: u32, epoch: Instant) -> Packetizer {
        Packetizer { payloader, ssrc, payload_type, clock_rate, step: step.max(1), sequence: rand::random(), base: rand::random(), epoch, last: None, extensions: Vec::new() }
    }

    /// The same media clock as `other` (simulcast layers of one picture share RTP times).
    pub fn with_clock_of(mut self, other: &Packetizer) -> Packetizer {
        (self.base, self.epoch) = (other.base, other.epoch);
        self
    }

    /// From the next frame on, payloads are made by `payloader` and typed `payload_type` (a
    /// call whose video codec changed); the sequence and the media clock go on.
    pub fn set_payload(&mut self, payloader: Box<dyn Payloader>, payload_type: u8) {
        self.payloader = payloader;
        self.payload_type = payload_type;
    }

    /// Every packet carries these header extensions (id, value).
    pub fn with_extensions(mut self, extensions: Vec<(u8, Bytes)>) -> Packetizer {
        self.extensions = extensions;
        self
    }

    /// The RTP time of something captured at `captured`: ticks since the stream began, in whole
    /// steps, never behind the previous one.
    pub fn timestamp(&mut self, captured: Instant) -> u32 {
        let ticks = captured.saturating_duration_since(self.epoch).as_secs_f64() * f64::from(self.clock_rate);
        let steps = (ticks / f64::from(self.step)).round() as u64;
        let mut ts = self.base.wrapping_add((steps * u64::from(self.step)) as u32);
        if let Some(last) = self.last {
            if (ts.wrapping_sub(last) as i32) < 0 {
                ts = last; // a clock that stepped back does not reorder media time
            }
        }
        self.last = Some(ts);
        ts
    }

    /// The packets of one frame captured at `captured`; the last carries the marker bit.
    pub fn packetize(&mut self, frame: &Bytes, captured: Instant) -> Vec<Packet> {
        let timestamp = self.timestamp(captured);
        let payloads = match self.payloader.payload(MTU - 12, frame) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("cannot packetize a frame: {e}");
                return Vec::new();
            }
        };
        let n = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let sequence_number = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                let mut header = Header { version: 2, marker: i + 1 == n, payload_type: self.payload_type, sequence_number, timestamp, ssrc: self.ssrc, ..Default::default() };
                for (id, value) in &self.extensions {
                    if let Err(e) = header.set_extension(*id, value.clone()) {
                        tracing::debug!("header extension {id} not set: {e}");
                    }
                }
                Packet { header, payload }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::codec::h264::H264Payloader;
    use rtc::rtp::codec::opus::OpusPayloader;
    use std::time::Duration;

    #[test]
    fn video_time_follows_capture_time_and_skipped_frames_leave_their_gap() {
        let t0 = Instant::now();
        let mut p = Packetizer::new(Box::new(H264Payloader::default()), 7, 102, 90_000, 1, t0);
        let frame = Bytes::from_static(&[0, 0, 0, 1, 0x65, 1, 2, 3]);
        let a = p.packetize(&frame, t0)[0].header.timestamp;
        let b = p.packetize(&frame, t0 + Duration::from_millis(66))[0].header.timestamp;
        // Two frames skipped: the next is 200 ms after the first.
        let c = p.packetize(&frame, t0 + Duration::from_millis(200))[0].header.timestamp;
        assert_eq!(b.wrapping_sub(a), 5940);
        assert_eq!(c.wrapping_sub(a), 18_000);
        let back = p.timestamp(t0);
        assert_eq!(back, c, "never backwards");
    }

    #[test]
    fn a_large_frame_is_split_with_consecutive_numbers_and_one_marker() {
        let t0 = Instant::now();
        let mut p = Packetizer::new(Box::new(H264Payloader::default()), 7, 102, 90_000, 1, t0);
        let mut au = vec![0, 0, 0, 1, 0x65];
        au.extend(std::iter::repeat_n(0xAB, 5000));
        let packets = p.packetize(&Bytes::from(au), t0);
        assert!(packets.len() >= 5);
        for w in packets.windows(2) {
            assert_eq!(w[1].header.sequence_number, w[0].header.sequence_number.wrapping_add(1));
        }
        assert_eq!(packets.iter().filter(|p| p.header.marker).count(), 1);
        assert!(packets.last().unwrap().header.marker);
        assert!(packets.iter().all(|p| p.payload.len() + 12 <= MTU));
    }

    #[test]
    fn audio_time_moves_in_whole_frames_with_a_gap_for_a_mute() {
        let t0 = Instant::now();
        let mut p = Packetizer::new(Box::new(OpusPayloader), 9, 111, 48_000, 960, t0);
        let a = p.timestamp(t0);
        // Paced 20 ms frames arrive a little late or early: still exactly 960 apart.
        let b = p.timestamp(t0 + Duration::from_micros(20_700));
        let c = p.timestamp(t0 + Duration::from_micros(39_400));
        assert_eq!((b.wrapping_sub(a), c.wrapping_sub(b)), (960, 960));
        // Muted for a second: the gap is in media time.
        let d = p.timestamp(t0 + Duration::from_millis(1040));
        assert_eq!(d.wrapping_sub(a), 52 * 960);
    }
}
