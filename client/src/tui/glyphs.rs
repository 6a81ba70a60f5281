//! Which characters draw video, without I/O. A cell shows two colours (its foreground and its
//! background) split by a glyph:
//! - **half blocks** (`▀`): 1x2 pixels a cell, the upper in the foreground. Every terminal and
//!   font has them: the floor over SSH.
//! - **sextants** (Unicode 13's block sextants, U+1FB00–U+1FB3B, with ` `, `▌`, `▐` and `█`):
//!   2x3 pixels a cell, and the quadrants (`▘▝▖▗▞▄▀…`), which split a cell at half its height.
//!   Each cell takes, of these 38 splits, the one that leaves the least squared error against
//!   its two sides' mean colours over 2x6 samples of the picture, as chafa chooses symbols. Three times the pixels for the same two colours a cell: finer edges,
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
    /// The samples each cell is worked out from: (across, down). Sextants are chosen from 2x6,
    /// which both their thirds and the quadrants' halves divide.
    pub fn samples(self) -> (u32, u32) {
        match self {
            Glyphs::HalfBlock => (1, 2),
            Glyphs::Sextant => (2, 6),
        }
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

/// The glyph drawn in a cell and its two colours: `coverage` is where the glyph's foreground
/// falls on the cell's 2x6 samples (bit `row * 2 + column`, from the top left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub coverage: u16,
    pub fg: [u8; 3],
    pub bg: [u8; 3],
    pub symbol: &'static str,
}

/// Every glyph a sextant cell may take, as its coverage of the 2x6 samples and its symbol: the
/// 32 sextant splits and the 6 quadrant splits that are not sextants too (all with the top left
/// in the background: a split and its complement are the same). Quadrants split a cell at half its height, where the
/// sextants split at thirds: a picture whose change falls there (a gradient, a half block's own
/// split) is drawn closer by them.
fn candidates() -> &'static [Candidate] {
    static TABLE: OnceLock<Vec<Candidate>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const QUADRANTS: [&str; 16] = [" ", "▘", "▝", "▀", "▖", "▌", "▞", "▛", "▗", "▚", "▐", "▜", "▄", "▙", "▟", "█"];
        let mut out: Vec<Candidate> = Vec::with_capacity(38);
        for mask in (0u8..64).step_by(2) {
            // Sextant `i` (row `i / 2`, column `i % 2`) covers two sample rows.
            let coverage = (0..6).filter(|i| mask >> i & 1 == 1).fold(0u16, |c, i| c | 1 << ((i / 2) * 4 + i % 2) | 1 << ((i / 2) * 4 + 2 + i % 2));
            out.push(Candidate { coverage, symbol: sextant_symbol(mask), parts: Parts::Sextants(mask) });
        }
        for q in (2u8..16).step_by(2) {
            // Quadrant bits: top left, top right, bottom left, bottom right; three rows each.
            let coverage = (0..4).filter(|k| q >> k & 1 == 1).fold(0u16, |c, k| (0..3).fold(c, |c, r| c | 1 << ((r + 3 * (k / 2)) * 2 + k % 2)));
            if !out.iter().any(|c| c.coverage == coverage) {
                out.push(Candidate { coverage, symbol: QUADRANTS[usize::from(q)], parts: Parts::Quadrants(q) });
            }
        }
        out
    })
}

/// One glyph a sextant cell may take.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Its foreground over the 2x6 samples.
    coverage: u16,
    symbol: &'static str,
    /// The same as the sextants or quadrants it is made of, to sum their samples fast.
    parts: Parts,
}

#[derive(Debug, Clone, Copy)]
enum Parts {
    Sextants(u8),
    Quadrants(u8),
}

