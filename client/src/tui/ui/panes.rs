//! The three panes: who is online, the video, the chat.

use ratatui::layout::{Alignment, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui::Frame;
use termcall_shared::UserState;

use unicode_width::UnicodeWidthChar;

use super::wrap::{count, width as width_of, wrap};
use super::Areas;
use crate::engine::CallState;
use crate::tui::app::{App, Author, ChatLine, Focus};
use crate::tui::video::VideoView;

/// The roster; returns the rows' area and the index of the user on its first row (for clicks).
pub fn roster(f: &mut Frame, area: Rect, app: &App) -> (Rect, usize) {
    let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {} · online {} ", app.me, app.roster.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.roster.is_empty() {
        let text = Paragraph::new("nobody else is online yet").style(Style::new().fg(Color::DarkGray)).wrap(Wrap { trim: true });
        f.render_widget(text, inner);
        return (inner, 0);
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
            let marked = app.marked.contains(&u.name);
            let dot = if marked { "✓" } else { dot };
            let mut line = Line::from(vec![
                Span::styled(format!(" {dot} "), Style::new().fg(if marked { Color::Cyan } else { color })),
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
    (Rect { y: inner.y, height: inner.height.min((app.roster.len() - first) as u16), ..inner }, first)
}

/// The video pane: the peer's picture large, ours small in a corner; in a call through the
/// hub, a grid of tiles.
pub fn video(f: &mut Frame, a: &Areas, app: &App, remote: &VideoView, local: &VideoView, tiles: &[super::grid::TileView]) {
    // While reconnecting the last picture stays, frozen, rather than a blank pane.
    let connected = app.call.as_ref().filter(|c| matches!(c.state, CallState::Connected | CallState::Reconnecting));
    if connected.is_some() && !tiles.is_empty() {
        let people = if tiles.len() == 1 { "1 other".to_owned() } else { format!("{} others", tiles.len()) };
        f.render_widget(Block::bordered().border_type(BorderType::Rounded).title(format!(" call · {people} ")), a.video);
        let me = (app.self_view && !app.video_muted && local.has_picture()).then_some(local);
        super::grid::draw(f, a.video_inner, tiles, me);
        return;
    }
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

/// The chat: scrollback (newest at the bottom, wrapped) and the input line. Returns how many
/// rows the whole scrollback takes, which bounds scrolling.
pub fn chat(f: &mut Frame, area: Rect, app: &App) -> usize {
    let focused = app.focus == Focus::Chat;
    let title = if focused { " chat · typing (Esc: keys) " } else { " chat " };
    let mut block = Block::bordered().border_type(BorderType::Rounded).title(title);
    if focused {
        block = block.border_style(Style::new().fg(Color::Cyan));
    }
    let inner = block.inner(area);
    if inner.height == 0 || inner.width == 0 {
        f.render_widget(block, area);
        return 0;
    }
    let log_height = usize::from(inner.height - 1);
    let width = usize::from(inner.width);
    // Rows per line (counted without building them), then only the visible rows are built:
    // this runs on every draw, up to --max-fps times a second, over up to 1000 lines.
    let head = |line: &ChatLine| -> (String, Style) {
        match &line.author {
            Author::Me => (format!("{}: ", app.me), Style::new().fg(Color::Cyan)),
            Author::Peer(p) => (format!("{p}: "), Style::new().fg(Color::Magenta)),
            Author::System => ("-- ".to_string(), Style::new().fg(Color::DarkGray)),
        }
    };
    let head_width = |line: &ChatLine| {
        let who = match &line.author {
            Author::Me => width_of(&app.me) + 2,
            Author::Peer(p) => width_of(p) + 2,
            Author::System => 3,
        };
        width_of(&line.time) + 1 + who
    };
    let counts: Vec<usize> = app.chat.iter().map(|l| count(&l.text, width.saturating_sub(head_width(l)), width)).collect();
    let total: usize = counts.iter().sum();
    let scroll = app.scroll.min(total.saturating_sub(log_height));
    if scroll > 0 {
        block = block.title_bottom(Line::from(format!(" ↑ {scroll} rows back · PgDn ")).right_aligned());
    }
    f.render_widget(block, area);
    let end = total - scroll;
    let start = end.saturating_sub(log_height);
    let mut visible: Vec<Line> = Vec::with_capacity(log_height);
    let mut row = 0;
    for (line, n) in app.chat.iter().zip(&counts) {
        if row + n <= start {
            row += n;
            continue;
        }
        if row >= end {
            break;
        }
        let (who, style) = head(line);
        let text_style = if line.author == Author::System { Style::new().fg(Color::DarkGray) } else { Style::new() };
        for (i, piece) in wrap(&line.text, width.saturating_sub(head_width(line)), width).into_iter().enumerate() {
            if (start..end).contains(&(row + i)) {
                visible.push(if i == 0 {
                    Line::from(vec![
                        Span::styled(line.time.clone() + " ", Style::new().fg(Color::DarkGray)),
                        Span::styled(who.clone(), style.add_modifier(Modifier::BOLD)),
                        Span::styled(piece, text_style),
                    ])
                } else {
                    Line::from(Span::styled(piece, text_style))
                });
            }
        }
        row += n;
    }
    let pad = (log_height - visible.len()) as u16;
    let log_area = Rect { y: inner.y + pad, height: inner.height - 1 - pad, ..inner };
    f.render_widget(Paragraph::new(visible), log_area);

    let input_area = Rect { y: inner.bottom() - 1, height: 1, ..inner };
    let prompt = Span::styled("> ", Style::new().fg(if focused { Color::Cyan } else { Color::DarkGray }));
    if app.input.text().is_empty() && !focused {
        f.render_widget(Paragraph::new(Line::from(vec![prompt, Span::styled("press i to type", Style::new().fg(Color::DarkGray))])), input_area);
        return total;
    }
    // Scroll the line sideways, by screen columns, so the cursor stays in view.
    let room = width.saturating_sub(3).max(1);
    let chars: Vec<char> = app.input.text().chars().collect();
    let before = &chars[..app.input.cursor().min(chars.len())];
    let mut skip = 0;
    let mut cursor_col: usize = before.iter().map(|c| c.width().unwrap_or(0)).sum();
    while cursor_col > room && skip < before.len() {
        cursor_col -= before[skip].width().unwrap_or(0);
        skip += 1;
    }
    let shown: String = chars[skip..].iter().collect();
    f.render_widget(Paragraph::new(Line::from(vec![prompt, Span::raw(shown)])), input_area);
    if focused {
        f.set_cursor_position(Position::new(input_area.x + 2 + cursor_col as u16, input_area.y));
    }
    total
}
