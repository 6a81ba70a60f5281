//! The two bottom lines: call status with its figures, and the keys that work now.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::engine::api::QualityLimitation;
use crate::engine::{CallState, HubState, Path};
use crate::tui::app::{describe_reason, App, Focus, Tone};

/// The status line: hub, call state and peer, path, RTT, kbps, fps and codec, loss, duration; what we
/// send (size) under the network's estimate, and why it is less than configured; mute marks.
pub fn status(f: &mut Frame, area: Rect, app: &App) {
    let mut spans: Vec<Span> = Vec::new();
    match app.hub {
        Some(HubState::Connected) => spans.push(Span::styled(" ● hub ", Style::new().fg(Color::Green))),
        Some(HubState::Disconnected) => spans.push(Span::styled(" ● hub down, retrying ", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))),
        None => spans.push(Span::styled(" ○ connecting to hub ", Style::new().fg(Color::Yellow))),
    }
    spans.push(Span::raw("│ "));
    match &app.call {
        None => spans.push(Span::raw("idle")),
        Some(c) => match c.state {
            CallState::Ringing if c.incoming => spans.push(Span::styled(format!("incoming call from {}", c.peer), Style::new().fg(Color::Yellow).bold())),
            CallState::Ringing => spans.push(Span::styled(format!("ringing {}…", c.peer), Style::new().fg(Color::Yellow))),
            CallState::Connecting => spans.push(Span::styled(format!("connecting to {}…", c.peer), Style::new().fg(Color::Yellow))),
            CallState::Reconnecting => {
                spans.push(Span::styled(format!("reconnecting to {}…", c.peer), Style::new().fg(Color::Yellow).bold()));
                spans.push(Span::raw(" media lost, looking for a new path (chat is kept)"));
            }
            CallState::Ended => spans.push(Span::raw(format!("call with {} ended: {}", c.peer, c.reason.as_deref().map_or("ended".into(), describe_reason)))),
            CallState::Connected => {
                spans.push(Span::styled("connected", Style::new().fg(Color::Green).bold()));
                let path = c.path.map_or("?", Path::as_str);
                spans.push(Span::raw(format!(" with {} via {path}", c.peer)));
                if let Some(s) = &app.stats {
                    let rtt = s.rtt_ms.map_or("–".into(), |r| if r < 10.0 { format!("{r:.1} ms") } else { format!("{r:.0} ms") });
                    let down = s.video.kbps + s.audio.kbps;
                    let codec = s.video.codec.as_deref().map_or(String::new(), |c| format!(" {c}"));
                    spans.push(Span::raw(format!(
                        " │ RTT {rtt} │ ↓{down:.0} ↑{:.0} kbps │ {:.0} fps{codec} │ loss {:.1}%",
                        s.sent.video_kbps, s.video.fps, s.loss_pct
                    )));
                }
                let t = c.since.elapsed().as_secs();
                spans.push(Span::raw(format!(" │ {:02}:{:02}", t / 60, t % 60)));
                if let Some(s) = app.stats.as_ref().filter(|s| s.sent.width > 0) {
                    // What we send, as long a form as fits the line, or nothing.
                    let used: usize = spans.iter().map(|s| s.width()).sum();
                    let room = usize::from(area.width).saturating_sub(used);
                    let (w, h, est) = (s.sent.width, s.sent.height, s.sent.bwe_kbps);
                    let why = match s.sent.quality_limitation {
                        QualityLimitation::None => None,
                        QualityLimitation::Bandwidth => Some(("limited by the network", "net")),
                        QualityLimitation::Cpu => Some(("limited by the CPU", "cpu")),
                    };
                    let codec = s.sent.codec.as_deref().map_or(String::new(), |c| format!("{c} "));
                    let long = format!(" │ sending {codec}{w}x{h} · est. {est:.0} kbps{}", why.map_or(String::new(), |(l, _)| format!(", {l}")));
                    let short = format!(" │ ↑{w}x{h} {est:.0}k{}", why.map_or(String::new(), |(_, s)| format!(" {s}")));
                    let text = [long, short].into_iter().find(|t| unicode_width::UnicodeWidthStr::width(t.as_str()) <= room);
                    let style = if why.is_some() { Style::new().fg(Color::Yellow) } else { Style::new() };
                    if let Some(t) = text {
                        spans.push(Span::styled(t, style));
                    }
                }
            }
        },
    }
    if app.audio_muted || app.video_muted {
        let what = match (app.audio_muted, app.video_muted) {
            (true, true) => " │ mic and video off",
            (true, false) => " │ mic off",
            _ => " │ video off",
        };
        spans.push(Span::styled(what, Style::new().fg(Color::Red)));
    }
    // The microphone's level over the last second, where the line has room: a person sees
    // that it hears them (or that it hears nothing).
    let live = matches!(app.call.as_ref().map(|c| c.state), Some(CallState::Connected)) && !app.audio_muted;
    if let Some(s) = app.stats.as_ref().filter(|s| live && s.sent.audio_packets > 0) {
        let meter = format!(" │ mic {}", level_meter(s.sent.audio_level_dbov));
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + unicode_width::UnicodeWidthStr::width(meter.as_str()) <= usize::from(area.width) {
            spans.push(Span::styled(meter, Style::new().fg(Color::Green)));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::DarkGray).fg(Color::White)), area);
}

/// A level in dBov as five cells of rising blocks: -60 dBov and below is empty, -10 full.
pub(super) fn level_meter(dbov: f64) -> String {
    const STEPS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let filled = ((dbov + 60.0) / 50.0).clamp(0.0, 1.0) * 5.0;
    (0..5).map(|i| STEPS[((filled - i as f64).clamp(0.0, 1.0) * 8.0).round() as usize]).collect()
}

/// The keys that do something now, or for a few seconds a notice (an error, a snapshot saved),
/// which gets the whole line.
pub fn hints(f: &mut Frame, area: Rect, app: &App) {
    if let Some((text, tone)) = app.current_notice() {
        let color = if tone == Tone::Error { Color::Red } else { Color::Cyan };
        f.render_widget(Paragraph::new(Span::styled(format!(" {text}"), Style::new().fg(color).add_modifier(Modifier::BOLD))), area);
        return;
    }
    let pairs: &[(&str, &str)] = if app.ringing_here().is_some() {
        &[("a", "accept"), ("d", "decline"), ("?", "help")]
    } else if app.focus == Focus::Chat {
        &[("Enter", "send"), ("Esc", "keys"), ("↑↓", "history"), ("PgUp/PgDn", "scroll"), ("Ctrl-C", "quit")]
    } else if app.in_call() {
        &[("h", "hang up"), ("i", "chat"), ("m", "mic"), ("v", "video"), ("+", "invite"), ("s", "snapshot"), ("?", "help"), ("q", "quit")]
    } else {
        &[("↑↓", "select"), ("Enter", "call"), ("Space", "mark"), ("e", "echo"), ("?", "help"), ("q", "quit")]
    };
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in pairs {
        spans.push(Span::styled(*k, Style::new().fg(Color::Cyan).bold()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
