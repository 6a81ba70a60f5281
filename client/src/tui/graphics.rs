//! How video is drawn (`--graphics`), and what `auto` picks from what the terminal said
//! ([`super::detect`]): real pixels where the terminal shows images (kitty graphics, then
//! iTerm2's, then sixel), else cells ([`super::glyphs`]): sextants where the terminal draws
//! block characters itself, half blocks elsewhere. Over SSH `auto` keeps to cells (a frame as an
//! image is ten to a hundred times the bytes), and inside tmux images need its passthrough.

use super::detect::{Caps, Env};
use super::glyphs::Glyphs;
use super::image::{Protocol, Setup, DEFAULT_CELL_PX};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Auto,
    Cells(Glyphs),
    Image(Protocol),
}

/// What video is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graphics {
    Cells(Glyphs),
    Image(Setup),
}

impl Default for Graphics {
    fn default() -> Graphics {
        Graphics::Cells(Glyphs::HalfBlock)
    }
}

/// Parses `--graphics`.
pub fn parse(s: &str) -> Result<Want, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "auto" => Want::Auto,
        "halfblock" | "half" => Want::Cells(Glyphs::HalfBlock),
        "sextant" | "sextants" => Want::Cells(Glyphs::Sextant),
        "kitty" => Want::Image(Protocol::Kitty),
        "sixel" => Want::Image(Protocol::Sixel),
        "iterm" | "iterm2" => Want::Image(Protocol::Iterm),
        _ => return Err(format!("unsupported --graphics {s:?}: use auto, kitty, sixel, iterm, sextant or halfblock")),
    })
}

impl Graphics {
    /// A name for the log and the status line.
    pub fn name(self) -> &'static str {
        match self {
            Graphics::Cells(Glyphs::HalfBlock) => "halfblock",
            Graphics::Cells(Glyphs::Sextant) => "sextant",
            Graphics::Image(s) => match s.protocol {
                Protocol::Kitty => "kitty",
                Protocol::Sixel => "sixel",
                Protocol::Iterm => "iterm",
            },
        }
    }

    /// The pixels a cell shows (across, down): what a pane's size is told to the sender in.
    pub fn cell_pixels(self) -> (u32, u32) {
        match self {
            Graphics::Cells(g) => g.cell_pixels(),
            Graphics::Image(s) => (u32::from(s.cell_px.0), u32::from(s.cell_px.1)),
        }
    }
}

/// What to draw with, and a word for the user when `auto` could not do as well as the terminal
/// might (inside tmux without passthrough).
pub fn resolve(want: Want, caps: &Caps, env: &Env) -> (Graphics, Option<String>) {
    let cells = if caps.draws_blocks { Glyphs::Sextant } else { Glyphs::HalfBlock };
    let tmux = env.tmux.as_ref();
    let image = |protocol| {
        Graphics::Image(Setup {
            protocol,
            cell_px: caps.cell_px.unwrap_or(DEFAULT_CELL_PX),
            registers: caps.color_registers.unwrap_or(256).clamp(2, 256),
            // Shared memory is for a terminal on this machine that read the query's pixel.
            shared_memory: caps.kitty_shm && !env.ssh && tmux.is_none(),
            tmux: tmux.map(|t| t.pane),
        })
    };
    match want {
        Want::Cells(g) => (Graphics::Cells(g), None),
        Want::Image(p) => {
            let note = tmux.filter(|t| !t.passthrough).map(|_| "inside tmux with allow-passthrough off, images cannot reach the terminal: `tmux set -g allow-passthrough on`".to_owned());
            (image(p), note)
        }
        Want::Auto => {
            let protocol = if caps.kitty {
                Some(Protocol::Kitty)
            } else if caps.iterm {
                Some(Protocol::Iterm)
            } else if caps.sixel {
                Some(Protocol::Sixel)
            } else {
                None
            };
            match (protocol, tmux) {
                (None, _) => (Graphics::Cells(cells), None),
                (Some(_), _) if env.ssh => (Graphics::Cells(cells), None),
                // Inside tmux an image drawn at the cursor is not tmux's to move with its pane:
                // `auto` keeps to cells there; `--graphics` still sends images through.
                (Some(p), Some(t)) => {
                    let how = if t.passthrough { "" } else { " (with `tmux set -g allow-passthrough on`)" };
                    (Graphics::Cells(cells), Some(format!("inside tmux video is drawn in cells; --graphics {} sends images through tmux{how}", Graphics::name(image(p)))))
                }
                (Some(p), None) => (image(p), None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::detect::Tmux;

    #[test]
    fn names_parse_and_bad_ones_say_what_is_there() {
        assert_eq!(parse("sextant"), Ok(Want::Cells(Glyphs::Sextant)));
        assert_eq!(parse("Kitty"), Ok(Want::Image(Protocol::Kitty)));
        assert_eq!(parse("iterm2"), Ok(Want::Image(Protocol::Iterm)));
        assert_eq!(parse("auto"), Ok(Want::Auto));
        assert!(parse("ascii").unwrap_err().contains("kitty, sixel, iterm"));
    }

    #[test]
    fn auto_takes_the_best_the_terminal_shows() {
        let local = Env::default();
        let kitty = Caps { kitty: true, kitty_shm: true, sixel: true, answered: true, cell_px: Some((9, 18)), ..Caps::default() };
        let (g, note) = resolve(Want::Auto, &kitty, &local);
        assert_eq!(g, Graphics::Image(Setup { protocol: Protocol::Kitty, cell_px: (9, 18), registers: 256, shared_memory: true, tmux: None }));
        assert!(note.is_none());
        let xterm = Caps { sixel: true, answered: true, color_registers: Some(16), ..Caps::default() };
        let (g, _) = resolve(Want::Auto, &xterm, &local);
        assert_eq!(g.name(), "sixel");
        assert!(matches!(g, Graphics::Image(Setup { registers: 16, cell_px: (8, 16), .. })));
        let plain = Caps { answered: true, ..Caps::default() };
        assert_eq!(resolve(Want::Auto, &plain, &local).0, Graphics::Cells(Glyphs::HalfBlock));
        // Over SSH: cells, and no shared memory even when asked for kitty.
        let ssh = Env { ssh: true, ..Env::default() };
        assert_eq!(resolve(Want::Auto, &kitty, &ssh).0.name(), "halfblock");
        assert!(matches!(resolve(Want::Image(Protocol::Kitty), &kitty, &ssh).0, Graphics::Image(Setup { shared_memory: false, .. })));
    }

    #[test]
    fn inside_tmux_auto_keeps_to_cells_and_says_how_to_get_images() {
        let off = Env { tmux: Some(Tmux { outer_term: "xterm-kitty".into(), passthrough: false, pane: (0, 0) }), ..Env::default() };
        let caps = crate::tui::detect::from_env(&off);
        let (g, note) = resolve(Want::Auto, &caps, &off);
        assert_eq!(g, Graphics::Cells(Glyphs::Sextant));
        assert!(note.unwrap().contains("allow-passthrough on"));
        let (g, note) = resolve(Want::Image(Protocol::Kitty), &caps, &off);
        assert!(matches!(g, Graphics::Image(Setup { tmux: Some((0, 0)), shared_memory: false, .. })));
        assert!(note.unwrap().contains("allow-passthrough"));
    }
}
