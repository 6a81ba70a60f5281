//! Resizing frames between a source's size and the video size.

use image::imageops::{resize, FilterType};
use image::RgbImage;

use super::frame::Frame;

/// Scales `src` to `out`'s size (a plain copy when the sizes match).
pub fn scale_into(src: &Frame, out: &mut Frame) {
    if (src.width, src.height) == (out.width, out.height) {
        out.rgb.copy_from_slice(&src.rgb);
        return;
    }
    let Some(img) = RgbImage::from_raw(src.width, src.height, src.rgb.clone()) else { return };
    let scaled = resize(&img, out.width, out.height, FilterType::Triangle);
    out.rgb.copy_from_slice(scaled.as_raw());
}
