//! One face for the video codecs ([`super::h264`], [`super::vp8`]): the encoder, the decoder,
//! the RTP payload format and keyframe detection of whichever a call negotiated. Enums, not
//! trait objects: a frame's path makes no allocation and no indirect call to pick a codec.

use rtc::rtp::codec::h264::{H264Packet, H264Payloader};
use rtc::rtp::codec::vp8::{Vp8Packet, Vp8Payloader};
use rtc::rtp::packetizer::{Depacketizer, Payloader};

pub use termcall_shared::media::codecs::VideoCodec;

use super::frame::Frame;
use super::h264::{Decoded, H264Decoder, H264Encoder};
use super::vp8::{Vp8Decoder, Vp8Encoder};

/// An encoder of either codec.
// One per stream, made when a keyframe is due and never moved per frame: its size is no cost.
#[allow(clippy::large_enum_variant)]
pub enum VideoEncoder {
    H264(H264Encoder),
    Vp8(Vp8Encoder),
}

impl VideoEncoder {
    /// An encoder of `codec` for `width`x`height` at `fps`, aiming at `kbps`, with a keyframe
    /// every `key_every` frames (0: only the first).
    pub fn new(codec: VideoCodec, width: u32, height: u32, fps: f32, kbps: u32, key_every: u32) -> Result<VideoEncoder, String> {
        Ok(match codec {
            VideoCodec::H264 => VideoEncoder::H264(H264Encoder::new(width, height, fps, kbps, key_every)?),
            VideoCodec::Vp8 => VideoEncoder::Vp8(Vp8Encoder::new(width, height, fps, kbps, key_every)?),
        })
    }

    pub fn codec(&self) -> VideoCodec {
        match self {
            VideoEncoder::H264(_) => VideoCodec::H264,
            VideoEncoder::Vp8(_) => VideoCodec::Vp8,
        }
    }

    pub fn force_keyframe(&mut self) {
        match self {
            VideoEncoder::H264(e) => e.force_keyframe(),
            VideoEncoder::Vp8(e) => e.force_keyframe(),
        }
    }

    pub fn size(&self) -> (u32, u32) {
        match self {
            VideoEncoder::H264(e) => e.size(),
            VideoEncoder::Vp8(e) => e.size(),
        }
    }

    pub fn set_bitrate(&mut self, bps: u32, max_bps: u32) -> Result<(), String> {
        match self {
            VideoEncoder::H264(e) => e.set_bitrate(bps, max_bps),
            VideoEncoder::Vp8(e) => e.set_bitrate(bps, max_bps),
        }
    }

    /// The last frame's quantizer, on the codec's own scale (H.264 0–51, VP8 0–127).
    pub fn last_qp(&mut self) -> Option<u32> {
        match self {
            VideoEncoder::H264(e) => e.last_qp(),
            VideoEncoder::Vp8(e) => e.last_qp(),
        }
    }

    /// One encoded frame; empty if the encoder dropped it.
    pub fn encode(&mut self, f: &Frame) -> Result<&[u8], String> {
        match self {
            VideoEncoder::H264(e) => e.encode(f),
            VideoEncoder::Vp8(e) => e.encode(f),
        }
    }
}

/// A decoder of either codec.
pub enum VideoDecoder {
    H264(H264Decoder),
    Vp8(Vp8Decoder),
}

impl VideoDecoder {
    pub fn new(codec: VideoCodec) -> Result<VideoDecoder, String> {
        Ok(match codec {
            VideoCodec::H264 => VideoDecoder::H264(H264Decoder::new()?),
            VideoCodec::Vp8 => VideoDecoder::Vp8(Vp8Decoder::new()?),
        })
    }

    pub fn decode(&mut self, frame: &[u8], out: &mut Frame) -> Result<Decoded, String> {
        match self {
            VideoDecoder::H264(d) => d.decode(frame, out),
            VideoDecoder::Vp8(d) => d.decode(frame, out),
        }
    }
}

/// Whether an encoded frame (an Annex-B access unit, a VP8 frame) starts a picture anew.
pub fn is_keyframe(codec: VideoCodec, frame: &[u8]) -> bool {
    match codec {
        VideoCodec::H264 => termcall_shared::media::simulcast::annexb_keyframe(frame),
        VideoCodec::Vp8 => super::vp8::is_keyframe(frame),
    }
}

/// The RTP payloader of a codec (boxed once per stream, at its start).
pub fn payloader(codec: VideoCodec) -> Box<dyn Payloader> {
    match codec {
        VideoCodec::H264 => Box::new(H264Payloader::default()),
        VideoCodec::Vp8 => {
            // A picture ID on every packet, as browsers send: receivers see which frame is lost.
            let mut p = Vp8Payloader::default();
            p.enable_picture_id = true;
            Box::new(p)
        }
    }
}

/// The RTP depacketizer of either codec.
pub enum Depacketize {
    H264(H264Packet),
    Vp8(Vp8Packet),
}

