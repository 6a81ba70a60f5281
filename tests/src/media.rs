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

/// A camera-like y4m clip that saturates any video bitrate: a lit wall, a face and a shirt that
/// sway, under fresh sensor noise in every frame (luma ±12, chroma ±6), `w`x`h` at 15 fps.
/// Made once per machine under the temporary directory and reused (about 69 MB at 640x480 for
/// 150 frames); termcall sends it with `--video`, Chromium with `--use-file-for-fake-video-capture`.
pub fn noisy_clip(w: usize, h: usize, frames: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("termcall-noisy2-{w}x{h}-{frames}.y4m"));
    let frame_bytes = w * h + 2 * (w / 2) * (h / 2);
    let header = format!("YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n");
    let size = header.len() + frames * (6 + frame_bytes);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() as usize == size) {
        return path;
    }
    // Written aside and renamed, so a test running beside this one never reads half a clip.
    let tmp = path.with_extension(format!("{}.part", std::process::id()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create clip"));
    f.write_all(header.as_bytes()).unwrap();
    let mut seed = 0x9E37_79B9u32;
    let mut noise = |amp: i32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % (2 * amp as u32 + 1)) as i32 - amp
    };
    let (mut y, mut u, mut v) = (vec![0u8; w * h], vec![0u8; (w / 2) * (h / 2)], vec![0u8; (w / 2) * (h / 2)]);
    for n in 0..frames {
        // Two sways a loop, so that the clip loops without a jump (a jump is a scene change).
        let phase = 2.0 * std::f64::consts::PI * 2.0 * n as f64 / frames as f64;
        let cx = (w / 2) as i64 + (phase.sin() * w as f64 / 10.0) as i64;
        let (cy, r) = ((h / 2) as i64, (h / 5) as i64);
        // What is at (x, y): the wall's light, or the face, or the shirt, as (Y, U, V).
        let scene = |x: i64, yy: i64| -> (i32, i32, i32) {
            let (dx, dy) = (x - cx, yy - (cy - r / 2));
            if dx * dx + dy * dy < r * r {
                (150, 110, 155)
            } else if yy > cy + r / 2 && (x - cx).abs() < r * 2 - (yy - cy - r / 2) / 4 {
                (60, 160, 120)
            } else {
                (190 - (x * 80 / w as i64) as i32 - (yy * 40 / h as i64) as i32, 115, 140)
            }
        };
        for row in 0..h {
            for col in 0..w {
                y[row * w + col] = (scene(col as i64, row as i64).0 + noise(12)).clamp(0, 255) as u8;
            }
        }
        for row in 0..h / 2 {
            for col in 0..w / 2 {
                let (_, cu, cv) = scene(2 * col as i64, 2 * row as i64);
                u[row * (w / 2) + col] = (cu + noise(6)).clamp(0, 255) as u8;
                v[row * (w / 2) + col] = (cv + noise(6)).clamp(0, 255) as u8;
            }
        }
        f.write_all(b"FRAME\n").unwrap();
        f.write_all(&y).unwrap();
        f.write_all(&u).unwrap();
        f.write_all(&v).unwrap();
    }
    drop(f);
    std::fs::rename(&tmp, &path).expect("clip in place");
    path
}
