//! VP8 through libvpx (Debian's `libvpx-dev`, the library browsers use): the codec every
//! WebRTC endpoint has (RFC 7742), for peers without H.264 (Firefox without its OpenH264 plugin).
//! Real-time settings as browsers use them: one pass, CBR, no lag, keyframes only when asked.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use openh264::formats::{RgbSliceU8, YUVBuffer, YUVSource};
use vpx_sys::*;

use super::frame::Frame;
use super::h264::Decoded;
use super::pixfmt::i420_to_rgb;

/// RTP's video clock: presentation times are given in it.
const CLOCK: u64 = 90_000;

fn error(what: &str, ctx: *mut vpx_codec_ctx_t, err: vpx_codec_err_t) -> String {
    // SAFETY: libvpx returns static strings (or null) for both.
    let text = |p: *const std::os::raw::c_char| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() };
    let detail = if ctx.is_null() { String::new() } else { text(unsafe { vpx_codec_error_detail(ctx) }) };
    let base = text(unsafe { vpx_codec_err_to_string(err) });
    if detail.is_empty() { format!("{what}: {base}") } else { format!("{what}: {base} ({detail})") }
}

/// A libvpx context, destroyed when dropped. Boxed: libvpx keeps it where it was initialized.
struct Context(Box<MaybeUninit<vpx_codec_ctx_t>>);

impl Context {
    fn ptr(&mut self) -> *mut vpx_codec_ctx_t {
        self.0.as_mut_ptr()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: a Context exists only once its init succeeded.
        unsafe { vpx_codec_destroy(self.0.as_mut_ptr()) };
    }
}

// SAFETY: a libvpx context is used from one thread at a time (`&mut self`), never shared.
unsafe impl Send for Context {}

/// Encodes RGB frames to VP8 frames.
pub struct Vp8Encoder {
    ctx: Context,
    cfg: vpx_codec_enc_cfg_t,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    fps: f32,
    pts: i64,
    keyframe: bool,
    out: Vec<u8>,
}

