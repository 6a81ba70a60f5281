//! Snapshot tests of the layout, drawn on ratatui's TestBackend. The expected screens are text
//! files in `snapshots/`; `UPDATE_SNAPSHOTS=1 cargo test` rewrites them after a deliberate change
//! (review the diff).

use std::path::PathBuf;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use termcall_shared::{UserInfo, UserState};

use super::{draw, Areas};
use crate::engine::api::{QualityLimitation, SentStats, VideoStats};
use crate::engine::{CallState, CallStats, Event, Path};
use crate::media::{testsrc, Frame};
use crate::tui::app::{App, Author, ChatLine, Focus};
use crate::tui::color::ColorMode;
use crate::tui::video::{VideoView, DEFAULT_THRESHOLD};

fn render(app: &mut App, w: u16, h: u16, remote: &VideoView, local: &VideoView) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, app, remote, local, &[])).unwrap();
    term.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Compares with `snapshots/NAME.txt` (or writes it when UPDATE_SNAPSHOTS is set).
fn check(name: &str, buf: &Buffer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tui/ui/snapshots").join(format!("{name}.txt"));
    let got = text(buf);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("no snapshot {}: run with UPDATE_SNAPSHOTS=1 and review it", path.display()));
    assert!(got == want, "screen {name} changed (UPDATE_SNAPSHOTS=1 to accept):\n--- want\n{want}\n--- got\n{got}");
}

fn user(name: &str, state: UserState) -> UserInfo {
    UserInfo::new(name, state)
}

fn idle_app() -> App {
    let mut app = App::new("alice", "ws://127.0.0.1:7878/ws");
    app.on_engine(Event::Ready { name: "alice".into() });
    app.on_engine(Event::Roster { users: vec![user("bob", UserState::Idle), user("carol", UserState::InCall), user("dave", UserState::Ringing)] });
    app
}

fn fixed_times(app: &mut App) {
    for l in app.chat.iter_mut() {
        l.time = "12:00".into();
    }
}

fn views() -> (VideoView, VideoView) {
    (VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD), VideoView::new(ColorMode::TrueColor, DEFAULT_THRESHOLD))
}

#[test]
fn idle_with_a_roster() {
    let mut app = idle_app();
    let (r, l) = views();
    let buf = render(&mut app, 80, 24, &r, &l);
    check("idle", &buf);
    // The selected user is highlighted.
    assert!(buf[(3, 1)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[(3, 2)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn an_incoming_call() {
    let mut app = idle_app();
    app.on_engine(Event::Incoming { from: "bob".into(), group: None });
    fixed_times(&mut app);
    let (r, l) = views();
    check("incoming", &render(&mut app, 80, 24, &r, &l));
}

#[test]
fn in_a_call_with_video_and_chat() {
    let mut app = idle_app();
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Ringing, path: None, reason: None });
    app.on_engine(Event::Call { peer: "bob".into(), state: CallState::Connected, path: Some(Path::P2p), reason: None });
    let stats = CallStats {
        rtt_ms: Some(1.4),
        loss_pct: 0.5,
        video: VideoStats { frames_decoded: 300, fps: 15.0, width: 640, height: 480, kbps: 700.0, latency_ms: Some(2.0), decode_errors: 0, frames_held: 0, codec: Some("VP8".into()), flash_at_ms: None },
        sent: SentStats { codec: Some("H264".into()), width: 320, height: 240, bwe_kbps: 260.0, quality_limitation: QualityLimitation::Bandwidth, ..Default::default() },
        ..Default::default()
    };
    app.on_engine(Event::Stats { peer: "bob".into(), path: Some(Path::P2p), stats });
    app.on_engine(Event::Chat { from: "bob".into(), text: "can you see the bars?".into() });
    app.chat.push_back(ChatLine { time: String::new(), author: Author::Me, text: "yes, all eight of them, in colour, and this line is long enough to wrap".into() });
    app.focus = Focus::Chat;
    fixed_times(&mut app);
    let (mut remote, mut local) = views();
    let a = Areas::compute(Rect::new(0, 0, 100, 30)).unwrap();
    let mut f = Frame::new(640, 480);
    testsrc::draw(&mut f, 0);
    remote.update(&f, a.video_inner);
    local.update(&f, a.self_view);
    let buf = render(&mut app, 100, 30, &remote, &local);
    check("in_call", &buf);
    // The video pane is half blocks in the testsrc colours: the first bar white, the seventh blue.
    let bar = |i: u16| {
        let row = a.video_inner.y + 2;
        let pic_w = (a.video_inner.width).min(a.video_inner.height * 2 * 4 / 3);
        let x0 = a.video_inner.x + (a.video_inner.width - pic_w) / 2;
        buf[(x0 + pic_w * i / 8 + pic_w / 16, row)].clone()
    };
    assert_eq!(bar(0).symbol(), "▀");
    assert_eq!(bar(0).fg, Color::Rgb(255, 255, 255));
    assert_eq!(bar(6).fg, Color::Rgb(0, 0, 255));
    // What we send, under the network's estimate: in full where the line has room, shorter
    // where it has less, not at all (rather than cut) where it has none.
    let mut status = |w: u16| {
        let buf = render(&mut app, w, 30, &remote, &local);
        text(&buf).lines().nth(28).unwrap_or_default().trim_end().to_owned()
    };
    let (wide, narrower, narrow) = (status(180), status(116), status(100));
    assert!(wide.contains("│ sending H264 320x240 · est. 260 kbps, limited by the network"), "{wide}");
    assert!(wide.contains("│ 15 fps VP8 │"), "the codec received: {wide}");
    assert!(narrower.ends_with("│ ↑320x240 260k net"), "{narrower}");
    assert!(!narrow.contains("320x240"), "{narrow}");
}

#[test]
fn the_help_overlay() {
    let mut app = idle_app();
    app.help = true;
    let (r, l) = views();
    check("help", &render(&mut app, 80, 24, &r, &l));
}

#[test]
fn a_tiny_terminal_gets_a_message_not_garbage() {
    let mut app = idle_app();
    let (r, l) = views();
    let buf = render(&mut app, 40, 10, &r, &l);
    check("tiny", &buf);
    assert!(text(&buf).contains("40x10"));
    // Degenerate sizes do not panic.
    for (w, h) in [(1, 1), (0, 0), (59, 40), (200, 15), (60, 16)] {
        render(&mut app, w, h, &r, &l);
    }
}

#[test]
fn the_microphone_level_shows_as_a_meter() {
    use super::bars::level_meter;
    assert_eq!(level_meter(-127.0), "     ", "silence: empty");
    assert_eq!(level_meter(-10.0), "█████", "loud: full");
    assert_eq!(level_meter(-35.0), "██▄  ", "half way");
}
