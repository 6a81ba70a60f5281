//! A group call in the terminal UI, in tmux: a grid of tiles with the participants' names.
//! (A file of its own: with three peers decoding and a debug-build TUI drawing three tiles it
//! must not share the two cores with the other TUI tests.)

use std::time::Duration;

use serde_json::json;
use termcall_tests::tmux::{Colour, Tmux};
use termcall_tests::{Client, Hub, SOON};

const SLOW: Duration = Duration::from_secs(15);

/// Runs of at least `min` truecolor half blocks on a row: how many pictures it crosses.
fn picture_runs(row: &[termcall_tests::tmux::Cell], min: usize) -> usize {
    let (mut runs, mut len) = (0, 0);
    for c in row.iter().map(Some).chain([None]) {
        if c.is_some_and(|c| c.ch == '▀' && matches!(c.fg, Colour::Rgb(..))) {
            len += 1;
        } else {
            if len >= min {
                runs += 1;
            }
            len = 0;
        }
    }
    runs
}

#[test]
fn a_group_call_from_the_tui_shows_a_tile_per_participant() {
    // A starved debug build on a busy machine may miss a few pings: more patience than 1.5 s.
    let hub = Hub::start_with(&["--dead-after-ms", "6000"]);
    let small = ["--auto-accept", "--video-size", "320x240"];
    let mut others: Vec<Client> = ["bob", "carol", "dave"].iter().map(|n| Client::ready(&hub, n, &small)).collect();
    let t = Tmux::termcall(&hub, "alice");
    t.wait_text("the three in the roster", SOON, |s| ["● bob", "● carol", "● dave"].iter().all(|n| s.contains(n)));
    // Space marks bob, carol and dave (the roster is sorted, bob first); Enter calls them all.
    t.keys(&["Space", "j", "Space", "j", "Space"]);
    t.wait_text("three marked", SOON, |s| ["✓ bob", "✓ carol", "✓ dave"].iter().all(|n| s.contains(n)));
    t.keys(&["Enter"]);
    for c in others.iter_mut() {
        c.expect_call("connected", SLOW);
    }
    t.wait_text("connected through the hub", SLOW, |s| s.contains("via hub"));
    // Three tiles, each titled with its participant's name, each with a picture in it.
    let screen = t.wait_screen("three pictures side by side", SLOW, |s| s.rows.iter().any(|r| picture_runs(r, 20) == 3));
    let text = screen.text();
    for name in ["bob", "carol", "dave"] {
        assert!(text.lines().any(|l| l.contains('╭') && (l.contains(&format!("● {name} ")) || l.contains(&format!("○ {name} ")))), "no tile titled {name}:\n{text}");
    }
    assert!(text.contains("call · 3 others"), "{text}");
    // One hangs up: two tiles remain.
    others[1].send(json!({"cmd":"hangup"}));
    t.wait_text("carol left", SLOW, |s| s.contains("carol left the call"));
    let screen = t.wait_screen("two pictures", SLOW, |s| s.rows.iter().any(|r| picture_runs(r, 20) == 2) && !s.rows.iter().any(|r| picture_runs(r, 20) == 3));
    assert!(!screen.text().lines().any(|l| l.contains('╭') && l.contains(" carol ")), "{}", screen.text());
    t.keys(&["q"]);
    t.wait_text("exited", SOON, |s| s.contains("EXITED 0"));
}
