//! Terminal colour: what the terminal can show, and mapping RGB to it.

use ratatui::style::Color;

/// How video colours are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit `38;2;r;g;b` colours.
    TrueColor,
    /// The xterm 256-colour palette (6x6x6 cube and 24 greys), for terminals without truecolor.
    Ansi256,
}

impl ColorMode {
    /// `--color auto|truecolor|256`; `auto` trusts COLORTERM (what terminals set for truecolor),
    /// then TERM (`*-direct`, `*truecolor*`, `*24bit*`), and falls back to 256 colours.
    pub fn parse(s: &str, colorterm: Option<&str>, term: Option<&str>) -> Result<ColorMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "truecolor" | "24bit" => Ok(ColorMode::TrueColor),
            "256" | "ansi256" => Ok(ColorMode::Ansi256),
            "auto" => {
                let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
                let term = term.unwrap_or("").to_ascii_lowercase();
                let rgb = matches!(colorterm.as_str(), "truecolor" | "24bit")
                    || term.ends_with("-direct")
                    || term.contains("truecolor")
                    || term.contains("24bit");
                Ok(if rgb { ColorMode::TrueColor } else { ColorMode::Ansi256 })
            }
            _ => Err(format!("bad --color {s:?}: use auto, truecolor or 256")),
        }
    }

    /// The terminal colour for an RGB value.
    #[inline]
    pub fn color(self, [r, g, b]: [u8; 3]) -> Color {
        match self {
            ColorMode::TrueColor => Color::Rgb(r, g, b),
            ColorMode::Ansi256 => Color::Indexed(ansi256([r, g, b])),
        }
    }
}

/// The levels of the xterm colour cube's axes.
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The nearest cube level's index for a channel value.
#[inline]
fn cube_index(v: u8) -> usize {
    // Midpoints between the levels: 48, 115, 155, 195, 235.
    match v {
        0..=47 => 0,
        48..=114 => 1,
        115..=154 => 2,
        155..=194 => 3,
        195..=234 => 4,
        _ => 5,
    }
}

/// The nearest xterm-256 palette entry (from 16 up: the cube or the grey ramp).
pub fn ansi256([r, g, b]: [u8; 3]) -> u8 {
    let (ri, gi, bi) = (cube_index(r), cube_index(g), cube_index(b));
    let cube = [CUBE[ri], CUBE[gi], CUBE[bi]];
    // Grey ramp 232..=255: 8, 18, ..., 238.
    let mean = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let gi_ramp = if mean < 8 { 0 } else { ((mean - 8) / 10).min(23) as u8 };
    let grey = 8 + 10 * gi_ramp;
    let dist = |c: [u8; 3]| -> u32 {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2) as u32;
        d(c[0], r) + d(c[1], g) + d(c[2], b)
    };
    if dist([grey, grey, grey]) < dist(cube) {
        232 + gi_ramp
    } else {
        16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_colorterm() {
        assert_eq!(ColorMode::parse("auto", Some("truecolor"), None).unwrap(), ColorMode::TrueColor);
        assert_eq!(ColorMode::parse("auto", Some("24bit"), Some("xterm")).unwrap(), ColorMode::TrueColor);
        assert_eq!(ColorMode::parse("auto", None, Some("xterm-direct")).unwrap(), ColorMode::TrueColor);
        assert_eq!(ColorMode::parse("auto", None, Some("xterm-256color")).unwrap(), ColorMode::Ansi256);
        assert_eq!(ColorMode::parse("auto", None, None).unwrap(), ColorMode::Ansi256);
        assert_eq!(ColorMode::parse("256", Some("truecolor"), None).unwrap(), ColorMode::Ansi256);
        assert!(ColorMode::parse("16", None, None).is_err());
    }

    #[test]
    fn palette_corners_and_greys() {
        assert_eq!(ansi256([0, 0, 0]), 16);
        assert_eq!(ansi256([255, 255, 255]), 231);
        assert_eq!(ansi256([255, 0, 0]), 196);
        assert_eq!(ansi256([0, 0, 255]), 21);
        assert_eq!(ansi256([128, 128, 128]), 244);
        assert_eq!(ansi256([255, 255, 0]), 226);
    }
}
