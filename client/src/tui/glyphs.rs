//! Which characters draw video, without I/O. A cell shows two colours (its foreground and its
//! background) split by a glyph:
//! - **half blocks** (`▀`): 1x2 pixels a cell, the upper in the foreground. Every terminal and
//!   font has them: the floor over SSH.
//! - **sextants** (Unicode 13's block sextants, U+1FB00–U+1FB3B, with ` `, `▌`, `▐` and `█`):
//!   2x3 pixels a cell. Each cell takes the split of its six pixels into two groups that leaves
//!   the least squared error against the two groups' mean colours (32 splits, tried all), as
//!   chafa chooses symbols. Three times the pixels for the same two colours a cell: finer edges,
//!   the same colour budget. Needs a font with the sextants (most recent monospace fonts,
//!   and every terminal that draws block characters itself: kitty, WezTerm, foot, recent VTE).

use std::sync::OnceLock;

/// How video cells are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Glyphs {
    #[default]
    HalfBlock,
    Sextant,
}

impl Glyphs {
    /// Parses `--graphics`: `halfblock` or `sextant`, or `auto` (`None`: as the terminal
    /// answers, [`Glyphs::for_terminal`]).
    pub fn parse(s: &str) -> Result<Option<Glyphs>, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "halfblock" | "half" => Ok(Some(Glyphs::HalfBlock)),
            "sextant" | "sextants" => Ok(Some(Glyphs::Sextant)),
            "kitty" | "sixel" | "iterm" => Err(format!("--graphics {s}: terminal images are not supported yet; use halfblock or sextant")),
            _ => Err(format!("unsupported --graphics {s:?}: use auto, halfblock or sextant")),
        }
    }

    /// What `auto` draws with: sextants on a terminal that draws block characters itself (they
    /// then look right whatever the font), half blocks elsewhere.
    pub fn for_terminal(caps: &super::detect::Caps) -> Glyphs {
        if caps.draws_blocks { Glyphs::Sextant } else { Glyphs::HalfBlock }
    }

    /// Pixels a cell shows: (across, down).
    pub fn cell_pixels(self) -> (u32, u32) {
        match self {
            Glyphs::HalfBlock => (1, 2),
            Glyphs::Sextant => (2, 3),
        }
    }
}

/// The glyph whose set pixels are `mask`'s bits (bit 0 the top left, 1 the top right, 2 and 3
/// the middle row, 4 and 5 the bottom row), drawn in the foreground.
pub fn sextant_symbol(mask: u8) -> &'static str {
    static TABLE: OnceLock<[String; 64]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        std::array::from_fn(|m| {
            let c = match m {
                0 => ' ',
                21 => '▌', // the left column: an older block character, no sextant of its own
                42 => '▐',
                63 => '█',
                // U+1FB00 is mask 1; the four above have no sextant code point.
                _ => {
                    let skipped = usize::from(m > 21) + usize::from(m > 42);
                    char::from_u32(0x1FB00 + (m - 1 - skipped) as u32).unwrap_or('?')
                }
            };
            c.to_string()
        })
    });
    &table[usize::from(mask & 63)]
}

/// The best two-colour split of a cell's six pixels (in `mask` order): the mask of the pixels
/// drawn in the foreground, the foreground's colour and the background's.
pub fn sextant(px: &[[u8; 3]; 6]) -> (u8, [u8; 3], [u8; 3]) {
    let mut best = (u32::MAX, 0u8, [0u8; 3], [0u8; 3]);
    // A split and its complement are the same: the top-left pixel is always background.
    for mask in (0u8..64).step_by(2) {
        let (mut sum, mut n) = ([[0u32; 3]; 2], [0u32; 2]);
        for (i, p) in px.iter().enumerate() {
            let g = usize::from(mask >> i & 1);
            n[g] += 1;
            for c in 0..3 {
                sum[g][c] += u32::from(p[c]);
            }
        }
        let mean = |g: usize| -> [u8; 3] { std::array::from_fn(|c| (sum[g][c] + n[g] / 2).checked_div(n[g]).unwrap_or(0) as u8) };
        let (bg, fg) = (mean(0), mean(1));
        let err: u32 = px
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = if mask >> i & 1 == 1 { &fg } else { &bg };
                (0..3).map(|c| (i32::from(p[c]) - i32::from(m[c])).pow(2) as u32).sum::<u32>()
            })
            .sum();
        if err < best.0 {
            best = (err, mask, fg, bg);
            if err == 0 {
                break;
            }
        }
    }
    let (_, mask, fg, bg) = best;
    if mask == 0 {
        (0, bg, bg) // one colour: a blank cell in it
    } else {
        (mask, fg, bg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mask_has_its_own_glyph_and_the_four_old_blocks_are_used() {
        let all: std::collections::HashSet<&str> = (0..64).map(sextant_symbol).collect();
        assert_eq!(all.len(), 64);
        assert_eq!(sextant_symbol(1), "\u{1FB00}");
        assert_eq!(sextant_symbol(20), "\u{1FB13}");
        assert_eq!(sextant_symbol(22), "\u{1FB14}");
        assert_eq!(sextant_symbol(62), "\u{1FB3B}");
        assert_eq!((sextant_symbol(0), sextant_symbol(21), sextant_symbol(42), sextant_symbol(63)), (" ", "▌", "▐", "█"));
    }

    #[test]
    fn a_cell_splits_where_its_colours_do() {
        let (w, k) = ([250, 250, 250], [10, 10, 10]);
        // A white right column on black.
        let (mask, fg, bg) = sextant(&[k, w, k, w, k, w]);
        assert_eq!((mask, fg, bg), (42, w, k));
        // A white bottom row: the top-left is background, so the mask is the bottom pair.
        let (mask, fg, bg) = sextant(&[k, k, k, k, w, w]);
        assert_eq!((mask, fg, bg), (48, w, k));
        // One colour all over: a blank cell in it.
        assert_eq!(sextant(&[w; 6]), (0, w, w));
    }

    #[test]
    fn graphics_names_parse() {
        assert_eq!(Glyphs::parse("sextant"), Ok(Some(Glyphs::Sextant)));
        assert_eq!(Glyphs::parse("halfblock"), Ok(Some(Glyphs::HalfBlock)));
        assert_eq!(Glyphs::parse("auto"), Ok(None));
        assert!(Glyphs::parse("kitty").is_err());
        assert_eq!(Glyphs::Sextant.cell_pixels(), (2, 3));
    }
}
