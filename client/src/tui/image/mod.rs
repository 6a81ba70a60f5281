//! Video as real pixels, on terminals that show images: one [`ImageView`] per pane scales the
//! newest frame to the pixels the pane covers and, when the link is free ([`pace`]), sends it in
//! the terminal's protocol:
//! - [`kitty`]: the kitty graphics protocol, replaced in place (shared memory when local);
//! - [`sixel`]: sixel, a palette per frame;
//! - [`iterm`]: iTerm2's inline images.
//!
//! [`scale`] is the frame-to-pixels box filter; [`readback`] rebuilds the pixels from the
//! escapes (for tests and the fidelity benchmark). The cells under an image are marked for
//! ratatui to leave alone; the image's escapes go out after ratatui's draw, at the pane's place.
//! Inside tmux each escape is wrapped for its passthrough ([`passthrough`]).

pub mod iterm;
pub mod kitty;
pub mod pace;
pub mod readback;
pub mod scale;
pub mod sixel;

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use std::io::Write;

use base64::Engine;
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use ratatui::style::Color;

use crate::media::Frame;
use scale::Scaler;

/// Which image protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Kitty,
    Sixel,
    Iterm,
}

/// What the terminal takes, for every pane alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub protocol: Protocol,
    /// A cell's size in pixels (across, down).
    pub cell_px: (u16, u16),
    /// Sixel colour registers.
    pub registers: u16,
    /// Kitty frames through shared memory (the terminal proved it reads it).
    pub shared_memory: bool,
    /// Inside tmux: every escape through its passthrough, and where tmux's pane is in the
    /// outer terminal (cells across, down), which the cursor is moved by.
    pub tmux: Option<(u16, u16)>,
}

/// A cell's size when the terminal does not say: the common 8x16.
pub const DEFAULT_CELL_PX: (u16, u16) = (8, 16);

/// Kitty image ids: one per pane, never reused while we run.
static NEXT_ID: AtomicU32 = AtomicU32::new(4000);

/// One pane's picture as an image.
pub struct ImageView {
    setup: Setup,
    id: u32,
    /// Kitty's layer: a later pane (our own picture in the corner) above an earlier one.
    z: i32,
    /// The pane (cells) and source size the layout below was made for.
    pane: (u16, u16),
    source: (u32, u32),
    /// The cells the picture covers, relative to the pane.
    pic: Rect,
    scaler: Scaler,
    rgb: Vec<u8>,
    /// `rgb` holds a frame not yet sent.
    fresh: bool,
    has_picture: bool,
    /// Where this frame's draw put the picture (absolute cells); taken by [`ImageView::emit`].
    drawn: Cell<Option<Rect>>,
    /// Where the terminal shows our picture now.
    shown: Option<Rect>,
    /// Where the log last said it went.
    logged: Option<Rect>,
    /// Nothing may cover the panes' cells this frame (a dialog is open): no image.
    covered: Cell<bool>,
    kitty: kitty::Kitty,
    sixel: Option<Box<sixel::Sixel>>,
    /// One frame's escapes before tmux's wrapping (reused).
    scratch: Vec<u8>,
    iterm: iterm::Iterm,
}

impl ImageView {
    pub fn new(setup: Setup, z: i32) -> ImageView {
        ImageView {
            setup,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            z,
            pane: (0, 0),
            source: (0, 0),
            pic: Rect::default(),
            scaler: Scaler::default(),
            rgb: Vec::new(),
            fresh: false,
            has_picture: false,
            drawn: Cell::new(None),
            shown: None,
            logged: None,
            covered: Cell::new(false),
            kitty: kitty::Kitty::default(),
            sixel: None,
            scratch: Vec::new(),
            iterm: iterm::Iterm::default(),
        }
    }

    pub fn has_picture(&self) -> bool {
        self.has_picture
    }

    /// The kitty image id (for removing it once the pane is gone).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the terminal shows our picture now.
    pub fn is_shown(&self) -> bool {
        self.shown.is_some()
    }

