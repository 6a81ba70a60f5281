//! Benchmark: the TUI's video renderer. For 150 decoded frames (10 s at 15 fps, 640x480 sent
//! through H.264 at 800 kbps as in a call) of the test pattern and of a camera-like clip with
//! sensor noise, in video panes of 80x24, 120x40 and 200x60 cells:
//! - render time per frame: sampling the picture into cells, then ratatui's draw (buffer diff and
//!   escape sequences) into a byte counter instead of a terminal;
//! - bytes written to the terminal per second, against a naive full redraw of every cell of the
//!   same frames through the same backend;
//! - per mode (half blocks, sextants, kitty graphics, sixel, iTerm2 images), at 80x24 and
//!   120x40 with cells of 8x16 pixels: what the terminal shows, rebuilt from the bytes (each
//!   glyph's two colours over its pixels; the image escapes decoded: kitty's zlib RGB, the sixel
//!   palette and bands, iTerm2's PNG, each as the terminal places it), against the decoded
//!   picture box-filtered to the same pixels: PSNR, bytes a second at 15 fps and render time.
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
use termcall::tui::image::{readback, ImageView, Protocol, Setup};
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

/// A cell's pixels in the comparison (the common 8x16: a half block's two pixels and a sextant's
/// six divide it, and images are sized to it).
const CELL: (u16, u16) = (8, 16);

/// What each mode shows, against the picture, on a grid of the cells' real pixels: PSNR,
/// bytes a second at 15 fps, time per frame (sampling or scaling, then the cells' draw or the
/// image's encoding).
fn modes_compared(content: &str, frames: &[Frame]) {
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let area = Rect::new(0, 0, w, h);
        let mut rows = Vec::new();
        for glyphs in [Glyphs::HalfBlock, Glyphs::Sextant] {
            let mut view = VideoView::with_glyphs(ColorMode::TrueColor, glyphs, std::env::var("THRESHOLD").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_THRESHOLD));
            let (mut t, written) = term(w, h);
            let (mut total, mut psnrs) = (Vec::new(), Vec::new());
            for f in frames {
                let t0 = Instant::now();
                view.update(f, area);
                t.draw(|fr| view.draw(fr.area(), fr.buffer_mut())).expect("draw");
                total.push(t0.elapsed());
                let (pw, ph, shown) = view
                    .shown_pixels((u32::from(CELL.0), u32::from(CELL.1)))
                    .expect("a picture");
                psnrs.push(psnr(&shown, &scaled(f, pw, ph)));
            }
            rows.push((format!("{glyphs:?}"), psnrs, written.get(), total));
        }
        for protocol in [Protocol::Kitty, Protocol::Sixel, Protocol::Iterm] {
            let setup = Setup {
                protocol,
                cell_px: CELL,
                registers: 256,
                shared_memory: false,
                tmux: None,
            };
            let mut view = ImageView::new(setup, 1);
            let mut buf = Buffer::empty(area);
            let mut out = Vec::new();
            let (mut bytes, mut total, mut psnrs) = (0u64, Vec::new(), Vec::new());
            for f in frames {
                let t0 = Instant::now();
                view.update(f, area);
                view.draw(area, &mut buf);
                out.clear();
                view.wants_to_send(&mut out);
                let at = view.emit(&mut out).expect("an image");
                total.push(t0.elapsed());
                bytes += out.len() as u64;
                // What the terminal shows: kitty and iTerm2 stretch the image over its cells;
                // sixel shows it at its own size, from the cells' top left.
                let (iw, ih, rgb) = match protocol {
                    Protocol::Kitty => readback::kitty(&out),
                    Protocol::Sixel => readback::sixel(&out),
                    Protocol::Iterm => readback::iterm(&out),
                }
                .expect("the escapes decode");
                let img = Frame {
                    width: iw,
                    height: ih,
                    rgb,
                };
                let (sw, sh) = if protocol == Protocol::Sixel {
                    (iw, ih)
                } else {
                    (u32::from(at.width * CELL.0), u32::from(at.height * CELL.1))
                };
                psnrs.push(psnr(&scaled(&img, sw, sh), &scaled(f, sw, sh)));
            }
            rows.push((format!("{protocol:?}"), psnrs, bytes, total));
        }
        let secs = frames.len() as f64 / FPS;
        let half = rows[0].2 as f64;
        for (name, mut psnrs, bytes, mut total) in rows {
            psnrs.sort_by(f64::total_cmp);
            println!(
                "  {content:<7} {w:>3}x{h:<2}  {name:<9}  PSNR {:>5.2} dB (median)   {:>8.1} KB/s ({:>6.2}x half blocks)   render p50 {:.2} ms p95 {:.2} ms",
                psnrs[psnrs.len() / 2],
                bytes as f64 / secs / 1000.0,
                bytes as f64 / half.max(1.0),
                pct(&mut total, 0.5),
                pct(&mut total, 0.95),
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
    println!("Each mode, what the terminal shows (rebuilt from the cells, or decoded from the image escapes) against the picture scaled to the same pixels (cells of 8x16), same frames:");
    for content in ["testsrc", "camera"] {
        modes_compared(content, &decoded(content));
    }
}
