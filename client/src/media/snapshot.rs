//! Writing a frame as a PNG file.

use std::path::Path;

use super::frame::Frame;

/// Writes `f` to `path` as PNG; the error names the file.
pub fn write_png(f: &Frame, path: &Path) -> Result<(), String> {
    image::save_buffer_with_format(path, &f.rgb, f.width, f.height, image::ExtendedColorType::Rgb8, image::ImageFormat::Png)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
