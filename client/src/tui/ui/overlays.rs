//! What is drawn over the layout: help, the incoming-call prompt, and the too-small message.

use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::MIN_SIZE;

/// Every key, as the help overlay lists them.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "select a user (or click one)"),
    ("Enter  c", "call the selected user (or everyone marked)"),
    ("Space", "mark / unmark a user for a group call"),
    ("e", "call echo: test your camera, mic and network"),
    ("+", "invite the selected user into the group call"),
    ("a  y  Enter", "accept an incoming call"),
    ("d  n  Esc", "decline an incoming call"),
    ("h  x", "hang up"),
    ("i  /  Tab", "type a chat line (Esc or Tab: back to keys)"),
    ("Enter", "send the chat line (↑ ↓: history)"),
    ("PgUp PgDn", "scroll the chat (or the mouse wheel)"),
    ("m", "mute / unmute the microphone"),
    ("v", "stop / start sending video"),
    ("d  o", "next microphone / next speaker (sound builds)"),
    ("p", "show / hide the self-view"),
    ("s", "save the peer's picture as a PNG here"),
    ("?  F1", "this help (any key closes it)"),
    ("q  Ctrl-C", "quit (hangs up first)"),
];

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))]).flex(Flex::Center).areas(v);
    r
}

pub fn help(f: &mut Frame, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:<12}"), Style::new().fg(Color::Cyan).bold()), Span::raw(format!(" {what}"))]))
        .collect();
    let r = centered(area, 64, KEYS.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::bordered().border_type(BorderType::Double).title(" termcall keys ")), r);
}

pub fn incoming(f: &mut Frame, area: Rect, peer: &str) {
    let r = centered(area, 44, 5);
    f.render_widget(Clear, r);
    let text = vec![
        Line::from(Span::styled(format!("{peer} is calling"), Style::new().bold())),
        Line::from(vec![Span::styled("a", Style::new().fg(Color::Green).bold()), Span::raw(" accept    "), Span::styled("d", Style::new().fg(Color::Red).bold()), Span::raw(" decline")]),
    ];
    let block = Block::bordered().border_type(BorderType::Thick).border_style(Style::new().fg(Color::Yellow)).title(" incoming call ");
    f.render_widget(Paragraph::new(text).alignment(Alignment::Center).block(block), r);
}

pub fn too_small(f: &mut Frame, area: Rect) {
    let text = format!(
        "termcall needs a terminal of at least {}x{}; this one is {}x{}. Enlarge it, or press q to quit.",
        MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
    );
    let h = area.height.min(3);
    let r = Rect { y: area.y + (area.height - h) / 2, height: h, ..area };
    f.render_widget(Paragraph::new(text).alignment(Alignment::Center).wrap(Wrap { trim: true }).style(Style::new().fg(Color::Yellow)), r);
}
