//! H.264 through openh264: constrained baseline, so that browsers decode it too (the SDP says
//! profile-level-id=42e01f, packetization-mode=1).

use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode, UsageType};
use openh264::formats::{RgbSliceU8, YUVBuffer, YUVSource};
use openh264::OpenH264API;
use openh264_sys2::{SBitrateInfo, SEncoderStatistics, ENCODER_OPTION_BITRATE, ENCODER_OPTION_GET_STATISTICS, ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0, SPATIAL_LAYER_ALL};

use super::frame::Frame;

/// Encodes RGB frames to Annex-B H.264 access units.
pub struct H264Encoder {
    enc: Encoder,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    out: Vec<u8>,
    /// openh264 initializes on the first frame: rates set before it wait here.
    started: bool,
    pending_rate: Option<(u32, u32)>,
}

impl H264Encoder {
    /// An encoder for `width`x`height` at `fps`, aiming at `kbps`, with a keyframe every
    /// `key_every` frames (0: only the first).
    pub fn new(width: u32, height: u32, fps: f32, kbps: u32, key_every: u32) -> Result<H264Encoder, String> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(fps))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .skip_frames(true)
            // A scene change would otherwise be an unasked-for keyframe, several times a frame's
            // budget in one burst: receivers ask for keyframes (PLI) when they need one.
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(key_every));
        let enc = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| format!("cannot start the H.264 encoder: {e}"))?;
        Ok(H264Encoder { enc, yuv: YUVBuffer::new(width as usize, height as usize), width, height, out: Vec::new(), started: false, pending_rate: None })
    }

    /// Makes the next frame a keyframe (after a PLI, an unmute, a loss).
    pub fn force_keyframe(&mut self) {
        self.enc.force_intra_frame();
    }

    /// The encoder's size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Moves the target bitrate mid-stream (no keyframe, no restart), under a ceiling `max_bps`
    /// (a target above the encoder's ceiling would be clipped to it).
    pub fn set_bitrate(&mut self, bps: u32, max_bps: u32) -> Result<(), String> {
        if !self.started {
            self.pending_rate = Some((bps, max_bps));
            return Ok(());
        }
        // The ceiling goes on the layer (openh264 checks each layer's target against the layer's
        // own ceiling, which it set equal to the first target), the target on the whole stream.
        let mut max = SBitrateInfo { iLayer: SPATIAL_LAYER_0, iBitrate: max_bps.max(bps).max(10_000) as i32 };
        let mut target = SBitrateInfo { iLayer: SPATIAL_LAYER_ALL, iBitrate: bps.max(10_000) as i32 };
        // SAFETY: the encoder was initialized by its first encode (callers set rates after it),
        // and each option reads one SBitrateInfo that outlives the call.
        let rc = unsafe {
            let raw = self.enc.raw_api();
            let rc = raw.set_option(ENCODER_OPTION_MAX_BITRATE, (&raw mut max).cast());
            if rc == 0 { raw.set_option(ENCODER_OPTION_BITRATE, (&raw mut target).cast()) } else { rc }
        };
        if rc == 0 { Ok(()) } else { Err(format!("the H.264 encoder refused a bitrate of {bps} bit/s ({rc})")) }
    }

    /// The average quantizer of the last encoded frame (0–51: high means the encoder is short of bits).
    pub fn last_qp(&mut self) -> Option<u32> {
        let mut stats = SEncoderStatistics::default();
        // SAFETY: GET_STATISTICS writes one SEncoderStatistics into the struct we pass.
        let rc = unsafe { self.enc.raw_api().get_option(ENCODER_OPTION_GET_STATISTICS, (&raw mut stats).cast()) };
        (rc == 0).then_some(stats.uiAverageFrameQP)
    }

    /// Encodes one frame (of the encoder's size); returns the access unit, empty if the encoder skipped it.
    pub fn encode(&mut self, f: &Frame) -> Result<&[u8], String> {
        debug_assert_eq!((f.width, f.height), (self.width, self.height));
        self.yuv.read_rgb8(RgbSliceU8::new(&f.rgb, (f.width as usize, f.height as usize)));
        let bits = self.enc.encode(&self.yuv).map_err(|e| format!("H.264 encode failed: {e}"))?;
        self.out.clear();
        bits.write_vec(&mut self.out);
        if !self.started {
            self.started = true;
            if let Some((bps, max)) = self.pending_rate.take() {
                self.set_bitrate(bps, max)?;
            }
        }
        Ok(&self.out)
    }
}

