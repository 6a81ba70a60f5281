//! The terminal UI as a person uses it: in tmux, against a headless peer through a real hub.
//! Keys go in with `send-keys`; what the screen shows (and in which colours) comes back with
//! `capture-pane -e`.

use std::time::Duration;

use serde_json::json;
use termcall_tests::media::TESTSRC_BARS;
use termcall_tests::tmux::{Colour, Screen, Tmux};
use termcall_tests::{bin, Client, Hub, SOON};

const SLOW: Duration = Duration::from_secs(15);

/// The longest run of half blocks on a row: (first column, length).
fn picture_run(row: &[termcall_tests::tmux::Cell]) -> (usize, usize) {
    let (mut best, mut start, mut len) = ((0, 0), 0, 0);
    for (x, c) in row.iter().enumerate() {
        if c.ch == '▀' && matches!(c.fg, Colour::Rgb(..)) {
            if len == 0 {
                start = x;
            }
            len += 1;
            if len > best.1 {
                best = (start, len);
            }
        } else {
            len = 0;
        }
    }
    best
}

/// Whether the widest picture on screen shows the eight testsrc bars in their colours
/// (sampled a quarter of the way down the picture, in the middle of each bar).
fn shows_testsrc_bars(s: &Screen) -> Result<(), String> {
    let rows: Vec<usize> = (0..s.rows.len()).filter(|&y| picture_run(&s.rows[y]).1 >= 24).collect();
    let (Some(&top), Some(&bottom)) = (rows.first(), rows.last()) else { return Err("no picture".into()) };
    let y = top + (bottom - top) / 4;
    let (x0, w) = picture_run(&s.rows[y]);
    for (i, want) in TESTSRC_BARS.iter().enumerate() {
        let cell = &s.rows[y][x0 + w * (2 * i + 1) / 16];
        let Colour::Rgb(r, g, b) = cell.fg else { return Err(format!("bar {i}: not truecolor: {cell:?}")) };
        let off = [r, g, b].iter().zip(want).map(|(a, b)| (i16::from(*a) - i16::from(*b)).abs()).max().unwrap();
        if off > 24 {
            return Err(format!("bar {i} at row {y}: {:?}, want {want:?}", (r, g, b)));
        }
    }
    Ok(())
}

#[test]
fn calling_a_peer_from_the_tui_shows_its_video_and_chats() {
    let hub = Hub::start();
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    let t = Tmux::termcall(&hub, "alice");

    // bob in the roster, selected; Enter calls him.
    t.wait_text("bob in the roster", SOON, |s| s.contains("● bob") && s.contains("idle"));
    t.keys(&["Enter"]);
    bob.expect_call("connected", SLOW);
    t.wait_text("connected in the status line", SLOW, |s| s.contains("connected with bob via p2p"));

    // The video pane fills with half blocks in the testsrc colours.
    // (Waiting for the whole picture: a capture can catch the terminal mid-write.)
    let full = |s: &Screen| s.rows.iter().filter(|r| picture_run(r).1 >= 50).count() >= 20;
    let screen = t.wait_screen("the testsrc bars", SLOW, |s| shows_testsrc_bars(s).is_ok() && full(s));
    // 120x40: the pane's inside is 94x22 cells, so a 4:3 picture is 58x22 cells (plus the self-view).
    let picture_rows = screen.rows.iter().filter(|r| picture_run(r).1 >= 50).count();
    assert!(picture_rows >= 20 && screen.half_blocks() > 1250, "{picture_rows} rows, {} half blocks", screen.half_blocks());

    // A chat line typed in the TUI reaches bob; bob's reply shows in the TUI.
    t.keys(&["i"]);
    t.type_text("hello from the tui");
    t.keys(&["Enter"]);
    bob.expect("alice's chat", SOON, |e| e["event"] == "chat" && e["from"] == "alice" && e["text"] == "hello from the tui");
    bob.send(json!({"cmd":"chat","text":"hello from bob"}));
    t.wait_text("bob's reply", SOON, |s| s.contains("bob: hello from bob"));
    t.keys(&["Escape"]);

    // Resizes during the call: smaller, too small, and back; the layout follows.
    t.resize(80, 24);
    t.wait_screen("the picture at 80x24", SOON, |s| s.rows.len() == 24 && shows_testsrc_bars(s).is_ok());
    t.resize(50, 12);
    t.wait_text("the too-small message", SOON, |s| s.contains("needs a terminal of at least"));
    t.resize(120, 40);
    t.wait_screen("the picture back at 120x40", SOON, |s| shows_testsrc_bars(s).is_ok());

    // q hangs up and quits, and the shell gets its terminal back as it was.
    t.keys(&["q"]);
    bob.expect("the call to end", SOON, |e| e["event"] == "call" && e["state"] == "ended");
    let after = t.wait_text("the shell again", SOON, |s| s.contains("EXITED 0"));
    assert!(!after.contains('▀') && !after.contains("╭"), "the UI was left on screen:\n{after}");
    assert_eq!(t.query("#{alternate_on} #{cursor_flag} #{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}"), "0 1 000");
    // The marker is split in the command so that only its output matches.
    t.type_line("stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo ST''TY");
    let modes = t.wait_text("stty", SOON, |s| s.lines().any(|l| l.ends_with("STTY")));
    assert!(modes.contains("icanon echo STTY"), "the terminal is still raw:\n{modes}");
}