    pub fn clear(&mut self) {
        self.has_picture = false;
        self.fresh = false;
        self.pane = (0, 0);
    }

    pub fn needs_refit(&self, pane: Rect) -> bool {
        self.has_picture && (pane.width, pane.height) != self.pane
    }

    /// The next draw shows the picture anew (what was on screen was drawn over).
    pub fn invalidate(&mut self) {
        self.shown = None;
    }

    /// Whether a picture sent over this one wipes it (sixel and iTerm2 paint cells; kitty's
    /// images are layers, ours above the peer's).
    pub fn painted_over_by_others(&self) -> bool {
        self.setup.protocol != Protocol::Kitty
    }

    /// A dialog covers the screen: draw no image until it is gone.
    pub fn set_covered(&self, covered: bool) {
        self.covered.set(covered);
    }

    /// Scales `frame` to the pane's pixels, to be sent at the next [`ImageView::emit`] the link
    /// allows (a newer frame replaces it before then: the newest is what goes).
    pub fn update(&mut self, frame: &Frame, pane: Rect) {
        if frame.width == 0 || frame.height == 0 || pane.width == 0 || pane.height == 0 {
            return;
        }
        if (pane.width, pane.height) != self.pane || (frame.width, frame.height) != self.source {
            self.fit(frame.width, frame.height, pane.width, pane.height);
        }
        self.scaler.scale(frame, &mut self.rgb);
        self.fresh = true;
        self.has_picture = true;
    }

    /// The picture's place and pixel size in a pane (allocates, on resize only).
    fn fit(&mut self, src_w: u32, src_h: u32, cols: u16, rows: u16) {
        let (cw, ch) = (u32::from(self.setup.cell_px.0.max(1)), u32::from(self.setup.cell_px.1.max(1)));
        let (tw, th) = (u32::from(cols) * cw, u32::from(rows) * ch);
        // The largest picture of the source's aspect that fits the pane's pixels.
        let (pw, ph) = if u64::from(tw) * u64::from(src_h) <= u64::from(th) * u64::from(src_w) {
            (tw, ((u64::from(tw) * u64::from(src_h) / u64::from(src_w)) as u32).max(1))
        } else {
            (((u64::from(th) * u64::from(src_w) / u64::from(src_h)) as u32).max(1), th)
        };
        let (pc, pr) = (pw.div_ceil(cw).clamp(1, u32::from(cols)) as u16, ph.div_ceil(ch).clamp(1, u32::from(rows)) as u16);
        self.pic = Rect::new((cols - pc) / 2, (rows - pr) / 2, pc, pr);
        // Sixel is shown at the size sent: the pane's pixels. Kitty and iTerm2 scale it to the
        // cells: no more than the source's pixels need go.
        let size = match self.setup.protocol {
            Protocol::Sixel => (pw, ph),
            Protocol::Kitty | Protocol::Iterm if pw > src_w => (src_w, src_h),
            _ => (pw, ph),
        };
        if !self.scaler.is((src_w, src_h), size) {
            self.scaler = Scaler::new((src_w, src_h), size);
        }
        self.pane = (cols, rows);
        self.source = (src_w, src_h);
        self.shown = None;
    }

    /// Writes the pane into the buffer: black around the picture, and the picture's cells
    /// marked for ratatui to skip (the image is there). Covered: all black.
    pub fn draw(&self, area: Rect, buf: &mut Buffer) {
        if !self.has_picture || (area.width, area.height) != self.pane {
            return;
        }
        let pic = Rect { x: area.x + self.pic.x, y: area.y + self.pic.y, ..self.pic };
        let covered = self.covered.get();
        let area = area.intersection(buf.area);
        for y in area.top()..area.bottom() {
            for x in area.left()..area.right() {
                if let Some(cell) = buf.cell_mut((x, y)) {
                    cell.reset();
                    cell.set_symbol(" ").set_bg(Color::Black);
                    if !covered && pic.contains(ratatui::layout::Position::new(x, y)) {
                        cell.set_diff_option(CellDiffOption::Skip);
                    }
                }
            }
        }
        if !covered {
            self.drawn.set(Some(pic));
        }
    }

