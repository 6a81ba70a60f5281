//! The terminal UI: a thin face over the same engine as headless mode.
//!
//! - [`app`]: the one state, changed by keys, clicks and engine events.
//! - [`ui`]: drawing it.
//! - [`video`]: pictures as cells, in half blocks or sextants ([`glyphs`]), or as real pixels
//!   ([`image`]: kitty graphics, sixel, iTerm2), as [`graphics`] picks from what the terminal
//!   answered ([`detect`]); [`color`]: truecolor or the 256 palette.
//! - [`input`]: the chat line editor.
//! - [`views`]: the video panes, their pictures, and the images' way to the terminal.
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
mod views;

use std::time::Duration;

use crossterm::event::EventStream;
use futures_util::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;

use app::{Action, App};
use color::ColorMode;
use views::Views;

use crate::engine::{self, Command, EngineConfig, Event};
use crate::headless::Outcome;

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
    let mut views = Views::new(opts.color, graphics, opts.threshold, writer.clone(), (engine.remote_video.clone(), engine.local_video.clone(), engine.tiles.clone()));
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

/// Lets the terminal's writer finish, then restores the terminal (nothing of ours comes after).
fn hand_back(writer: &output::Writer, guard: terminal::Guard) {
    writer.finish(Duration::from_secs(1));
    drop(guard);
}
