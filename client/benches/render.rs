//! Benchmark: the TUI's video renderer. For 150 decoded frames (10 s at 15 fps, 640x480 sent
//! through H.264 at 800 kbps as in a call) of the test pattern and of a camera-like clip with
//! sensor noise, in video panes of 80x24, 120x40 and 200x60 cells:
//! - render time per frame: sampling the picture into cells, then ratatui's draw (buffer diff and
//!   escape sequences) into a byte counter instead of a terminal;
//! - bytes written to the terminal per second, against a naive full redraw of every cell of the
//!   same frames through the same backend;
//! - per kind of glyph (half blocks, sextants), at 80x24 and 120x40: what the terminal shows,
//!   rebuilt from the cells (each glyph's two colours over its pixels, on a grid of 2x6 a cell,
//!   which both kinds divide), against the decoded picture box-filtered to the same grid: PSNR,
//!   bytes a second and render time.
//!
//! `cargo bench -p termcall --bench render`

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use termcall::media::frame::Frame;
use termcall::media::h264::{Decoded, H264Decoder, H264Encoder};
use termcall::media::testsrc;
use termcall::tui::color::ColorMode;
use termcall::tui::glyphs::Glyphs;
use termcall::tui::video::{VideoView, DEFAULT_THRESHOLD};

const FRAMES: u64 = 150;
const FPS: f64 = 15.0;

/// Counts what would have gone to the terminal (the count is shared, to read it from outside).
#[derive(Default, Clone)]
struct Counter(Rc<Cell<u64>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The frames a receiver decodes: the source through openh264 and back.
fn decoded(content: &str) -> Vec<Frame> {
    let (w, h) = (640, 480);
    let mut enc = H264Encoder::new(w, h, FPS as f32, 800, 30).expect("encoder");
    let mut dec = H264Decoder::new().expect("decoder");
    let mut src = Frame::new(w, h);
    let mut seed = 0x9e37_79b9u32;
    let mut out = Vec::new();
    for n in 0..FRAMES {
        if content == "testsrc" {
            testsrc::draw(&mut src, n);
        } else {
            testsrc::camera_like(&mut src, n, &mut seed);
        }
        let au = enc.encode(&src).expect("encode").to_vec();
        let mut pic = Frame::new(1, 1);
        if !au.is_empty() && dec.decode(&au, &mut pic).expect("decode") == Decoded::Picture {
            out.push(pic);
        } else if let Some(last) = out.last().cloned() {
            out.push(last); // a skipped frame: the screen shows the last one again
        }
    }
    out
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn term(w: u16, h: u16) -> (Terminal<CrosstermBackend<Counter>>, Rc<Cell<u64>>) {
    let counter = Counter::default();
    let bytes = counter.0.clone();
    let t = Terminal::with_options(CrosstermBackend::new(counter), TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, w, h)) }).expect("terminal");
    (t, bytes)
}

/// `frame` box-filtered to `w`x`h`.
fn scaled(frame: &Frame, w: u32, h: u32) -> Vec<[u8; 3]> {
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let (y0, y1) = (y * frame.height / h, ((y + 1) * frame.height / h).max(y * frame.height / h + 1));
        for x in 0..w {
            let (x0, x1) = (x * frame.width / w, ((x + 1) * frame.width / w).max(x * frame.width / w + 1));
            let (mut sum, mut n) = ([0u64; 3], 0u64);
            for sy in y0..y1.min(frame.height) {
                for sx in x0..x1.min(frame.width) {
                    let i = ((sy * frame.width + sx) * 3) as usize;
                    for c in 0..3 {
                        sum[c] += u64::from(frame.rgb[i + c]);
                    }
                    n += 1;
                }
            }
            out.push(sum.map(|v| (v / n.max(1)) as u8));
        }
    }
    out
}

