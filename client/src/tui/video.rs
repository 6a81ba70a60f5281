//! Video as terminal cells: each cell shows two colours split by a glyph ([`super::glyphs`]): the
//! upper-half block `▀` (its foreground the upper pixel, its background the lower one: two
//! square-ish pixels a cell), or a block sextant (2x3 pixels a cell, in the two colours that
//! suit them best).
//!
//! What keeps it light over SSH: the picture is box-filtered down to the pane (which also averages
//! sensor noise away), colours are quantized, and a cell whose colours moved less than a threshold
//! since they were last shown keeps its old colours. ratatui only writes cells that differ from
//! the previous screen, so an unchanged cell costs nothing on the wire.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

use super::color::ColorMode;
use super::glyphs::{best_cell, Glyphs};
use super::graphics::Graphics;
use super::image::ImageView;
use crate::media::Frame;

/// Samples per axis averaged into one output pixel (so at most 16 reads a pixel).
const TAPS: usize = 4;
/// Colours shown are multiples of this (6 bits a channel).
const QUANTUM: u16 = 4;
/// By default a cell is redrawn only when a channel of either half moved by this much or more.
pub const DEFAULT_THRESHOLD: u8 = 12;
/// The upper half block.
const HALF: &str = "▀";

/// Samples a cell is worked out from, at most (a sextant cell's 2x6).
const CELL_PX: usize = 12;

/// What one cell shows: its samples, and the split drawn (`mask`'s samples, row by row from
/// the top left, in `fg`; the rest in `bg`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Shown {
    px: [[u8; 3]; CELL_PX],
    mask: u16,
    fg: [u8; 3],
    bg: [u8; 3],
}

/// One pane's video: what is on screen now, and how a frame maps onto it.
pub struct VideoView {
    mode: ColorMode,
    glyphs: Glyphs,
    threshold: i16,
    /// Pane size in cells, and the source size, that the mapping below was made for.
    pane: (u16, u16),
    source: (u32, u32),
    /// The picture inside the pane (aspect kept, centred), in cells.
    pic: Rect,
    /// For each output pixel column / row: the source coordinates it averages.
    xs: Vec<[u32; TAPS]>,
    ys: Vec<[u32; TAPS]>,
    /// Per picture cell: what it shows, and as terminal colours and a glyph.
    shown: Vec<Shown>,
    colors: Vec<(Color, Color, &'static str)>,
    has_picture: bool,
    /// Drawn as an image instead ([`super::image`]): everything above is unused.
    image: Option<Box<ImageView>>,
}

impl VideoView {
    pub fn new(mode: ColorMode, threshold: u8) -> VideoView {
        VideoView::with_glyphs(mode, Glyphs::HalfBlock, threshold)
    }

    /// The same, drawn with `glyphs`.
    pub fn with_glyphs(mode: ColorMode, glyphs: Glyphs, threshold: u8) -> VideoView {
        VideoView {
            mode,
            glyphs,
            threshold: i16::from(threshold),
            pane: (0, 0),
            source: (0, 0),
            pic: Rect::default(),
            xs: Vec::new(),
            ys: Vec::new(),
            shown: Vec::new(),
            colors: Vec::new(),
            has_picture: false,
            image: None,
        }
    }

    /// The same, drawn with `graphics`; `z`: an image's layer (a later pane's above).
    pub fn with_graphics(mode: ColorMode, graphics: Graphics, threshold: u8, z: i32) -> VideoView {
        match graphics {
            Graphics::Cells(g) => VideoView::with_glyphs(mode, g, threshold),
            Graphics::Image(setup) => VideoView {
                image: Some(Box::new(ImageView::new(setup, z))),
                ..VideoView::with_glyphs(mode, Glyphs::HalfBlock, threshold)
            },
        }
    }

    /// The pane as an image, if it is drawn as one.
    pub fn image_mut(&mut self) -> Option<&mut ImageView> {
        self.image.as_deref_mut()
    }

    pub fn image(&self) -> Option<&ImageView> {
        self.image.as_deref()
    }

    /// Whether a picture has been shown since the last [`VideoView::clear`].
    pub fn has_picture(&self) -> bool {
        self.image
            .as_ref()
            .map_or(self.has_picture, |i| i.has_picture())
    }

    /// Forgets the picture (a call ended).
    pub fn clear(&mut self) {
        if let Some(i) = &mut self.image {
            i.clear();
        }
        self.has_picture = false;
        self.pane = (0, 0);
    }

