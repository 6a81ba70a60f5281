//! Drawing the app: the layout, and one function per part of the screen.
//!
//! - [`panes`]: the roster, the video and the chat.
//! - [`grid`]: the video pane of a call through the hub: a tile per participant.
//! - [`bars`]: the status line and the key hints.
//! - [`overlays`]: the help, the incoming-call prompt and the too-small message.
//! - [`wrap`]: text into rows by screen columns.

pub mod bars;
pub mod grid;
pub mod overlays;
pub mod panes;
pub mod wrap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::app::App;
use super::video::VideoView;

/// The smallest terminal the layout works in.
pub const MIN_SIZE: (u16, u16) = (60, 16);
/// The roster's width in columns.
const ROSTER_WIDTH: u16 = 24;

/// Where everything goes on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub roster: Rect,
    /// The video pane's block, and the picture area inside it.
    pub video: Rect,
    pub video_inner: Rect,
    /// The self-view, in the bottom-right corner of the picture area.
    pub self_view: Rect,
    pub chat: Rect,
    pub status: Rect,
    pub hints: Rect,
}

impl Areas {
    /// The layout for `screen`, or `None` when it is too small for one.
    pub fn compute(screen: Rect) -> Option<Areas> {
        if screen.width < MIN_SIZE.0 || screen.height < MIN_SIZE.1 {
            return None;
        }
        let [main, status, hints] = Layout::vertical([Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)]).areas(screen);
        let [roster, right] = Layout::horizontal([Constraint::Length(ROSTER_WIDTH), Constraint::Min(0)]).areas(main);
        let [video, chat] = Layout::vertical([Constraint::Percentage(62), Constraint::Min(6)]).areas(right);
        let video_inner = Block::bordered().inner(video);
        // A quarter of the width, 4:3 in half-block pixels (a cell is two pixels tall).
        let w = (video_inner.width / 4).max(10).min(video_inner.width);
        let h = (w * 3 / 8).max(3).min(video_inner.height);
        let self_view = Rect::new(video_inner.right() - w, video_inner.bottom() - h, w, h);
        Some(Areas { roster, video, video_inner, self_view, chat, status, hints })
    }
}

/// Draws one screen. `remote`, `local` and the `tiles` (a call through the hub) hold the
/// pictures, already sampled for their areas.
pub fn draw(f: &mut Frame, app: &mut App, remote: &VideoView, local: &VideoView, tiles: &[grid::TileView]) {
    let Some(a) = Areas::compute(f.area()) else {
        overlays::too_small(f, f.area());
        return;
    };
    (app.hits.roster, app.hits.roster_first) = panes::roster(f, a.roster, app);
    panes::video(f, &a, app, remote, local, tiles);
    app.hits.chat_rows = panes::chat(f, a.chat, app);
    bars::status(f, a.status, app);
    bars::hints(f, a.hints, app);
    if let Some(peer) = app.ringing_here() {
        overlays::incoming(f, f.area(), peer);
    }
    if app.help {
        overlays::help(f, f.area());
    }
}

#[cfg(test)]
mod tests;
