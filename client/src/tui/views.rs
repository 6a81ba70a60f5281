//! The video panes and where their pictures come from: the peer's, ours, and a tile per
//! participant in a call through the hub; sampling the newest picture of each on the video tick,
//! telling the sender what each pane shows, and, when video is drawn as images, handing the
//! frames to the terminal's writer as the link allows.

use std::time::Duration;

use super::color::ColorMode;
use super::ui::grid::{self, TileView};
use super::ui::Areas;
use super::video::VideoView;
use super::{graphics, image, output, terminal};
use crate::engine::Command;
use crate::media::recv::FrameWatch;
use crate::media::Tile;

/// The video panes and where their pictures come from.
pub(super) struct Views {
    pub(super) remote: VideoView,
    pub(super) local: VideoView,
    remote_rx: FrameWatch,
    local_rx: FrameWatch,
    /// A call through the hub: a view per participant, in the engine's order.
    pub(super) tiles: Vec<TileView>,
    tiles_rx: tokio::sync::watch::Receiver<Vec<Tile>>,
    color: ColorMode,
    graphics: graphics::Graphics,
    threshold: u8,
    shown: ShownSizes,
    images: Images,
}

/// The image panes' shared state: the link's pacer, and images of panes now gone.
struct Images {
    on: bool,
    tmux: bool,
    pacer: image::pace::Pacer,
    /// Kitty ids of panes that went away while their image showed.
    retired: Vec<u32>,
    /// The escapes of one tick (reused).
    out: Vec<u8>,
    /// The terminal's writer thread.
    writer: output::Writer,
    size: (u16, u16),
    covered: bool,
    last_log: std::time::Instant,
    /// The longest write since the last log line.
    longest: Duration,
}

impl Images {
    fn new(g: graphics::Graphics, now: std::time::Instant, writer: output::Writer) -> Images {
        let (on, tmux) = match g {
            graphics::Graphics::Image(s) => (true, s.tmux.is_some()),
            graphics::Graphics::Cells(_) => (false, false),
        };
        Images {
            on,
            tmux,
            pacer: image::pace::Pacer::new(now),
            retired: Vec::new(),
            out: Vec::new(),
            writer,
            size: (0, 0),
            covered: false,
            last_log: now,
            longest: Duration::ZERO,
        }
    }
}

/// How long a pane's size must hold before the other side is told (a resize by dragging
/// makes many sizes in a moment).
const SIZE_SETTLE: Duration = Duration::from_millis(150);

/// The largest picture each pane shows, as told to the engine (`view`), and a change not yet told.
#[derive(Default)]
struct ShownSizes {
    told: std::collections::BTreeMap<Option<String>, (u32, u32)>,
    pending: Option<(std::collections::BTreeMap<Option<String>, (u32, u32)>, std::time::Instant)>,
}

impl Views {
    /// The panes, drawn with `graphics`, fed by the engine's (peer, own, tiles) pictures.
    pub fn new(color: ColorMode, graphics: graphics::Graphics, threshold: u8, writer: output::Writer, (remote_rx, local_rx, tiles_rx): (FrameWatch, FrameWatch, tokio::sync::watch::Receiver<Vec<Tile>>)) -> Views {
        Views {
            remote: VideoView::with_graphics(color, graphics, threshold, 1),
            local: VideoView::with_graphics(color, graphics, threshold, 3),
            remote_rx,
            local_rx,
            tiles: Vec::new(),
            tiles_rx,
            color,
            graphics,
            threshold,
            shown: ShownSizes::default(),
            images: Images::new(graphics, std::time::Instant::now(), writer),
        }
    }

