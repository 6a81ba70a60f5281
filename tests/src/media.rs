//! Media fixtures for the tests: pictures and clips made on the spot, and ways to compare them.

use std::io::Write;
use std::path::Path;

use image::{Rgb, RgbImage};

/// The colours of termcall's test pattern (`--video testsrc`), bar by bar, left to right.
pub const TESTSRC_BARS: [[u8; 3]; 8] = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];

/// A natural-ish still picture (smooth gradients and a few shapes), `w`x`h`, saved as PNG.
pub fn write_test_png(path: &Path, w: u32, h: u32) -> RgbImage {
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let mut c = [(255.0 * fx) as u8, (255.0 * fy) as u8, (255.0 * (1.0 - fx * fy)) as u8];
        let (dx, dy) = (fx - 0.35, fy - 0.5);
        if dx * dx + dy * dy < 0.04 {
            c = [240, 200, 40];
        }
        if (0.6..0.85).contains(&fx) && (0.2..0.7).contains(&fy) {
            c = [30, 120, 60];
        }
        Rgb(c)
    });
    img.save(path).expect("write test png");
    img
}

/// A y4m clip of `frames` frames, `w`x`h` 4:2:0: a bright square moving over a grey ramp.
pub fn write_test_y4m(path: &Path, w: usize, h: usize, frames: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create y4m"));
    writeln!(f, "YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg").unwrap();
    for n in 0..frames {
        f.write_all(b"FRAME\n").unwrap();
        let mut y = vec![0u8; w * h];
        for row in 0..h {
            for col in 0..w {
                y[row * w + col] = (40 + col * 160 / w) as u8;
            }
        }
        let x0 = (n * 8) % (w - 32);
        for row in 16..48 {
            for col in x0..x0 + 32 {
                y[row * w + col] = 235;
            }
        }
        f.write_all(&y).unwrap();
        f.write_all(&vec![128u8; 2 * (w / 2) * (h / 2)]).unwrap();
    }
}

/// PSNR between two RGB images of one size.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64.powi(2) / mse).log10() }
}

/// Mean colour of a rectangle.
pub fn mean(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> [f64; 3] {
    let mut s = [0.0; 3];
    for yy in y..y + h {
        for xx in x..x + w {
            let p = img.get_pixel(xx, yy);
            for c in 0..3 {
                s[c] += f64::from(p[c]);
            }
        }
    }
    s.map(|v| v / f64::from(w * h))
}
