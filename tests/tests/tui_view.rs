//! In a one-to-one call the sender encodes no more than the receiver's terminal shows: a TUI in
//! an 80x24 terminal gets a picture sized to its video pane, and when the terminal grows to
//! 200x60 the sender raises the size within 2 s.
//! (A file of its own: a TUI and a peer encoding 640x480.)

use std::time::{Duration, Instant};

use termcall_tests::tmux::Tmux;
use termcall_tests::{Client, Hub};

const SLOW: Duration = Duration::from_secs(15);

/// The size bob sends, from his newest stats.
fn sent_size(bob: &mut Client) -> (u64, u64) {
    let s = bob.expect("bob's stats", SLOW, |e| e["event"] == "stats");
    (s["sent"]["width"].as_u64().unwrap_or(0), s["sent"]["height"].as_u64().unwrap_or(0))
}

#[test]
fn the_sender_encodes_what_the_receivers_terminal_shows_and_follows_a_resize() {
    let hub = Hub::start_with(&["--dead-after-ms", "6000"]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept", "--video-size", "640x480", "--stats-every", "250"]);
    let t = Tmux::termcall_in(&hub, "alice", (80, 24), &[]);
    t.wait_text("bob in the roster", SLOW, |s| s.contains("bob"));
    t.keys(&["Enter"]);
    bob.expect_call("connected", SLOW);
    // An 80x24 terminal's video pane shows at most 80x48 half-block pixels.
    let until = Instant::now() + SLOW;
    let small = loop {
        let (w, h) = sent_size(&mut bob);
        if w > 0 && w <= 80 && h <= 48 {
            break (w, h);
        }
        assert!(Instant::now() < until, "bob still sends {w}x{h} to an 80x24 terminal");
    };
    t.resize(200, 60);
    let resized = Instant::now();
    let large = loop {
        let (w, h) = sent_size(&mut bob);
        if w > small.0 * 2 {
            break (w, h);
        }
        assert!(resized.elapsed() < Duration::from_secs(5), "bob still sends {w}x{h} after the terminal grew to 200x60");
    };
    let took = resized.elapsed();
    eprintln!("80x24: bob sends {}x{}; 200x60: {}x{} after {took:?}", small.0, small.1, large.0, large.1);
    assert!(took <= Duration::from_secs(2), "the size followed the resize only after {took:?}");
    t.keys(&["q"]);
    t.wait_text("exited", SLOW, |s| s.contains("EXITED 0"));
}