    /// After the UI's draw: whether this pane has an image to send (a new frame, or the
    /// picture moved or was drawn over), and the escapes to hide it if it is not drawn now.
    pub fn wants_to_send(&mut self, out: &mut Vec<u8>) -> bool {
        match self.drawn.get() {
            None => {
                if self.shown.take().is_some() && self.setup.protocol == Protocol::Kitty {
                    kitty::delete(out, self.id, self.setup.tmux.is_some());
                }
                false
            }
            Some(at) => self.fresh || self.shown != Some(at),
        }
    }

    /// Appends the escapes that show the newest frame where it was drawn; where it went.
    pub fn emit(&mut self, out: &mut Vec<u8>) -> Option<Rect> {
        let at = self.drawn.take()?;
        if self.rgb.is_empty() {
            return None;
        }
        let size = self.scaler.size();
        if self.setup.protocol == Protocol::Kitty && self.shown.is_some_and(|s| s != at) {
            kitty::delete(out, self.id, self.setup.tmux.is_some());
        }
        if self.logged != Some(at) {
            self.logged = Some(at);
            tracing::info!(x = at.x, y = at.y, cols = at.width, rows = at.height, width = size.0, height = size.1, protocol = ?self.setup.protocol, "image placed (cells from the top left, and its pixels)");
        }
        // Inside tmux the image lands where the outer terminal's cursor is: the cursor move and
        // the image go through tmux's passthrough as one piece (tmux's own drawing, between two
        // pieces, would move the cursor), in the outer terminal's cells.
        let tmux = self.setup.tmux;
        let (ox, oy) = tmux.unwrap_or((0, 0));
        let mut seq = std::mem::take(&mut self.scratch);
        seq.clear();
        let _ = write!(seq, "\x1b[{};{}H", oy + at.y + 1, ox + at.x + 1);
        match self.setup.protocol {
            Protocol::Kitty => {
                let transfer = if self.setup.shared_memory { kitty::Transfer::SharedMemory } else { kitty::Transfer::Direct };
                let place = kitty::Place { id: self.id, cols: at.width, rows: at.height, z: self.z };
                self.kitty.frame(&mut seq, &self.rgb, size, place, transfer, false);
            }
            Protocol::Sixel => {
                let s = self.sixel.get_or_insert_with(Default::default);
                s.frame(&mut seq, &self.rgb, size, self.setup.registers, false);
            }
            Protocol::Iterm => self.iterm.frame(&mut seq, &self.rgb, size, (at.width, at.height), false),
        }
        passthrough(out, &seq, tmux.is_some());
        self.scratch = seq;
        self.fresh = false;
        self.shown = Some(at);
        Some(at)
    }

    /// Where this frame's draw put the picture, if it did.
    pub fn drawn_at(&self) -> Option<Rect> {
        self.drawn.get()
    }

    /// Forgets what `drawn` said (nothing to send, or the link was busy: the frame waits).
    pub fn skip(&self) {
        self.drawn.set(None);
    }
}