/// The glyph and two colours that draw a cell's 2x6 samples (row by row from the top left)
/// closest: the least squared error against each side's mean colour.
pub fn best_cell(px: &[[u8; 3]; 12]) -> Cell {
    // Each sextant's sum (two samples) and each quadrant's (three): a candidate's side is a
    // few of these.
    let add = |a: [u32; 3], p: &[u8; 3]| [a[0] + u32::from(p[0]), a[1] + u32::from(p[1]), a[2] + u32::from(p[2])];
    let sext: [[u32; 3]; 6] = std::array::from_fn(|i| add(add([0; 3], &px[(i / 2) * 4 + i % 2]), &px[(i / 2) * 4 + 2 + i % 2]));
    let quad: [[u32; 3]; 4] = std::array::from_fn(|k| (0..3).fold([0; 3], |a, r| add(a, &px[(r + 3 * (k / 2)) * 2 + k % 2])));
    let total = sext.iter().fold([0u32; 3], |a, s| [a[0] + s[0], a[1] + s[1], a[2] + s[2]]);
    let side = |parts: Parts| -> [u32; 3] {
        let (sums, mask): (&[[u32; 3]], u8) = match parts {
            Parts::Sextants(m) => (&sext, m),
            Parts::Quadrants(m) => (&quad, m),
        };
        sums.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).fold([0; 3], |a, (_, s)| [a[0] + s[0], a[1] + s[1], a[2] + s[2]])
    };
    // The squared error is the samples' own sum of squares (the same for every split) less
    // each side's sum squared over its count: the best split makes the latter largest.
    let (mut best, mut best_score, mut best_s1) = (candidates()[0], f64::MIN, [0u32; 3]);
    for &c in candidates() {
        let n1 = c.coverage.count_ones();
        let n0 = 12 - n1;
        let s1 = side(c.parts);
        let score: f64 = (0..3)
            .map(|k| {
                let (a, b) = (f64::from(s1[k]), f64::from(total[k] - s1[k]));
                (if n1 > 0 { a * a / f64::from(n1) } else { 0.0 }) + (if n0 > 0 { b * b / f64::from(n0) } else { 0.0 })
            })
            .sum();
        if score > best_score + 1e-9 {
            (best, best_score, best_s1) = (c, score, s1);
        }
    }
    let n1 = best.coverage.count_ones();
    let mean = |s: u32, n: u32| (s + n / 2).checked_div(n).unwrap_or(0) as u8;
    let fg: [u8; 3] = std::array::from_fn(|k| mean(best_s1[k], n1));
    let bg: [u8; 3] = std::array::from_fn(|k| mean(total[k] - best_s1[k], 12 - n1));
    Cell { coverage: best.coverage, fg: if best.coverage == 0 { bg } else { fg }, bg, symbol: best.symbol }
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

    /// 2x6 samples from a picture of 2 columns and 6 rows.
    fn cell(rows: [[[u8; 3]; 2]; 6]) -> [[u8; 3]; 12] {
        std::array::from_fn(|i| rows[i / 2][i % 2])
    }

    #[test]
    fn a_cell_splits_where_its_colours_do() {
        let (w, k) = ([250, 250, 250], [10, 10, 10]);
        // A white right column on black: `▐`, white on black.
        let c = best_cell(&cell([[k, w]; 6]));
        assert_eq!((c.symbol, c.fg, c.bg), ("▐", w, k));
        // A white bottom third: the sextant of the bottom pair.
        let c = best_cell(&cell([[k, k], [k, k], [k, k], [k, k], [w, w], [w, w]]));
        assert_eq!((c.symbol, c.fg, c.bg), (sextant_symbol(48), w, k));
        // A white bottom half: the quadrants' lower half block, not a sextant.
        let c = best_cell(&cell([[k, k], [k, k], [k, k], [w, w], [w, w], [w, w]]));
        assert_eq!((c.symbol, c.fg, c.bg), ("▄", w, k));
        // A white top-right quarter.
        let c = best_cell(&cell([[k, w], [k, w], [k, w], [k, k], [k, k], [k, k]]));
        assert_eq!((c.symbol, c.fg, c.bg), ("▝", w, k));
        // One colour all over: a blank cell in it.
        let c = best_cell(&[w; 12]);
        assert_eq!((c.symbol, c.fg, c.bg, c.coverage), (" ", w, w, 0));
    }

    #[test]
    fn thirty_eight_glyphs_each_once() {
        let all = candidates();
        assert_eq!(all.len(), 32 + 6, "of the quadrants' seven, the right half is a sextant's too");
        let covers: std::collections::HashSet<u16> = all.iter().map(|c| c.coverage).collect();
        assert_eq!(covers.len(), all.len());
        assert!(all.iter().all(|c| c.coverage & 1 == 0), "the top left is always background");
    }

    #[test]
    fn cell_pixels() {
        assert_eq!(Glyphs::Sextant.cell_pixels(), (2, 3));
        assert_eq!(Glyphs::HalfBlock.cell_pixels(), (1, 2));
    }
}