    /// Whether a frame must be sampled again because the pane is not the size last drawn.
    pub fn needs_refit(&self, pane: Rect) -> bool {
        if let Some(i) = &self.image {
            return i.needs_refit(pane);
        }
        self.has_picture && (pane.width, pane.height) != self.pane
    }

    /// Samples `frame` into the pane's cells. Cells that changed less than the threshold keep
    /// their colours; after a resize every cell is taken afresh.
    pub fn update(&mut self, frame: &Frame, pane: Rect) {
        if let Some(i) = &mut self.image {
            return i.update(frame, pane);
        }
        if frame.width == 0 || frame.height == 0 || pane.width == 0 || pane.height == 0 {
            return;
        }
        let fresh = (pane.width, pane.height) != self.pane || (frame.width, frame.height) != self.source;
        if fresh {
            self.fit(frame.width, frame.height, pane.width, pane.height);
        }
        let (cols, rows) = (usize::from(self.pic.width), usize::from(self.pic.height));
        let (gw, gh) = self.glyphs.samples();
        let (gw, gh) = (gw as usize, gh as usize);
        let n = gw * gh;
        let stride = frame.width as usize * 3;
        let rgb = &frame.rgb[..];
        for cy in 0..rows {
            for cx in 0..cols {
                let mut px = [[0u8; 3]; CELL_PX];
                for sy in 0..gh {
                    let ys = &self.ys[cy * gh + sy];
                    for sx in 0..gw {
                        px[sy * gw + sx] = average(rgb, stride, &self.xs[cx * gw + sx], ys);
                    }
                }
                let i = cy * cols + cx;
                if fresh || moved(&self.shown[i].px[..n], &px[..n], self.threshold) {
                    let (mask, fg, bg, symbol) = match self.glyphs {
                        Glyphs::HalfBlock => (1, px[0], px[1], HALF),
                        Glyphs::Sextant => {
                            let c = best_cell(&px);
                            (c.coverage, c.fg, c.bg, c.symbol)
                        }
                    };
                    self.shown[i] = Shown { px, mask, fg, bg };
                    self.colors[i] = (self.mode.color(fg), self.mode.color(bg), symbol);
                }
            }
        }
        self.has_picture = true;
    }

    /// Writes the picture into `area` of the buffer (black around it). Cheap: each cell once.
    pub fn draw(&self, area: Rect, buf: &mut Buffer) {
        if let Some(i) = &self.image {
            return i.draw(area, buf);
        }
        if !self.has_picture || (area.width, area.height) != self.pane {
            return;
        }
        let pic = Rect { x: area.x + self.pic.x, y: area.y + self.pic.y, ..self.pic };
        let area = area.intersection(buf.area);
        for y in area.top()..area.bottom() {
            for x in area.left()..area.right() {
                if pic.contains(ratatui::layout::Position::new(x, y)) {
                    continue; // written below
                }
                if let Some(cell) = buf.cell_mut((x, y)) {
                    cell.set_symbol(" ").set_bg(Color::Black);
                }
            }
        }
        let cols = usize::from(self.pic.width);
        for cy in 0..self.pic.height {
            for cx in 0..self.pic.width {
                let (fg, bg, symbol) = self.colors[usize::from(cy) * cols + usize::from(cx)];
                if let Some(cell) = buf.cell_mut((area.x + self.pic.x + cx, area.y + self.pic.y + cy)) {
                    cell.set_symbol(symbol).set_fg(fg).set_bg(bg);
                }
            }
        }
    }

    /// What the picture's cells show, as pixels: `sub` (across, down) a cell, each the colour
    /// of the glyph's part over it (for comparing what each kind of glyph shows with the
    /// picture: `sub` a multiple of both kinds' pixels, 2x6). `None` before a picture.
    pub fn shown_pixels(&self, sub: (u32, u32)) -> Option<(u32, u32, Vec<[u8; 3]>)> {
        if !self.has_picture {
            return None;
        }
        let (gw, gh) = self.glyphs.samples();
        let (cols, rows) = (u32::from(self.pic.width), u32::from(self.pic.height));
        let (w, h) = (cols * sub.0, rows * sub.1);
        let mut out = vec![[0u8; 3]; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let s = &self.shown[((y / sub.1) * cols + x / sub.0) as usize];
                let (sx, sy) = ((x % sub.0) * gw / sub.0, (y % sub.1) * gh / sub.1);
                out[(y * w + x) as usize] = if s.mask >> (sy * gw + sx) & 1 == 1 { s.fg } else { s.bg };
            }
        }
        Some((w, h, out))
    }

