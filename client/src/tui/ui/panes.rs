//! The three panes: who is online, the video, the chat.

use ratatui::layout::{Alignment, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui::Frame;
use termcall_shared::UserState;

use super::Areas;
use crate::engine::CallState;
use crate::tui::app::{App, Author, Focus};
use crate::tui::video::VideoView;

/// The roster; returns the rows' area (for mouse clicks).
pub fn roster(f: &mut Frame, area: Rect, app: &App) -> Rect {
    let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {} · online {} ", app.me, app.roster.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.roster.is_empty() {
        let text = Paragraph::new("nobody else is online yet").style(Style::new().fg(Color::DarkGray)).wrap(Wrap { trim: true });
        f.render_widget(text, inner);
        return inner;
    }
    // Keep the selected user in view.
    let first = app.selected.saturating_sub(usize::from(inner.height).saturating_sub(1));
    let lines: Vec<Line> = app
        .roster
        .iter()
        .enumerate()
        .skip(first)
        .take(usize::from(inner.height))
        .map(|(i, u)| {
            let (dot, color, state) = match u.state {
                UserState::Idle => ("●", Color::Green, "idle"),
                UserState::Ringing => ("●", Color::Yellow, "ringing"),
                UserState::InCall => ("●", Color::Red, "in call"),
            };
            let name_width = usize::from(inner.width).saturating_sub(11).max(4);
            let mut line = Line::from(vec![
                Span::styled(format!(" {dot} "), Style::new().fg(color)),
                Span::raw(format!("{:<name_width$.name_width$}", u.name)),
                Span::styled(format!(" {state:>7}"), Style::new().fg(Color::DarkGray)),
            ]);
            if i == app.selected {
                line = line.style(Style::new().add_modifier(Modifier::REVERSED));
            }
            line
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
    Rect { y: inner.y, height: inner.height.min((app.roster.len() - first) as u16), ..inner }
}

/// The video pane: the peer's picture large, ours small in a corner.
pub fn video(f: &mut Frame, a: &Areas, app: &App, remote: &VideoView, local: &VideoView) {
    let connected = app.call.as_ref().filter(|c| c.state == CallState::Connected);
    let title = match (connected, &app.stats) {
        (Some(c), Some(s)) if s.video.width > 0 => format!(" {} · {}x{} · {:.0} fps ", c.peer, s.video.width, s.video.height, s.video.fps),
        (Some(c), _) => format!(" {} ", c.peer),
        _ => " video ".into(),
    };
    f.render_widget(Block::bordered().border_type(BorderType::Rounded).title(title), a.video);
    let inner = a.video_inner;
    if connected.is_some() && remote.has_picture() {
        remote.draw(inner, f.buffer_mut());
    } else {
        let text = match &app.call {
            Some(c) if c.state == CallState::Connected => "waiting for video…".to_string(),
            Some(c) if c.state == CallState::Connecting => format!("connecting to {}…", c.peer),
            Some(c) if c.state == CallState::Ringing && !c.incoming => format!("ringing {}…", c.peer),
            _ if app.roster.is_empty() => "no call · waiting for someone to come online".into(),
            _ => "no call · select someone and press Enter".into(),
        };
        let y = inner.y + inner.height / 2;
        f.render_widget(Paragraph::new(text).alignment(Alignment::Center).style(Style::new().fg(Color::DarkGray)), Rect { y, height: 1, ..inner });
    }
    if connected.is_some() && app.self_view {
        if app.video_muted {
            let label = Rect { y: a.self_view.bottom().saturating_sub(1), height: 1, ..a.self_view };
            f.render_widget(Paragraph::new(" video off ").alignment(Alignment::Right).style(Style::new().fg(Color::Red)), label);
        } else if local.has_picture() {
            local.draw(a.self_view, f.buffer_mut());
        }
    }
}

/// The chat: scrollback (newest at the bottom, wrapped) and the input line.
pub fn chat(f: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Focus::Chat;
    let title = if focused { " chat · typing (Esc: keys) " } else { " chat " };
    let mut block = Block::bordered().border_type(BorderType::Rounded).title(title);
    if focused {
        block = block.border_style(Style::new().fg(Color::Cyan));
    }
    if app.scroll > 0 {
        block = block.title_bottom(Line::from(format!(" ↑ {} older · PgDn ", app.scroll)).right_aligned());
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let log_area = Rect { height: inner.height - 1, ..inner };
    let width = usize::from(inner.width.max(1));
    // Wrapped rows from the newest line back, until the pane (plus the scroll offset) is full.
    let want = usize::from(log_area.height) + app.scroll;
    let mut rows: Vec<Line> = Vec::with_capacity(want);
    for line in app.chat.iter().rev() {
        let (who, style) = match &line.author {
            Author::Me => (format!("{}: ", app.me), Style::new().fg(Color::Cyan)),
            Author::Peer(p) => (format!("{p}: "), Style::new().fg(Color::Magenta)),
            Author::System => ("-- ".to_string(), Style::new().fg(Color::DarkGray)),
        };
        let head = format!("{} {who}", line.time);
        let body: Vec<char> = line.text.chars().collect();
        let first_width = width.saturating_sub(head.chars().count()).max(1);
        let mut pieces: Vec<String> = vec![body.iter().take(first_width).collect()];
        let rest = &body[first_width.min(body.len())..];
        pieces.extend(rest.chunks(width).map(|c| c.iter().collect()));
        let text_style = if line.author == Author::System { Style::new().fg(Color::DarkGray) } else { Style::new() };
        for (i, piece) in pieces.into_iter().enumerate().rev() {
            rows.push(if i == 0 {
                Line::from(vec![Span::styled(line.time.clone() + " ", Style::new().fg(Color::DarkGray)), Span::styled(who.clone(), style.bold()), Span::styled(piece, text_style)])
            } else {
                Line::from(Span::styled(piece, text_style))
            });
        }
        if rows.len() >= want {
            break;
        }
    }
    let visible: Vec<Line> = rows.into_iter().skip(app.scroll).take(usize::from(log_area.height)).collect::<Vec<_>>().into_iter().rev().collect();
    let pad = usize::from(log_area.height) - visible.len();
    let log_area = Rect { y: log_area.y + pad as u16, height: log_area.height - pad as u16, ..log_area };
    f.render_widget(Paragraph::new(visible), log_area);

    let input_area = Rect { y: inner.bottom() - 1, height: 1, ..inner };
    let prompt = Span::styled("> ", Style::new().fg(if focused { Color::Cyan } else { Color::DarkGray }));
    if app.input.text().is_empty() && !focused {
        f.render_widget(Paragraph::new(Line::from(vec![prompt, Span::styled("press i to type", Style::new().fg(Color::DarkGray))])), input_area);
        return;
    }
    // Scroll the line horizontally so the cursor stays visible.
    let room = width.saturating_sub(3);
    let skip = app.input.cursor().saturating_sub(room);
    let shown: String = app.input.text().chars().skip(skip).take(room + 1).collect();
    f.render_widget(Paragraph::new(Line::from(vec![prompt, Span::raw(shown)])), input_area);
    if focused {
        f.set_cursor_position(Position::new(input_area.x + 2 + (app.input.cursor() - skip) as u16, input_area.y));
    }
}