/// Appends `seq` to `out`, through tmux's passthrough when `wrap` (each ESC in it doubled).
pub fn passthrough(out: &mut Vec<u8>, seq: &[u8], wrap: bool) {
    if !wrap {
        out.extend_from_slice(seq);
        return;
    }
    out.extend_from_slice(b"\x1bPtmux;");
    for &b in seq {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend_from_slice(b"\x1b\\");
}

/// Appends `bytes` as standard base64 (no allocation beyond `out`'s growth).
pub fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    let n = base64::engine::general_purpose::STANDARD.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

/// `bytes` as base64 text.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc;

    fn setup(protocol: Protocol) -> Setup {
        Setup { protocol, cell_px: (8, 16), registers: 256, shared_memory: false, tmux: None }
    }

    #[test]
    fn a_frame_goes_once_to_where_it_was_drawn_and_again_only_when_new_or_moved() {
        let mut v = ImageView::new(setup(Protocol::Sixel), 1);
        let mut f = Frame::new(640, 480);
        testsrc::draw(&mut f, 0);
        let area = Rect::new(10, 2, 40, 15);
        v.update(&f, area);
        // 40x15 cells of 8x16 = 320x240 pixels: the 4:3 picture fills it.
        assert_eq!(v.scaler.size(), (320, 240));
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        v.draw(area, &mut buf);
        let skip = |b: &Buffer, x: u16, y: u16| b[(x, y)].diff_option == CellDiffOption::Skip;
        assert!(skip(&buf, 10, 2) && skip(&buf, 49, 16) && !skip(&buf, 50, 16));
        let mut out = Vec::new();
        assert!(v.wants_to_send(&mut out));
        assert_eq!(v.emit(&mut out), Some(Rect::new(10, 2, 40, 15)));
        assert!(out.starts_with(b"\x1b[3;11H\x1bP"));
        let (w, h, _) = readback::sixel(&out).expect("a sixel image");
        assert_eq!((w, h), (320, 240));
        // Drawn again with nothing new: nothing to send.
        v.draw(area, &mut buf);
        assert!(!v.wants_to_send(&mut out));
        // Moved: sent again.
        v.skip();
        let moved = Rect::new(0, 0, 40, 15);
        v.draw(moved, &mut buf);
        assert!(v.wants_to_send(&mut out));
    }

    #[test]
    fn kitty_sends_no_more_than_the_source_and_removes_the_picture_when_not_drawn() {
        let mut v = ImageView::new(setup(Protocol::Kitty), 1);
        let f = Frame::new(320, 240);
        let area = Rect::new(0, 0, 100, 30);
        v.update(&f, area);
        assert_eq!(v.scaler.size(), (320, 240), "the terminal scales it up");
        assert_eq!(v.pic.width, 80);
        let mut buf = Buffer::empty(area);
        v.draw(area, &mut buf);
        let mut out = Vec::new();
        assert!(v.wants_to_send(&mut out));
        v.emit(&mut out).expect("sent");
        out.clear();
        // Not drawn (the call ended, a dialog): the image is removed.
        assert!(!v.wants_to_send(&mut out));
        assert!(String::from_utf8_lossy(&out).contains(&format!("a=d,d=I,i={}", v.id())));
        // Covered: black cells, nothing skipped, nothing to send.
        v.set_covered(true);
        v.draw(area, &mut buf);
        assert_ne!(buf[(40, 10)].diff_option, CellDiffOption::Skip);
        out.clear();
        assert!(!v.wants_to_send(&mut out) && out.is_empty());
    }

    #[test]
    fn inside_tmux_the_cursor_moves_in_the_outer_terminal_too() {
        let mut v = ImageView::new(Setup { tmux: Some((40, 1)), ..setup(Protocol::Sixel) }, 1);
        let f = Frame::new(64, 48);
        let area = Rect::new(2, 3, 8, 3);
        v.update(&f, area);
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 10));
        v.draw(area, &mut buf);
        let mut out = Vec::new();
        v.emit(&mut out).expect("sent");
        // Cell (2, 3) of the pane is (42, 4) outside: row 5, column 43, one-based.
        assert!(out.starts_with(b"\x1bPtmux;\x1b\x1b[5;43H\x1b\x1bP"), "{:?}", String::from_utf8_lossy(&out[..40]));
        assert_eq!(out.windows(7).filter(|w| w == b"\x1bPtmux;").count(), 1, "one piece");
        assert!(readback::sixel(&out).is_some());
    }

    #[test]
    fn passthrough_doubles_escapes() {
        let mut out = Vec::new();
        passthrough(&mut out, b"\x1b_Gx\x1b\\", true);
        assert_eq!(out, b"\x1bPtmux;\x1b\x1b_Gx\x1b\x1b\\\x1b\\");
        let mut b = Vec::new();
        base64_into(b"hello", &mut b);
        assert_eq!(b, b"aGVsbG8=");
    }
}