    /// What the video panes show, in pixels (a half-block cell is one pixel wide and two
    /// high, a sextant cell two by three), once it has settled and if it changed: a `view`
    /// command per pane.
    pub(super) fn sizes_to_tell(&mut self, term: &terminal::Term, now: std::time::Instant) -> Vec<Command> {
        let Some(a) = areas(term) else {
            return Vec::new();
        };
        let (gw, gh) = self.graphics.cell_pixels();
        let px = |r: ratatui::layout::Rect| {
            (
                u32::from(r.width).max(1) * gw,
                u32::from(r.height).max(1) * gh,
            )
        };
        let mut sizes = std::collections::BTreeMap::new();
        if self.tiles.is_empty() {
            sizes.insert(None, px(a.video_inner));
        } else {
            let (tile_areas, _) = self.tile_areas(&a);
            for (t, area) in self.tiles.iter().zip(tile_areas) {
                sizes.insert(Some(t.tile.name.clone()), px(area));
            }
        }
        let s = &mut self.shown;
        if sizes == s.told {
            s.pending = None;
            return Vec::new();
        }
        match &s.pending {
            Some((p, since)) if *p == sizes && now.duration_since(*since) >= SIZE_SETTLE => {}
            Some((p, _)) if *p == sizes => return Vec::new(),
            _ => {
                s.pending = Some((sizes, now));
                return Vec::new();
            }
        }
        s.pending = None;
        let out = sizes.iter().filter(|(of, size)| s.told.get(*of) != Some(size)).map(|(of, &(width, height))| Command::View { width, height, of: of.clone() }).collect();
        s.told = sizes;
        out
    }

    /// Samples the newest pictures that arrived since the last tick; whether any did (or the
    /// tiles changed).
    pub(super) fn take_new_pictures(&mut self, term: &terminal::Term) -> bool {
        let Some(a) = areas(term) else { return false };
        let changed = self.sync_tiles();
        let (tile_areas, self_area) = self.tile_areas(&a);
        let mut any = changed;
        for (t, area) in self.tiles.iter_mut().zip(&tile_areas) {
            any |= sample_if_new(&mut t.tile.frame, &mut t.view, *area);
        }
        any |= sample_if_new(&mut self.remote_rx, &mut self.remote, a.video_inner);
        any |= sample_if_new(&mut self.local_rx, &mut self.local, self_area);
        any
    }

    /// Follows the engine's list of participants, keeping the views of those still there.
    fn sync_tiles(&mut self) -> bool {
        if !self.tiles_rx.has_changed().unwrap_or(false) {
            return false;
        }
        let list = self.tiles_rx.borrow_and_update().clone();
        let mut old = std::mem::take(&mut self.tiles);
        self.tiles = list
            .into_iter()
            .map(
                |tile| match old.iter().position(|t| t.tile.name == tile.name) {
                    Some(i) => old.swap_remove(i),
                    None => TileView {
                        tile,
                        view: VideoView::with_graphics(
                            self.color,
                            self.graphics,
                            self.threshold,
                            1,
                        ),
                    },
                },
            )
            .collect();
        // Those who left: their images go too.
        self.images.retired.extend(
            old.iter()
                .filter_map(|t| t.view.image().filter(|i| i.is_shown()).map(|i| i.id())),
        );
        true
    }

    /// Where the tiles' pictures go, and our own (in a free grid cell, or the corner).
    fn tile_areas(&self, a: &Areas) -> (Vec<ratatui::layout::Rect>, ratatui::layout::Rect) {
        if self.tiles.is_empty() {
            return (Vec::new(), a.self_view);
        }
        let n = self.tiles.len();
        let with_self = grid::fits_self(a.video_inner, n);
        let mut areas = grid::picture_areas(a.video_inner, n + usize::from(with_self));
        // No free cell: no self-view (it would cover a participant).
        let own = if with_self { areas.pop().unwrap_or_default() } else { ratatui::layout::Rect::default() };
        (areas, own)
    }

    /// Whether a dialog covers the screen now (no images under it); after it goes, or after the
    /// terminal's size changed (ratatui cleared the screen), every image is sent again.
    pub(super) fn cover(&mut self, covered: bool, term: &terminal::Term) {
        if !self.images.on {
            return;
        }
        let size = term.size().map(|s| (s.width, s.height)).unwrap_or_default();
        let redo = (self.images.covered && !covered) || size != self.images.size;
        (self.images.covered, self.images.size) = (covered, size);
        for v in self.image_views() {
            v.set_covered(covered);
            if redo {
                v.invalidate();
            }
        }
    }

