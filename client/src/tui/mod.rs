//! The terminal UI: a thin face over the same engine as headless mode.
//!
//! - [`app`]: the one state, changed by keys, clicks and engine events.
//! - [`ui`]: drawing it.
//! - [`video`]: pictures as cells, in half blocks or sextants ([`glyphs`]), or as real pixels
//!   ([`image`]: kitty graphics, sixel, iTerm2), as [`graphics`] picks from what the terminal
//!   answered ([`detect`]); [`color`]: truecolor or the 256 palette.
//! - [`input`]: the chat line editor.
//! - [`terminal`]: taking the terminal over and always restoring it; [`output`]: the thread
//!   that writes to it, so that a slow terminal never holds the UI up.
//!
//! One loop: terminal events, engine events, signals, a video tick at `--max-fps` and a
//! one-second tick (the call clock, notices expiring). UI changes redraw at once; video is re-sampled only on the tick, only when a new picture
//! arrived, and always from the newest one (a slow terminal skips pictures, it never queues).

pub mod app;
pub mod color;
pub mod detect;
pub mod glyphs;
pub mod graphics;
pub mod image;
pub mod input;
pub mod output;
pub mod terminal;
pub mod ui;
pub mod video;

use std::time::Duration;

use crossterm::event::EventStream;
use futures_util::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;

use app::{Action, App};
use color::ColorMode;
use ui::Areas;
use video::VideoView;

use crate::engine::{self, Command, EngineConfig, Event};
use crate::headless::Outcome;
use crate::media::recv::FrameWatch;
use crate::media::Tile;
use ui::grid::{self, TileView};

/// How the TUI looks and behaves, from the command line.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub color: ColorMode,
    /// What video is drawn with (`--graphics`): images, glyphs, or as the terminal answers.
    pub graphics: graphics::Want,
    /// Video redraws a second at most (the UI itself redraws whenever something changes).
    pub max_fps: u32,
    /// How far a cell's colour must move before it is redrawn.
    pub threshold: u8,
    /// Call this user once they are online (the demo).
    pub autocall: Option<String>,
}

