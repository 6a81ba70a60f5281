//! The terminal UI: a thin face over the same engine as headless mode.
//!
//! - [`app`]: the one state, changed by keys, clicks and engine events.
//! - [`ui`]: drawing it.
//! - [`video`]: pictures as cells, in half blocks or sextants ([`glyphs`]); [`color`]: truecolor or the 256 palette.
//! - [`input`]: the chat line editor.
//! - [`terminal`]: taking the terminal over and always restoring it.
//!
//! One loop: terminal events, engine events, signals, a video tick at `--max-fps` and a
//! one-second tick (the call clock, notices expiring). UI changes redraw at once; video is re-sampled only on the tick, only when a new picture
//! arrived, and always from the newest one (a slow terminal skips pictures, it never queues).

pub mod app;
pub mod color;
pub mod detect;
pub mod glyphs;
pub mod input;
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
    /// The characters video is drawn with (`--graphics`); `None`: as the terminal answers.
    pub glyphs: Option<glyphs::Glyphs>,
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
    let (mut term, guard, answers, took) = terminal::enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let caps = answers.caps(detect::from_env(std::env::var("TERM").ok().as_deref(), std::env::var("TERM_PROGRAM").ok().as_deref()));
    let glyphs = opts.glyphs.unwrap_or_else(|| glyphs::Glyphs::for_terminal(&caps));
    tracing::info!(
        took_ms = took.as_millis() as u64,
        answered = caps.answered,
        kitty = caps.kitty,
        sixel = caps.sixel,
        draws_blocks = caps.draws_blocks,
        ?glyphs,
        "what the terminal can draw (answered: DA1 came back within the budget)"
    );
    let mut views = Views {
        remote: VideoView::with_glyphs(opts.color, glyphs, opts.threshold),
        local: VideoView::with_glyphs(opts.color, glyphs, opts.threshold),
        remote_rx: engine.remote_video.clone(),
        local_rx: engine.local_video.clone(),
        tiles: Vec::new(),
        tiles_rx: engine.tiles.clone(),
        color: opts.color,
        glyphs,
        threshold: opts.threshold,
        shown: ShownSizes::default(),
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
                    drop(guard);
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
        if let Err(e) = term.draw(|f| ui::draw(f, &mut app, &views.remote, &views.local, &views.tiles)) {
            drop(guard);
            return Err(format!("cannot draw on the terminal: {e}"));
        }
    }
    let _ = engine.commands.send(Command::Quit);
    drop(guard);
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
    glyphs: glyphs::Glyphs,
    threshold: u8,
    shown: ShownSizes,
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
        let Some(a) = areas(term) else { return Vec::new() };
        let (gw, gh) = self.glyphs.cell_pixels();
        let px = |r: ratatui::layout::Rect| (u32::from(r.width).max(1) * gw, u32::from(r.height).max(1) * gh);
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
            .map(|tile| match old.iter().position(|t| t.tile.name == tile.name) {
                Some(i) => old.swap_remove(i),
                None => TileView { tile, view: VideoView::with_glyphs(self.color, self.glyphs, self.threshold) },
            })
            .collect();
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
