//! Resizing frames between a source's size and the video size.

use image::imageops::{resize, FilterType};
use image::{ImageBuffer, Rgb};

use super::frame::Frame;

/// Scales `src` to `out`'s size (a plain copy when the sizes match).
pub fn scale_into(src: &Frame, out: &mut Frame) {
    if (src.width, src.height) == (out.width, out.height) {
        out.rgb.copy_from_slice(&src.rgb);
        return;
    }
    // A view of the source, not a copy: this runs once a frame.
    let Some(img) = ImageBuffer::<Rgb<u8>, &[u8]>::from_raw(src.width, src.height, &src.rgb[..]) else { return };
    let scaled = resize(&img, out.width, out.height, FilterType::Triangle);
    out.rgb.copy_from_slice(scaled.as_raw());
}