/// Decodes Annex-B access units to RGB frames.
pub struct H264Decoder {
    dec: Decoder,
}

/// What one decode produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A picture, written into the caller's frame.
    Picture,
    /// Fine, but no picture yet (parameter sets, or the decoder is buffering).
    Nothing,
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, String> {
        let dec = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| format!("cannot start the H.264 decoder: {e}"))?;
        Ok(H264Decoder { dec })
    }

    /// Decodes one access unit into `out` (resized to the picture). An error means the data was
    /// corrupt: drop it and ask the sender for a keyframe.
    pub fn decode(&mut self, au: &[u8], out: &mut Frame) -> Result<Decoded, String> {
        let yuv = match self.dec.decode(au) {
            Ok(Some(yuv)) => yuv,
            Ok(None) => return Ok(Decoded::Nothing),
            Err(e) => return Err(format!("H.264 decode failed: {e}")),
        };
        let (w, h) = yuv.dimensions();
        if w == 0 || h == 0 || w > 8192 || h > 8192 {
            return Err(format!("decoded picture has an impossible size {w}x{h}"));
        }
        out.resize(w as u32, h as u32);
        // write_rgb8 asserts on formats openh264 never produces; a corrupt stream must still not panic us.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| yuv.write_rgb8(&mut out.rgb)))
            .map_err(|_| "decoded picture could not be converted".to_string())?;
        Ok(Decoded::Picture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::psnr;
    use crate::media::testsrc;

    #[test]
    fn testsrc_survives_a_round_trip() {
        let mut enc = H264Encoder::new(320, 240, 15.0, 800, 30).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let (mut src, mut out) = (Frame::new(320, 240), Frame::new(1, 1));
        let mut pictures = 0;
        for n in 0..10 {
            testsrc::draw(&mut src, n);
            let au = enc.encode(&src).unwrap().to_vec();
            if dec.decode(&au, &mut out).unwrap() == Decoded::Picture {
                pictures += 1;
                assert!(psnr(&src, &out) > 30.0, "frame {n}: {:.1} dB", psnr(&src, &out));
            }
        }
        assert!(pictures >= 9, "{pictures}");
    }

    #[test]
    fn garbage_and_truncation_do_not_panic() {
        let mut enc = H264Encoder::new(160, 120, 15.0, 300, 30).unwrap();
        let mut src = Frame::new(160, 120);
        testsrc::draw(&mut src, 3);
        let good = enc.encode(&src).unwrap().to_vec();
        let mut dec = H264Decoder::new().unwrap();
        let mut out = Frame::new(1, 1);
        let mut seed = 0x1234_5678u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for i in 0..400 {
            let mut data = good.clone();
            match i % 4 {
                0 => data.truncate(rnd() as usize % data.len()),
                1 => {
                    for _ in 0..8 {
                        let at = rnd() as usize % data.len();
                        data[at] = rnd() as u8;
                    }
                }
                2 => data = (0..rnd() % 2000).map(|_| rnd() as u8).collect(),
                _ => {
                    data = vec![0, 0, 0, 1];
                    data.extend((0..rnd() % 500).map(|_| rnd() as u8));
                }
            }
            let _ = dec.decode(&data, &mut out);
        }
        // And it still decodes a good stream afterwards.
        let mut dec = H264Decoder::new().unwrap();
        assert!(dec.decode(&good, &mut out).is_ok());
    }
}