    /// Works out the picture's place in the pane and the sampling grid (allocates, on resize only).
    fn fit(&mut self, src_w: u32, src_h: u32, pane_w: u16, pane_h: u16) {
        // The pane in square units: a cell is one wide and two tall.
        let (pw, ph) = (u32::from(pane_w), u32::from(pane_h) * 2);
        // Largest picture of the source's aspect that fits, in whole cells.
        let (mut w, mut h) = if u64::from(pw) * u64::from(src_h) <= u64::from(ph) * u64::from(src_w) {
            (pw, (u64::from(pw) * u64::from(src_h) / u64::from(src_w)) as u32)
        } else {
            ((u64::from(ph) * u64::from(src_w) / u64::from(src_h)) as u32, ph)
        };
        w = w.clamp(1, pw);
        h = (h / 2 * 2).clamp(2, ph);
        let (cols, rows) = (w as u16, (h / 2) as u16);
        self.pic = Rect::new((pane_w - cols) / 2, (pane_h - rows) / 2, cols, rows);
        // The samples each cell is worked out from.
        let (gw, gh) = self.glyphs.samples();
        self.xs = taps(src_w, u32::from(cols) * gw);
        self.ys = taps(src_h, u32::from(rows) * gh);
        let cells = usize::from(cols) * usize::from(rows);
        self.shown = vec![Shown::default(); cells];
        self.colors = vec![(Color::Black, Color::Black, HALF); cells];
        self.pane = (pane_w, pane_h);
        self.source = (src_w, src_h);
    }
}

/// For each of `n` output positions, `TAPS` source positions spread over its box.
fn taps(src: u32, n: u32) -> Vec<[u32; TAPS]> {
    (0..n)
        .map(|i| {
            let mut t = [0; TAPS];
            for (k, v) in t.iter_mut().enumerate() {
                // Centre of the k-th sub-box of output pixel i, in source coordinates.
                let pos = (u64::from(i) * TAPS as u64 + k as u64) * 2 + 1;
                *v = ((pos * u64::from(src)) / (u64::from(n) * TAPS as u64 * 2)).min(u64::from(src - 1)) as u32;
            }
            t
        })
        .collect()
}

/// The quantized mean colour of the TAPS x TAPS source samples of one output pixel.
#[inline]
fn average(rgb: &[u8], stride: usize, xs: &[u32; TAPS], ys: &[u32; TAPS]) -> [u8; 3] {
    let mut sum = [0u16; 3];
    for &y in ys {
        let row = &rgb[y as usize * stride..];
        for &x in xs {
            let p = &row[x as usize * 3..x as usize * 3 + 3];
            sum[0] += u16::from(p[0]);
            sum[1] += u16::from(p[1]);
            sum[2] += u16::from(p[2]);
        }
    }
    let n = (TAPS * TAPS) as u16;
    sum.map(|s| (((s + n / 2) / n + QUANTUM / 2) / QUANTUM * QUANTUM).min(255) as u8)
}

