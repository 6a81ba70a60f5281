//! iTerm2's inline images (iTerm2, WezTerm, mintty, Konsole): each frame a PNG (fast
//! compression), base64 in one OSC 1337, stretched by the terminal over the cells given. The
//! terminal paints it into those cells; the next frame paints over it.

use std::io::Write;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::{base64_into, passthrough};

/// Reused buffers: the PNG, its base64.
#[derive(Default)]
pub struct Iterm {
    png: Vec<u8>,
    text: Vec<u8>,
}

impl Iterm {
    /// Appends to `out` the escape that shows `rgb` (`w`x`h`) at the cursor over `cols`x`rows`
    /// cells. `wrap`: inside tmux.
    pub fn frame(&mut self, out: &mut Vec<u8>, rgb: &[u8], (w, h): (u32, u32), (cols, rows): (u16, u16), wrap: bool) {
        self.png.clear();
        let enc = PngEncoder::new_with_quality(&mut self.png, CompressionType::Fast, FilterType::Sub);
        if enc.write_image(rgb, w, h, ExtendedColorType::Rgb8).is_err() {
            return;
        }
        self.text.clear();
        base64_into(&self.png, &mut self.text);
        let mut esc = Vec::with_capacity(self.text.len() + 128);
        let _ = write!(esc, "\x1b]1337;File=inline=1;size={};width={cols};height={rows};preserveAspectRatio=0:", self.png.len());
        esc.extend_from_slice(&self.text);
        esc.push(0x07);
        passthrough(out, &esc, wrap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::image::readback;

    #[test]
    fn a_frame_comes_back_from_its_png() {
        let rgb: Vec<u8> = (0..32 * 16 * 3).map(|i| (i % 251) as u8).collect();
        let mut it = Iterm::default();
        let mut out = Vec::new();
        it.frame(&mut out, &rgb, (32, 16), (4, 1), false);
        assert!(out.starts_with(b"\x1b]1337;File=inline=1;size="));
        assert!(String::from_utf8_lossy(&out).contains(";width=4;height=1;preserveAspectRatio=0:"));
        assert_eq!(out.last(), Some(&0x07));
        assert_eq!(readback::iterm(&out).expect("decodes"), (32, 16, rgb));
    }
}