    /// The image panes in the order they are drawn (our own picture last: it may sit over the
    /// peer's).
    fn image_views(&mut self) -> impl Iterator<Item = &mut image::ImageView> {
        let tiles = self.tiles.iter_mut().map(|t| &mut t.view);
        std::iter::once(&mut self.remote)
            .chain(tiles)
            .chain(std::iter::once(&mut self.local))
            .filter_map(|v| v.image_mut())
    }

    /// After the UI's draw: the images with something new go to the terminal's writer in one
    /// piece, if it is idle and the link has had its share of time ([`image::pace`]);
    /// otherwise they wait for a tick when it has, and go out newest. An image drawn over
    /// another (our corner over the peer's picture) goes again after it.
    pub(super) fn send_images(&mut self) -> std::io::Result<()> {
        if !self.images.on {
            return Ok(());
        }
        let writer = &self.images.writer;
        if let Some((bytes, start, end)) = writer.image_written() {
            self.images.pacer.written(bytes, start, end);
            self.images.longest = self.images.longest.max(end - start);
        }
        let busy = writer.busy();
        let mut out = std::mem::take(&mut self.images.out);
        out.clear();
        let tmux = self.images.tmux;
        for id in self.images.retired.drain(..) {
            image::kitty::delete(&mut out, id, tmux);
        }
        let mut want = false;
        for v in self.image_views() {
            want |= v.wants_to_send(&mut out);
        }
        let now = std::time::Instant::now();
        let go = want && self.images.pacer.ready(now, busy);
        let (mut written, mut frames) = (Vec::new(), false);
        for v in self.image_views() {
            let overlaps = v.drawn_at().is_some_and(|at| {
                written
                    .iter()
                    .any(|w: &ratatui::layout::Rect| w.intersects(at))
            });
            if go && overlaps {
                v.invalidate();
            }
            if go && v.wants_to_send(&mut out) {
                if let Some(at) = v.emit(&mut out) {
                    written.push(at);
                    frames = true;
                }
            } else {
                v.skip();
            }
        }
        if !out.is_empty() {
            // After the UI's bytes of this frame (ratatui flushed them at the end of its draw).
            if frames {
                self.images.pacer.submitted(out.len());
            }
            let mut bytes = self.images.writer.buffer();
            bytes.extend_from_slice(&out);
            self.images.writer.send(bytes, frames)?;
        }
        if now.duration_since(self.images.last_log) >= Duration::from_secs(5) {
            let (sent, skipped, bytes) = self.images.pacer.counts();
            let longest_write_ms = self.images.longest.as_secs_f64() * 1e3;
            tracing::info!(sent, skipped, bytes, drain_kbps = (self.images.pacer.rate() * 8e-3) as u64, longest_write_ms, "images written to the terminal so far (skipped: ticks while the link was busy; drain: the rate of writes that waited for it; the longest write in the last 5 s)");
            (self.images.last_log, self.images.longest) = (now, Duration::ZERO);
        }
        self.images.out = out;
        Ok(())
    }

    /// After a resize, samples the current pictures again for the new pane sizes.
    pub(super) fn refit(&mut self, term: &terminal::Term) {
        let Some(a) = areas(term) else { return };
        let (tile_areas, self_area) = self.tile_areas(&a);
        let fixed = [(&mut self.remote, &self.remote_rx, a.video_inner), (&mut self.local, &self.local_rx, self_area)];
        let tiles = self.tiles.iter_mut().zip(tile_areas).map(|(t, area)| (&mut t.view, &t.tile.frame, area));
        for (view, rx, area) in fixed.into_iter().chain(tiles) {
            if view.needs_refit(area) {
                // Clone the Arc and let go of the slot at once: the decoder can then reuse its buffers.
                let picture = rx.borrow().clone();
                if let Some(p) = picture {
                    view.update(&p, area);
                }
            }
        }
    }
}

fn areas(term: &terminal::Term) -> Option<Areas> {
    let size = term.size().ok()?;
    Areas::compute(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

fn sample_if_new(rx: &mut FrameWatch, view: &mut VideoView, area: ratatui::layout::Rect) -> bool {
    if !rx.has_changed().unwrap_or(false) {
        return false;
    }
    let picture = rx.borrow_and_update().clone();
    match picture {
        Some(p) => view.update(&p, area),
        None => view.clear(),
    }
    true
}