impl Depacketize {
    pub fn new(codec: VideoCodec) -> Depacketize {
        match codec {
            VideoCodec::H264 => Depacketize::H264(H264Packet::default()),
            VideoCodec::Vp8 => Depacketize::Vp8(Vp8Packet::default()),
        }
    }

    /// Forgets any partial state (after a loss).
    pub fn reset(&mut self) {
        *self = Depacketize::new(self.codec());
    }

    pub fn codec(&self) -> VideoCodec {
        match self {
            Depacketize::H264(_) => VideoCodec::H264,
            Depacketize::Vp8(_) => VideoCodec::Vp8,
        }
    }

    /// A packet's share of its frame (Annex-B NAL units, or VP8 partition bytes).
    pub fn depacketize(&mut self, payload: &bytes::Bytes) -> Result<bytes::Bytes, rtc::shared::error::Error> {
        match self {
            Depacketize::H264(d) => d.depacketize(payload),
            Depacketize::Vp8(d) => d.depacketize(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::assembler::Assembler;
    use crate::media::send::rtp::{Packetizer, MTU};
    use crate::media::testsrc;
    use std::time::Instant;

    /// Each codec's rate moves mid-stream (a rate set before the first frame waits for it),
    /// and its quantizer shows it.
    #[test]
    fn the_bitrate_moves_mid_stream_both_ways_and_the_quantizer_shows_it() {
        for codec in VideoCodec::ALL {
            let mut enc = VideoEncoder::new(codec, 320, 240, 15.0, 300, 0).unwrap();
            let mut src = Frame::new(320, 240);
            let mut seed = 7;
            enc.set_bitrate(300_000, 1_000_000).unwrap();
            let mut sizes = |enc: &mut VideoEncoder, from: u64, to: u64| {
                let (mut bytes, mut qp) = (0, 0);
                for n in from..to {
                    testsrc::camera_like(&mut src, n, &mut seed);
                    bytes += enc.encode(&src).unwrap().len();
                    qp = enc.last_qp().unwrap();
                }
                (bytes as f64 * 8.0 / ((to - from) as f64 / 15.0), qp)
            };
            let _ = sizes(&mut enc, 0, 15);
            let (at_300, _) = sizes(&mut enc, 15, 60);
            enc.set_bitrate(900_000, 1_000_000).unwrap();
            let (at_900, qp_900) = sizes(&mut enc, 60, 105);
            enc.set_bitrate(100_000, 1_000_000).unwrap();
            let (at_100, qp_100) = sizes(&mut enc, 105, 150);
            assert!((200_000.0..400_000.0).contains(&at_300), "{codec}: {at_300}");
            assert!(at_900 > 2.0 * at_300, "{codec} up: {at_300} -> {at_900}");
            assert!(at_100 < 0.5 * at_300, "{codec} down: {at_300} -> {at_100}");
            assert!(qp_100 > qp_900, "{codec}: fewer bits, coarser quantizer: {qp_900} -> {qp_100}");
        }
    }

    /// Encode, packetize, reassemble and decode, as a call does, for each codec.
    #[test]
    fn frames_cross_rtp_in_both_codecs() {
        for codec in VideoCodec::ALL {
            let mut enc = VideoEncoder::new(codec, 320, 240, 15.0, 600, 0).unwrap();
            let mut dec = VideoDecoder::new(codec).unwrap();
            let t0 = Instant::now();
            let mut packetizer = Packetizer::new(payloader(codec), 1, codec.payload_type(), 90_000, 1, t0);
            let mut assembler = Assembler::new(codec);
            let (mut src, mut out) = (Frame::new(320, 240), Frame::new(1, 1));
            let mut pictures = 0;
            for n in 0..8u64 {
                testsrc::draw(&mut src, n);
                let frame = bytes::Bytes::copy_from_slice(enc.encode(&src).unwrap());
                assert_eq!(is_keyframe(codec, &frame), n == 0, "{codec} frame {n}");
                let at = t0 + std::time::Duration::from_millis(n * 66);
                for (i, p) in packetizer.packetize(&frame, at).into_iter().enumerate() {
                    assert!(p.payload.len() <= MTU);
                    // As the hub sees it: a keyframe starts in the first packet (H.264: also
                    // where its IDR slice starts), and no packet of another frame starts one.
                    let starts = termcall_shared::media::simulcast::keyframe_start(codec, &p.payload);
                    if i == 0 || n > 0 {
                        assert_eq!(starts, n == 0, "{codec} frame {n} packet {i}");
                    }
                    assembler.push(p, at);
                }
                let unit = assembler.pop(at).expect("a whole frame on its marker");
                if codec == VideoCodec::Vp8 {
                    assert_eq!(unit.data, frame, "the frame as encoded");
                }
                if dec.decode(&unit.data, &mut out).unwrap() == Decoded::Picture {
                    pictures += 1;
                }
            }
            assert!(pictures >= 7, "{codec}: {pictures}");
        }
    }
}