impl Vp8Encoder {
    /// An encoder for `width`x`height` at `fps`, aiming at `kbps`, with a keyframe every
    /// `key_every` frames (0: only the first).
    pub fn new(width: u32, height: u32, fps: f32, kbps: u32, key_every: u32) -> Result<Vp8Encoder, String> {
        if width < 2 || height < 2 || width % 2 == 1 || height % 2 == 1 || width > 16383 || height > 16383 {
            return Err(format!("VP8 cannot encode a {width}x{height} picture"));
        }
        // SAFETY: the interface is a static of libvpx; the config is written whole by it.
        let iface = unsafe { vpx_codec_vp8_cx() };
        let mut cfg = MaybeUninit::<vpx_codec_enc_cfg_t>::zeroed();
        let rc = unsafe { vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        if rc != vpx_codec_err_t::VPX_CODEC_OK {
            return Err(error("cannot configure the VP8 encoder", ptr::null_mut(), rc));
        }
        // SAFETY: initialized by vpx_codec_enc_config_default.
        let mut cfg = unsafe { cfg.assume_init() };
        cfg.g_w = width;
        cfg.g_h = height;
        // One thread: libvpx's VP8 threads wait for each other's rows by spinning, which on a
        // busy machine burned three quarters of a client's CPU for nothing (measured with perf).
        cfg.g_threads = 1;
        cfg.g_timebase = vpx_rational { num: 1, den: CLOCK as c_int };
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = 0;
        cfg.g_pass = vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = kbps.max(10);
        // Not finer than this: libvpx's CBR otherwise spends its whole target on a picture that
        // is already perfect (the test pattern, a slide), and the adapter reads a full target as
        // hard content it must not send larger.
        cfg.rc_min_quantizer = 10;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        // Frames the rate cannot carry are dropped rather than late (as openh264's skip_frames).
        cfg.rc_dropframe_thresh = 30;
        cfg.rc_resize_allowed = 0;
        if key_every == 0 {
            cfg.kf_mode = vpx_kf_mode::VPX_KF_DISABLED;
        } else {
            cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = key_every;
        }
        let mut ctx = Context(Box::new(MaybeUninit::zeroed()));
        // SAFETY: ctx is zeroed storage that outlives the encoder; cfg is complete.
        let rc = unsafe { vpx_codec_enc_init_ver(ctx.ptr(), iface, &cfg, 0, VPX_ENCODER_ABI_VERSION as c_int) };
        if rc != vpx_codec_err_t::VPX_CODEC_OK {
            std::mem::forget(ctx); // never initialized: nothing to destroy
            return Err(error("cannot start the VP8 encoder", ptr::null_mut(), rc));
        }
        let mut enc = Vp8Encoder { ctx, cfg, yuv: YUVBuffer::new(width as usize, height as usize), width, height, fps: fps.max(1.0), pts: 0, keyframe: true, out: Vec::new() };
        // As browsers run it in real time: fast, no denoising, skip static blocks, and a
        // keyframe at most 3 frames' worth of bits (a larger one is a burst the link queues).
        let max_intra = ((0.5 * 3.0 * 100.0 * f64::from(enc.fps) / 10.0) as c_uint).max(300);
        for (id, value) in [
            (vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int, -6),
            (vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY as c_int, 0),
            (vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int, 1),
            (vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int, max_intra as c_int),
        ] {
            // SAFETY: each of these controls takes one int.
            let rc = unsafe { vpx_codec_control_(enc.ctx.ptr(), id, value as c_int) };
            if rc != vpx_codec_err_t::VPX_CODEC_OK {
                return Err(error("cannot configure the VP8 encoder", enc.ctx.ptr(), rc));
            }
        }
        Ok(enc)
    }

    /// Makes the next frame a keyframe (after a PLI, an unmute, a loss).
    pub fn force_keyframe(&mut self) {
        self.keyframe = true;
    }

    /// The encoder's size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Moves the target bitrate mid-stream (no keyframe, no restart). libvpx's CBR has no
    /// ceiling apart from its target, so `_max_bps` bounds nothing more here.
    pub fn set_bitrate(&mut self, bps: u32, _max_bps: u32) -> Result<(), String> {
        self.cfg.rc_target_bitrate = (bps / 1000).max(10);
        // SAFETY: the config is the one the encoder was made with, with a new rate.
        let rc = unsafe { vpx_codec_enc_config_set(self.ctx.ptr(), &self.cfg) };
        if rc == vpx_codec_err_t::VPX_CODEC_OK { Ok(()) } else { Err(error(&format!("the VP8 encoder refused a bitrate of {bps} bit/s"), self.ctx.ptr(), rc)) }
    }

    /// The quantizer of the last encoded frame (VP8's scale, 0–127: high means short of bits).
    pub fn last_qp(&mut self) -> Option<u32> {
        let mut qp: c_int = 0;
        // SAFETY: GET_LAST_QUANTIZER writes one int.
        let rc = unsafe { vpx_codec_control_(self.ctx.ptr(), vp8e_enc_control_id::VP8E_GET_LAST_QUANTIZER as c_int, &raw mut qp) };
        (rc == vpx_codec_err_t::VPX_CODEC_OK).then_some(qp.max(0) as u32)
    }

    /// Encodes one frame (of the encoder's size); returns the VP8 frame, empty if the encoder
    /// dropped it (its rate control does when the rate cannot carry it).
    pub fn encode(&mut self, f: &Frame) -> Result<&[u8], String> {
        debug_assert_eq!((f.width, f.height), (self.width, self.height));
        self.yuv.read_rgb8(RgbSliceU8::new(&f.rgb, (f.width as usize, f.height as usize)));
        let (ys, us, vs) = self.yuv.strides();
        let mut img = MaybeUninit::<vpx_image_t>::zeroed();
        // SAFETY: vpx_img_wrap fills the descriptor; the planes are then pointed at our buffer,
        // which outlives the encode call (libvpx copies what it keeps: no lag).
        let img = unsafe {
            if vpx_img_wrap(img.as_mut_ptr(), vpx_img_fmt::VPX_IMG_FMT_I420, self.width, self.height, 1, self.yuv.y().as_ptr().cast_mut()).is_null() {
                return Err("VP8: cannot describe the picture".into());
            }
            let mut img = img.assume_init();
            img.planes[0] = self.yuv.y().as_ptr().cast_mut();
            img.planes[1] = self.yuv.u().as_ptr().cast_mut();
            img.planes[2] = self.yuv.v().as_ptr().cast_mut();
            img.stride[0] = ys as c_int;
            img.stride[1] = us as c_int;
            img.stride[2] = vs as c_int;
            img
        };
        let duration = (CLOCK as f32 / self.fps) as c_ulong;
        let flags: vpx_enc_frame_flags_t = if std::mem::take(&mut self.keyframe) { VPX_EFLAG_FORCE_KF as c_long } else { 0 };
        // SAFETY: the image describes a live I420 buffer of the configured size.
        let rc = unsafe { vpx_codec_encode(self.ctx.ptr(), &img, self.pts, duration, flags, c_ulong::from(VPX_DL_REALTIME)) };
        self.pts += duration as i64;
        if rc != vpx_codec_err_t::VPX_CODEC_OK {
            return Err(error("VP8 encode failed", self.ctx.ptr(), rc));
        }
        self.out.clear();
        let mut iter: vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: packets stay valid until the next encode call; we copy them out first.
            let pkt = unsafe { vpx_codec_get_cx_data(self.ctx.ptr(), &mut iter) };
            if pkt.is_null() {
                break;
            }
            let pkt = unsafe { &*pkt };
            if pkt.kind == vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                let frame = unsafe { pkt.data.frame };
                if !frame.buf.is_null() && frame.sz > 0 {
                    self.out.extend_from_slice(unsafe { std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz as usize) });
                }
            }
        }
        Ok(&self.out)
    }
}

/// Whether a VP8 frame (as the encoder makes it, as RTP reassembles it) is a keyframe: the
/// frame tag's first bit is 0 for one (RFC 6386, 9.1).
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.len() >= 10 && frame[0] & 1 == 0 && frame[3..6] == [0x9d, 0x01, 0x2a]
}