/// Runs the TUI until the user quits; the terminal is restored however it ends.
pub async fn run(cfg: EngineConfig, opts: TuiOptions) -> Result<Outcome, String> {
    let mut app = App::new(&cfg.login.name, &cfg.login.url);
    app.autocall = opts.autocall.clone();
    let mut engine = engine::start(cfg);
    let env = detect::Env::from_process(terminal::tmux());
    let (mut term, guard, answers, took, writer) =
        terminal::enter(&env).map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut caps = answers.caps(detect::from_env(&env));
    caps.cell_px = caps.cell_px.or_else(terminal::cell_px_from_pty);
    let (graphics, note) = graphics::resolve(opts.graphics, &caps, &env);
    tracing::info!(
        took_ms = took.as_millis() as u64,
        answered = caps.answered,
        kitty = caps.kitty,
        kitty_shm = caps.kitty_shm,
        sixel = caps.sixel,
        registers = caps.color_registers.unwrap_or(0),
        cell_px = ?caps.cell_px,
        iterm = caps.iterm,
        draws_blocks = caps.draws_blocks,
        tmux = env.tmux.is_some(),
        ssh = env.ssh,
        video = graphics.name(),
        "what the terminal can draw (answered: DA1 came back within the budget)"
    );
    if let Some(n) = note {
        tracing::info!("{n}");
        app.notice = Some((n, app::Tone::Info, std::time::Instant::now()));
    }
    if matches!(
        graphics,
        graphics::Graphics::Image(image::Setup {
            protocol: image::Protocol::Kitty,
            ..
        })
    ) {
        terminal::uses_kitty_images();
    }
    let mut views = Views {
        remote: VideoView::with_graphics(opts.color, graphics, opts.threshold, 1),
        local: VideoView::with_graphics(opts.color, graphics, opts.threshold, 3),
        remote_rx: engine.remote_video.clone(),
        local_rx: engine.local_video.clone(),
        tiles: Vec::new(),
        tiles_rx: engine.tiles.clone(),
        color: opts.color,
        graphics,
        threshold: opts.threshold,
        shown: ShownSizes::default(),
        images: Images::new(graphics, std::time::Instant::now(), writer.clone()),
    };
    let mut keys = EventStream::new();
    let mut term_sig = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut hup_sig = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut int_sig = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut quit_sig = signal(SignalKind::quit()).map_err(|e| e.to_string())?;
    // The clock in the status line, and notices that expire, need a redraw now and then.
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(opts.max_fps.clamp(1, 60))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);

    loop {
        let actions = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(ev)) => app.on_terminal(ev),
                _ => vec![Action::Quit], // the terminal is gone
            },
            ev = engine.events.recv() => match ev {
                Some(Event::Error { fatal: true, message, .. }) => {
                    hand_back(&writer, guard);
                    eprintln!("termcall: {message}");
                    return Ok(Outcome::Refused);
                }
                Some(ev) => {
                    // A call that ends or starts shows no picture from before.
                    let fresh = matches!(ev, Event::Call { state: engine::CallState::Ended | engine::CallState::Connecting, .. });
                    let actions = app.on_engine(ev);
                    if fresh {
                        views.remote.clear();
                        views.local.clear();
                    }
                    actions
                }
                None => vec![Action::Quit],
            },
            _ = tick.tick() => {
                if !views.take_new_pictures(&term) {
                    continue; // nothing new to show: no redraw
                }
                Vec::new()
            },
            _ = second.tick() => Vec::new(),
            _ = term_sig.recv() => vec![Action::Quit],
            _ = hup_sig.recv() => vec![Action::Quit],
            _ = int_sig.recv() => vec![Action::Quit],
            _ = quit_sig.recv() => vec![Action::Quit],
        };
        let mut quit = false;
        for a in actions {
            match a {
                Action::Engine(c) => {
                    let _ = engine.commands.send(c);
                }
                Action::Bell => terminal::bell(&mut term),
                Action::Quit => quit = true,
            }
        }
        if quit {
            break;
        }
        views.refit(&term);
        for c in views.sizes_to_tell(&term, std::time::Instant::now()) {
            let _ = engine.commands.send(c);
        }
        views.cover(app.help || app.ringing_here().is_some(), &term);
        if let Err(e) =
            term.draw(|f| ui::draw(f, &mut app, &views.remote, &views.local, &views.tiles))
        {
            hand_back(&writer, guard);
            return Err(format!("cannot draw on the terminal: {e}"));
        }
        if let Err(e) = views.send_images() {
            hand_back(&writer, guard);
            return Err(format!("cannot draw on the terminal: {e}"));
        }
    }
    let _ = engine.commands.send(Command::Quit);
    hand_back(&writer, guard);
    // Let the engine hang up and say goodbye to the hub.
    let _ = tokio::time::timeout(Duration::from_secs(2), engine.task).await;
    Ok(Outcome::Quit)
}

/// The video panes and where their pictures come from.
struct Views {
    remote: VideoView,
    local: VideoView,
    remote_rx: FrameWatch,
    local_rx: FrameWatch,
    /// A call through the hub: a view per participant, in the engine's order.
    tiles: Vec<TileView>,
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
    spare: Vec<u8>,
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
            spare: Vec::new(),
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
    /// What the video panes show, in pixels (a half-block cell is one pixel wide and two
    /// high, a sextant cell two by three), once it has settled and if it changed: a `view`
    /// command per pane.
    fn sizes_to_tell(&mut self, term: &terminal::Term, now: std::time::Instant) -> Vec<Command> {
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
    fn take_new_pictures(&mut self, term: &terminal::Term) -> bool {
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
    fn cover(&mut self, covered: bool, term: &terminal::Term) {
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
    fn send_images(&mut self) -> std::io::Result<()> {
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
            let mut bytes = std::mem::take(&mut self.images.spare);
            bytes.clear();
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
    fn refit(&mut self, term: &terminal::Term) {
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

/// Lets the terminal's writer finish, then restores the terminal (nothing of ours comes after).
fn hand_back(writer: &output::Writer, guard: terminal::Guard) {
    writer.finish(Duration::from_secs(1));
    drop(guard);
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