/// PSNR of `shown` against `want`, dB.
fn psnr(shown: &[[u8; 3]], want: &[[u8; 3]]) -> f64 {
    let se: f64 = shown.iter().zip(want).flat_map(|(a, b)| (0..3).map(move |c| (f64::from(a[c]) - f64::from(b[c])).powi(2))).sum();
    let mse = se / (shown.len() * 3).max(1) as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

/// Each kind of glyph on the same frames: PSNR of what the terminal shows, bytes, render time.
fn glyphs_compared(content: &str, frames: &[Frame]) {
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let area = Rect::new(0, 0, w, h);
        for glyphs in [Glyphs::HalfBlock, Glyphs::Sextant] {
            let mut view = VideoView::with_glyphs(ColorMode::TrueColor, glyphs, std::env::var("THRESHOLD").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_THRESHOLD));
            let (mut t, written) = term(w, h);
            let (mut total, mut psnrs) = (Vec::new(), Vec::new());
            for f in frames {
                let t0 = Instant::now();
                view.update(f, area);
                t.draw(|fr| view.draw(fr.area(), fr.buffer_mut())).expect("draw");
                total.push(t0.elapsed());
                let (pw, ph, shown) = view.shown_pixels((2, 6)).expect("a picture");
                psnrs.push(psnr(&shown, &scaled(f, pw, ph)));
            }
            let secs = frames.len() as f64 / FPS;
            psnrs.sort_by(f64::total_cmp);
            println!(
                "  {content:<7} {w:>3}x{h:<2}  {:<9}  PSNR {:>5.2} dB (median)   {:>6.1} KB/s   render p50 {:.2} ms",
                format!("{glyphs:?}"),
                psnrs[psnrs.len() / 2],
                written.get() as f64 / secs / 1000.0,
                pct(&mut total, 0.5),
            );
        }
    }
}

fn main() {
    println!("TUI video renderer, {FRAMES} decoded 640x480 frames at {FPS} fps, truecolor, threshold {DEFAULT_THRESHOLD}:");
    for content in ["testsrc", "camera"] {
        let frames = decoded(content);
        for (w, h) in [(80u16, 24u16), (120, 40), (200, 60)] {
            let area = Rect::new(0, 0, w, h);
            let mut view = VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD);
            let (mut t, written) = term(w, h);
            let (mut naive, naive_written) = term(w, h);
            let (mut sample, mut total) = (Vec::new(), Vec::new());
            let (mut first, mut naive_bytes) = (0, 0);
            for (i, f) in frames.iter().enumerate() {
                let t0 = Instant::now();
                view.update(f, area);
                let t1 = Instant::now();
                t.draw(|fr| view.draw(fr.area(), fr.buffer_mut())).expect("draw");
                total.push(t0.elapsed());
                sample.push(t1 - t0);
                if i == 0 {
                    first = written.get(); // the first full paint
                }
                // Naive: every cell of the frame, every frame.
                let mut buf = Buffer::empty(area);
                view.draw(area, &mut buf);
                let before = naive_written.get();
                let cells = buf.content().iter().enumerate().map(|(k, c)| ((k as u16) % w, (k as u16) / w, c));
                naive.backend_mut().draw(cells).expect("naive draw");
                Backend::flush(naive.backend_mut()).expect("flush");
                naive_bytes += naive_written.get() - before;
            }
            let secs = frames.len() as f64 / FPS;
            let bytes = written.get();
            println!(
                "  {content:<7} {w:>3}x{h:<2}  render p50 {:.2} ms p95 {:.2} ms (sampling p50 {:.2} ms)   {:>6.1} KB/s ({:.1} KB/s after the first paint of {:.1} KB)   naive full redraw {:>7.1} KB/s",
                pct(&mut total, 0.5),
                pct(&mut total, 0.95),
                pct(&mut sample, 0.5),
                bytes as f64 / secs / 1000.0,
                (bytes - first) as f64 / secs / 1000.0,
                first as f64 / 1000.0,
                naive_bytes as f64 / secs / 1000.0,
            );
        }
    }
    println!("The kinds of glyph, what the terminal shows against the picture (a grid of 2x6 a cell), same frames:");
    for content in ["testsrc", "camera"] {
        glyphs_compared(content, &decoded(content));
    }
}
