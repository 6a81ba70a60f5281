//! Resizing frames between a source's size and the video size.

use image::imageops::{resize, FilterType};
use image::{ImageBuffer, Rgb};

use super::frame::Frame;

/// Scales `src` to `out`'s size (a plain copy when the sizes match; an average of the source
/// pixels under each output pixel when it shrinks, see [`downscale_into`]).
pub fn scale_into(src: &Frame, out: &mut Frame) {
    if (src.width, src.height) == (out.width, out.height) {
        out.rgb.copy_from_slice(&src.rgb);
        return;
    }
    if out.width <= src.width && out.height <= src.height && out.width > 0 && out.height > 0 {
        return downscale_into(src, out);
    }
    // A view of the source, not a copy: this runs once a frame.
    let Some(img) = ImageBuffer::<Rgb<u8>, &[u8]>::from_raw(src.width, src.height, &src.rgb[..]) else { return };
    let scaled = resize(&img, out.width, out.height, FilterType::Triangle);
    out.rgb.copy_from_slice(scaled.as_raw());
}

/// Shrinks `src` into `out` (already sized, no larger than `src`) by averaging the source pixels
/// under each output pixel: no allocation, one pass over the source. For the sender's smaller
/// sizes, once a frame.
pub fn downscale_into(src: &Frame, out: &mut Frame) {
    let (sw, sh, dw, dh) = (src.width as usize, src.height as usize, out.width as usize, out.height as usize);
    if dw == 0 || dh == 0 || dw > sw || dh > sh {
        return scale_into(src, out);
    }
    for oy in 0..dh {
        let (y0, y1) = (oy * sh / dh, ((oy + 1) * sh / dh).max(oy * sh / dh + 1));
        for ox in 0..dw {
            let (x0, x1) = (ox * sw / dw, ((ox + 1) * sw / dw).max(ox * sw / dw + 1));
            let mut sum = [0u32; 3];
            for y in y0..y1 {
                let row = &src.rgb[(y * sw + x0) * 3..(y * sw + x1) * 3];
                for px in row.chunks_exact(3) {
                    sum[0] += u32::from(px[0]);
                    sum[1] += u32::from(px[1]);
                    sum[2] += u32::from(px[2]);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            let o = (oy * dw + ox) * 3;
            for c in 0..3 {
                out.rgb[o + c] = ((sum[c] + n / 2) / n) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscaling_averages_and_keeps_flat_colours() {
        let mut src = Frame::new(640, 480);
        src.fill(0, 0, 320, 480, [200, 100, 50]);
        src.fill(320, 0, 320, 480, [10, 20, 30]);
        for (w, h) in [(480, 360), (320, 240), (160, 120)] {
            let mut out = Frame::new(w, h);
            downscale_into(&src, &mut out);
            assert_eq!(out.pixel(0, 0), [200, 100, 50]);
            assert_eq!(out.pixel(w - 1, h - 1), [10, 20, 30]);
        }
        // A 2:1 shrink of a checkerboard is its mean.
        let mut checker = Frame::new(4, 2);
        for x in 0..4 {
            for y in 0..2 {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                checker.fill(x, y, 1, 1, [v, v, v]);
            }
        }
        let mut out = Frame::new(2, 1);
        downscale_into(&checker, &mut out);
        assert_eq!(out.pixel(0, 0), [128, 128, 128]);
    }
}