/// Decodes VP8 frames to RGB frames.
pub struct Vp8Decoder {
    ctx: Context,
}

impl Vp8Decoder {
    pub fn new() -> Result<Vp8Decoder, String> {
        let cfg = vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 };
        let mut ctx = Context(Box::new(MaybeUninit::zeroed()));
        // SAFETY: ctx is zeroed storage that outlives the decoder.
        let rc = unsafe { vpx_codec_dec_init_ver(ctx.ptr(), vpx_codec_vp8_dx(), &cfg, 0, VPX_DECODER_ABI_VERSION as c_int) };
        if rc != vpx_codec_err_t::VPX_CODEC_OK {
            std::mem::forget(ctx);
            return Err(error("cannot start the VP8 decoder", ptr::null_mut(), rc));
        }
        Ok(Vp8Decoder { ctx })
    }

    /// Decodes one frame into `out` (resized to the picture). An error means the data was
    /// corrupt: drop it and ask the sender for a keyframe.
    pub fn decode(&mut self, data: &[u8], out: &mut Frame) -> Result<Decoded, String> {
        let len = c_uint::try_from(data.len()).map_err(|_| "VP8 frame too large".to_string())?;
        // SAFETY: libvpx reads `len` bytes of `data` and parses them defensively.
        let rc = unsafe { vpx_codec_decode(self.ctx.ptr(), data.as_ptr(), len, ptr::null_mut(), 0) };
        if rc != vpx_codec_err_t::VPX_CODEC_OK {
            return Err(error("VP8 decode failed", self.ctx.ptr(), rc));
        }
        let mut iter: vpx_codec_iter_t = ptr::null();
        let mut got = Decoded::Nothing;
        loop {
            // SAFETY: the image stays valid until the next decode call; converted at once.
            let img = unsafe { vpx_codec_get_frame(self.ctx.ptr(), &mut iter) };
            if img.is_null() {
                break;
            }
            let img = unsafe { &*img };
            let (w, h) = (img.d_w, img.d_h);
            if img.fmt != vpx_img_fmt::VPX_IMG_FMT_I420 || w == 0 || h == 0 || w > 8192 || h > 8192 {
                return Err(format!("decoded VP8 picture has an unusable format {:?} or size {w}x{h}", img.fmt));
            }
            let strides = [img.stride[0], img.stride[1], img.stride[2]].map(|s| s.max(0) as usize);
            let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            // SAFETY: libvpx's planes hold `stride * rows` bytes each (the last row may be short).
            let plane = |i: usize, width: usize, rows: usize| unsafe { std::slice::from_raw_parts(img.planes[i], strides[i] * (rows - 1) + width) };
            i420_to_rgb(plane(0, w as usize, h as usize), plane(1, cw, ch), plane(2, cw, ch), strides, w, h, out);
            got = Decoded::Picture;
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::psnr;
    use crate::media::testsrc;

    #[test]
    fn testsrc_survives_a_round_trip_and_the_first_frame_is_a_keyframe() {
        let mut enc = Vp8Encoder::new(320, 240, 15.0, 800, 0).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let (mut src, mut out) = (Frame::new(320, 240), Frame::new(1, 1));
        let mut pictures = 0;
        for n in 0..10 {
            testsrc::draw(&mut src, n);
            let frame = enc.encode(&src).unwrap().to_vec();
            assert_eq!(is_keyframe(&frame), n == 0, "frame {n}");
            if dec.decode(&frame, &mut out).unwrap() == Decoded::Picture {
                pictures += 1;
                assert_eq!((out.width, out.height), (320, 240));
                assert!(psnr(&src, &out) > 30.0, "frame {n}: {:.1} dB", psnr(&src, &out));
            }
        }
        assert!(pictures >= 9, "{pictures}");
        enc.force_keyframe();
        testsrc::draw(&mut src, 10);
        assert!(is_keyframe(enc.encode(&src).unwrap()), "a keyframe when asked");
    }

    #[test]
    fn garbage_and_truncation_do_not_panic_and_odd_sizes_are_refused() {
        assert!(Vp8Encoder::new(161, 120, 15.0, 300, 0).is_err());
        let mut enc = Vp8Encoder::new(160, 120, 15.0, 300, 0).unwrap();
        let mut src = Frame::new(160, 120);
        testsrc::draw(&mut src, 3);
        let good = enc.encode(&src).unwrap().to_vec();
        let mut dec = Vp8Decoder::new().unwrap();
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
            match i % 3 {
                0 => data.truncate(rnd() as usize % data.len()),
                1 => {
                    for _ in 0..8 {
                        let at = rnd() as usize % data.len();
                        data[at] = rnd() as u8;
                    }
                }
                _ => data = (0..rnd() % 2000).map(|_| rnd() as u8).collect(),
            }
            let _ = dec.decode(&data, &mut out);
        }
        let mut dec = Vp8Decoder::new().unwrap();
        assert_eq!(dec.decode(&good, &mut out), Ok(Decoded::Picture), "a good stream still decodes");
    }
}
