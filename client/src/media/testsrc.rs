//! The default video source: a deterministic test pattern a receiver can check.
//! Top two thirds: 8 vertical bars (white, yellow, cyan, green, magenta, red, blue, black).
//! Bottom third: a block moving left to right, and the frame number in digits.

use super::frame::Frame;

/// The bar colours, left to right.
pub const BARS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];

const BACKGROUND: [u8; 3] = [32, 32, 32];
const INK: [u8; 3] = [230, 230, 230];

/// 3x5 digit glyphs, one bit a cell, rows top to bottom.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Draws frame number `n` of the pattern into `f` (whatever its size).
pub fn draw(f: &mut Frame, n: u64) {
    let (w, h) = (f.width, f.height);
    let bars_h = h * 2 / 3;
    for (i, c) in BARS.iter().enumerate() {
        let x0 = w * i as u32 / 8;
        let x1 = w * (i as u32 + 1) / 8;
        f.fill(x0, 0, x1 - x0, bars_h, *c);
    }
    f.fill(0, bars_h, w, h - bars_h, BACKGROUND);
    // The moving block crosses the width in 4 seconds at 15 fps.
    let lower = h - bars_h;
    let side = (lower / 3).max(2);
    let travel = w.saturating_sub(side).max(1);
    let x = ((n * u64::from(w) / 60) % u64::from(travel)) as u32;
    f.fill(x, bars_h + lower / 8, side, side, INK);
    // The frame counter, bottom right.
    let cell = (lower / 16).max(1);
    let text = n.to_string();
    let text_w = text.len() as u32 * 4 * cell;
    let (mut cx, cy) = (w.saturating_sub(text_w + cell * 2), h.saturating_sub(cell * 7));
    for d in text.bytes() {
        let glyph = DIGITS[usize::from(d - b'0')];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    f.fill(cx + col * cell, cy + row as u32 * cell, cell, cell, INK);
                }
            }
        }
        cx += 4 * cell;
    }
}

/// A camera-like scene for benchmarks: smooth lighting, a slowly moving head-and-shoulders
/// shape, and sensor noise (uniform ±12 on every channel of every pixel, different each frame).
/// Noise is what makes real cameras expensive for codecs and terminals alike.
pub fn camera_like(f: &mut Frame, n: u64, seed: &mut u32) {
    let (w, h) = (f.width as i64, f.height as i64);
    let (cx, cy) = (w / 2 + ((n as f64 / 15.0).sin() * w as f64 / 10.0) as i64, h / 2);
    let r = h / 5;
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 3) as usize;
            // A warm wall lit from the left.
            let light = 200 - (x * 80 / w.max(1)) as i32 - (y * 40 / h.max(1)) as i32;
            let mut c = [light, light * 9 / 10, light * 3 / 4];
            let (dx, dy) = (x - cx, y - (cy - r / 2));
            if dx * dx + dy * dy < r * r {
                c = [190, 140, 110]; // a face
            } else if y > cy + r / 2 && (x - cx).abs() < r * 2 - (y - cy - r / 2) / 4 {
                c = [40, 60, 110]; // a shirt
            }
            for (k, v) in c.iter().enumerate() {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 17;
                *seed ^= *seed << 5;
                f.rgb[i + k] = (v + (*seed % 25) as i32 - 12).clamp(0, 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_where_they_belong_and_frames_differ() {
        let mut f = Frame::new(640, 480);
        draw(&mut f, 0);
        for (i, c) in BARS.iter().enumerate() {
            assert_eq!(f.pixel(80 * i as u32 + 40, 100), *c);
        }
        let first = f.clone();
        draw(&mut f, 7);
        assert_ne!(first, f, "the block and counter move");
        let mut g = Frame::new(640, 480);
        draw(&mut g, 7);
        assert_eq!(f, g, "deterministic");
    }

    #[test]
    fn odd_and_tiny_sizes_do_not_panic() {
        for (w, h) in [(2, 2), (17, 9), (1920, 1080)] {
            let mut f = Frame::new(w, h);
            draw(&mut f, 123_456);
        }
    }
}