#[test]
fn an_incoming_call_rings_and_a_answers_it() {
    let hub = Hub::start();
    let mut bob = Client::ready(&hub, "bob", &[]);
    let t = Tmux::termcall(&hub, "alice");
    t.wait_text("bob in the roster", SOON, |s| s.contains("● bob"));
    bob.send(json!({"cmd":"call","to":"alice"}));
    t.wait_text("the incoming prompt", SOON, |s| s.contains("bob is calling") && s.contains("a accept"));
    assert_eq!(t.query("#{window_bell_flag}"), "1", "the terminal bell did not ring");
    t.keys(&["a"]);
    bob.expect_call("connected", SLOW);
    t.wait_text("connected", SLOW, |s| s.contains("connected with bob"));
    // h hangs up from this side.
    t.keys(&["h"]);
    bob.expect("the call to end", SOON, |e| e["event"] == "call" && e["state"] == "ended" && e["reason"] == "peer_hangup");
    t.wait_text("the end in the chat log", SOON, |s| s.contains("call with bob ended: you hung up"));
    t.keys(&["q"]);
    t.wait_text("the shell again", SOON, |s| s.contains("EXITED 0"));
}

#[test]
fn without_a_terminal_the_tui_refuses_with_advice() {
    let out = std::process::Command::new(bin("termcall")).args(["--name", "alice", "--hub", "ws://127.0.0.1:9/ws"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--headless"));
}

#[test]
fn the_demo_opens_the_tui_in_a_call_with_a_scripted_peer() {
    let t = Tmux::start(120, 40, &[("COLORTERM", "truecolor"), ("TMPDIR", &termcall_tests::scratch("demo-log").display().to_string())]);
    t.type_line(&format!("{} demo; echo EXITED $?", bin("termcall").display()));
    t.wait_text("the call with bob", SLOW, |s| s.contains("connected with bob via p2p") && s.contains("I am bob"));
    t.wait_screen("bob's testsrc", SLOW, |s| shows_testsrc_bars(s).is_ok());
    t.keys(&["i"]);
    t.type_text("are you a bot?");
    t.keys(&["Enter"]);
    t.wait_text("bob's answer", SOON, |s| s.contains("bob heard: are you a bot?"));
    t.keys(&["Escape", "q"]);
    t.wait_text("the shell again", SOON, |s| s.contains("EXITED 0"));
}

#[test]
fn sigterm_restores_the_terminal() {
    let hub = Hub::start();
    let t = Tmux::termcall(&hub, "sigterm-victim");
    t.wait_text("the UI", SOON, |s| s.contains("no call · select someone"));
    let pid = std::process::Command::new("pgrep").args(["-f", "--", "--name sigterm-victim"]).output().unwrap();
    let pid: u32 = String::from_utf8_lossy(&pid.stdout).split_whitespace().next().expect("the TUI's pid").parse().unwrap();
    termcall_tests::signal(pid, 15);
    let after = t.wait_text("the shell again", SOON, |s| s.contains("EXITED 0"));
    assert!(after.contains("EXITED 0") && !after.contains("╭"), "{after}");
    assert_eq!(t.query("#{alternate_on} #{cursor_flag} #{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}"), "0 1 000");
}