/// Whether some pixel of a cell moved by the threshold or more in some channel.
#[inline]
fn moved(old: &[[u8; 3]], new: &[[u8; 3]], threshold: i16) -> bool {
    old.iter().flatten().zip(new.iter().flatten()).any(|(&a, &b)| (i16::from(a) - i16::from(b)).abs() >= threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc;

    fn testsrc_frame(w: u32, h: u32) -> Frame {
        let mut f = Frame::new(w, h);
        testsrc::draw(&mut f, 0);
        f
    }

    #[test]
    fn the_picture_keeps_its_aspect_and_is_centred() {
        let mut v = VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD);
        // 4:3 into 80x24 cells = 80x48 pixels: 64x48 pixels, 64x24 cells, centred.
        v.update(&testsrc_frame(640, 480), Rect::new(0, 0, 80, 24));
        assert_eq!(v.pic, Rect::new(8, 0, 64, 24));
        // Into a wide, short pane the height limits it.
        v.update(&testsrc_frame(640, 480), Rect::new(0, 0, 200, 10));
        assert_eq!(v.pic, Rect::new(87, 0, 26, 10));
    }

    #[test]
    fn testsrc_bars_come_out_as_their_colours() {
        let mut v = VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD);
        let area = Rect::new(0, 0, 64, 24);
        v.update(&testsrc_frame(640, 480), area);
        let mut buf = Buffer::empty(area);
        v.draw(area, &mut buf);
        for (i, want) in testsrc::BARS.iter().enumerate() {
            let cell = &buf[(i as u16 * 8 + 4, 4)];
            assert_eq!(cell.symbol(), "▀");
            let Color::Rgb(r, g, b) = cell.fg else { panic!("not truecolor: {:?}", cell.fg) };
            for (got, want) in [r, g, b].iter().zip(want) {
                assert!((i16::from(*got) - i16::from(*want)).abs() <= 8, "bar {i}: {:?} vs {want:?}", (r, g, b));
            }
        }
    }

    #[test]
    fn small_changes_leave_cells_alone_and_big_ones_do_not() {
        let mut v = VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD);
        let area = Rect::new(0, 0, 16, 6);
        let mut f = Frame::new(32, 24);
        f.fill(0, 0, 32, 24, [100, 100, 100]);
        v.update(&f, area);
        let before = v.colors.clone();
        f.fill(0, 0, 32, 24, [105, 100, 97]);
        v.update(&f, area);
        assert_eq!(v.colors, before, "a change under the threshold redrew cells");
        f.fill(0, 0, 32, 24, [140, 100, 100]);
        v.update(&f, area);
        assert_ne!(v.colors, before);
    }

    #[test]
    fn ansi256_mode_writes_palette_colours() {
        let mut v = VideoView::new(ColorMode::Ansi256, DEFAULT_THRESHOLD);
        let area = Rect::new(0, 0, 64, 24);
        v.update(&testsrc_frame(320, 240), area);
        let mut buf = Buffer::empty(area);
        v.draw(area, &mut buf);
        assert_eq!(buf[(4, 4)].fg, Color::Indexed(231)); // white bar
        assert_eq!(buf[(5 * 8 + 4, 4)].fg, Color::Indexed(196)); // red bar
    }

    #[test]
    fn odd_sizes_do_not_panic() {
        for glyphs in [Glyphs::HalfBlock, Glyphs::Sextant] {
            let mut v = VideoView::with_glyphs(ColorMode::TrueColor, glyphs, DEFAULT_THRESHOLD);
            for (fw, fh) in [(2, 2), (1, 1), (3, 1000), (1000, 2)] {
                let f = Frame { width: fw, height: fh, rgb: vec![7; (fw * fh * 3) as usize] };
                for (pw, ph) in [(1, 1), (2, 1), (1, 50), (300, 100)] {
                    let area = Rect::new(0, 0, pw, ph);
                    v.update(&f, area);
                    let mut buf = Buffer::empty(area);
                    v.draw(area, &mut buf);
                    let _ = v.shown_pixels((2, 6));
                }
            }
        }
    }

    #[test]
    fn sextants_draw_an_edge_inside_a_cell_that_half_blocks_blur() {
        // A white left half and a black right half, 4 cells wide: the edge falls in the middle
        // of cell 1 (at 1.5 cells).
        let mut f = Frame::new(48, 36);
        f.fill(0, 0, 18, 36, [250, 250, 250]);
        f.fill(18, 0, 30, 36, [0, 0, 0]);
        let area = Rect::new(0, 0, 4, 2);
        let mut s = VideoView::with_glyphs(ColorMode::TrueColor, Glyphs::Sextant, DEFAULT_THRESHOLD);
        s.update(&f, area);
        let mut buf = Buffer::empty(area);
        s.draw(area, &mut buf);
        // The split keeps the top-left pixel in the background: the black right column is the
        // foreground of `▐` on white.
        assert_eq!(buf[(1, 0)].symbol(), "▐", "the edge cell's right column black");
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(0, 0, 0));
        assert_eq!(buf[(1, 0)].bg, Color::Rgb(252, 252, 252));
        let mut h = VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD);
        h.update(&f, area);
        let (_, _, half) = h.shown_pixels((2, 6)).unwrap();
        let (_, _, sext) = s.shown_pixels((2, 6)).unwrap();
        // Pixel column 3 (the right half of cell 1) is black in the picture, column 2 white.
        assert_eq!((sext[2], sext[3]), ([252, 252, 252], [0, 0, 0]));
        assert!(half[3][0] > 100, "a half block can only average it: {:?}", half[3]);
    }
}
