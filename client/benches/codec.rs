//! Benchmark: H.264 (openh264) and VP8 (libvpx) encode and decode time per frame, as termcall
//! configures them, on the same pictures: the test pattern and a camera-like picture with
//! sensor noise, at 640x480 and 320x240. The times include the RGB/YUV conversions a call makes.
//!
//! `cargo bench -p termcall --bench codec` (release build; one thread, as in a call).

use std::time::{Duration, Instant};

use termcall::media::frame::Frame;
use termcall::media::h264::Decoded;
use termcall::media::testsrc;
use termcall::media::video_codec::{VideoCodec, VideoDecoder, VideoEncoder};

const FRAMES: u64 = 150;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    println!("Per frame over {FRAMES} frames (15 fps, 800 kbps; H.264 constrained baseline, VP8 real-time CBR):");
    for (w, h) in [(640, 480), (320, 240)] {
        for content in ["testsrc", "camera"] {
            for codec in VideoCodec::ALL {
                let mut enc = VideoEncoder::new(codec, w, h, 15.0, 800, 0).expect("encoder");
                let mut dec = VideoDecoder::new(codec).expect("decoder");
                let (mut src, mut out) = (Frame::new(w, h), Frame::new(1, 1));
                let (mut te, mut td, mut bytes, mut skipped) = (Vec::new(), Vec::new(), 0usize, 0);
                let mut seed = 0x9e37_79b9u32;
                for n in 0..FRAMES {
                    if content == "testsrc" { testsrc::draw(&mut src, n) } else { testsrc::camera_like(&mut src, n, &mut seed) }
                    let t = Instant::now();
                    let frame = enc.encode(&src).expect("encode").to_vec();
                    te.push(t.elapsed());
                    if frame.is_empty() {
                        skipped += 1; // rate control dropped the frame
                        continue;
                    }
                    bytes += frame.len();
                    let t = Instant::now();
                    let got = dec.decode(&frame, &mut out).expect("decode");
                    td.push(t.elapsed());
                    assert_eq!(got, Decoded::Picture);
                }
                println!(
                    "  {w}x{h} {content:<7} {:<4}  encode p50 {:.2} ms p95 {:.2} ms   decode p50 {:.2} ms p95 {:.2} ms   {:.0} kbps, {skipped} dropped by rate control",
                    codec.name(),
                    pct(&mut te, 0.5),
                    pct(&mut te, 0.95),
                    pct(&mut td, 0.5),
                    pct(&mut td, 0.95),
                    bytes as f64 * 8.0 / (FRAMES as f64 / 15.0) / 1000.0
                );
            }
        }
    }
}
