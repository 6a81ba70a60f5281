//! A terminal shows far fewer pixels than a camera sends: in a group call, a TUI in an 80x24
//! terminal with four tiles receives the smallest simulcast layer of each participant, while a
//! headless participant, which asks for full size, receives the full one. The hub's per-receiver
//! figures (`/metrics`) measure both over the same seconds.
//! (A file of its own: five participants, each encoding three layers, fill the two cores.)

use std::time::{Duration, Instant};

use termcall_tests::tmux::Tmux;
use termcall_tests::{Client, Hub};

const SLOW: Duration = Duration::from_secs(20);
const WINDOW: Duration = Duration::from_secs(5);

/// A receiver's figures: video payload bytes, and packets of each layer (q, h, f).
fn figures(hub: &Hub, receiver: &str) -> (f64, [f64; 3]) {
    let page = hub.metrics_page();
    let get = |line: &str| page.lines().find_map(|l| l.strip_prefix(line)?.trim().parse::<f64>().ok()).unwrap_or(0.0);
    let layer = |name: &str, l: &str| get(&format!("termcall_sfu_receiver_layer_{name}_total{{receiver=\"{receiver}\",layer=\"{l}\"}} "));
    let bytes = ["q", "h", "f"].iter().map(|l| layer("bytes", l)).sum();
    (bytes, ["q", "h", "f"].map(|l| layer("packets", l)))
}

#[test]
fn a_tui_with_four_small_tiles_receives_the_smallest_layer_and_a_headless_receiver_the_full_one() {
    let hub = Hub::start_with(&["--dead-after-ms", "6000"]);
    // A moving, detailed picture (testsrc's bars cost next to nothing at any size).
    let clip = termcall_tests::media::noisy_clip(320, 240, 150);
    let args = ["--auto-accept", "--video-size", "320x240", "--video", clip.to_str().unwrap()];
    let mut others: Vec<Client> = ["bob", "carol", "dave", "erin"].iter().map(|n| Client::ready(&hub, n, &args)).collect();
    let t = Tmux::termcall_in(&hub, "alice", (80, 24), &["--video-size", "320x240"]);
    t.wait_text("the four in the roster", SLOW, |s| ["bob", "carol", "dave", "erin"].iter().all(|n| s.contains(n)));
    // The roster is sorted (bob first, echo between dave and erin): mark the four, call them all.
    t.keys(&["Space", "j", "Space", "j", "Space", "j", "j", "Space"]);
    t.wait_text("four marked", SLOW, |s| ["✓ bob", "✓ carol", "✓ dave", "✓ erin"].iter().all(|n| s.contains(n)));
    t.keys(&["Enter"]);
    for c in others.iter_mut() {
        c.expect_call("connected", SLOW);
    }
    t.wait_text("connected through the hub", SLOW, |s| s.contains("via hub"));
    // Layers settle: each tile's size reaches the hub, the senders' keyframes come.
    std::thread::sleep(Duration::from_secs(4));
    let (a0, e0, t0) = (figures(&hub, "alice"), figures(&hub, "erin"), Instant::now());
    std::thread::sleep(WINDOW);
    let (a1, e1, secs) = (figures(&hub, "alice"), figures(&hub, "erin"), t0.elapsed().as_secs_f64());
    let rate = |b: f64, a: f64| (b - a) * 8.0 / secs / 1000.0;
    let layers = |x: (f64, [f64; 3]), y: (f64, [f64; 3])| [0, 1, 2].map(|i| y.1[i] - x.1[i]);
    let (alice_kbps, erin_kbps) = (rate(a1.0, a0.0), rate(e1.0, e0.0));
    let (alice_layers, erin_layers) = (layers(a0, a1), layers(e0, e1));
    eprintln!(
        "over {secs:.1} s: alice (TUI, 80x24, four tiles) received {alice_kbps:.0} kbit/s of video, packets by layer q/h/f {alice_layers:?}; \
         erin (headless, full size) {erin_kbps:.0} kbit/s, {erin_layers:?}"
    );
    assert!(alice_layers[0] > 0.0 && alice_layers[1] + alice_layers[2] == 0.0, "the TUI gets only the smallest layer: {alice_layers:?}");
    // Full size is what it asks for; its link's estimate (1.5 Mbit/s at first, raised by
    // probes) may hold a stream on the half layer for a while, but never on the smallest.
    assert!(erin_layers[1] + erin_layers[2] > 0.0 && erin_layers[0] == 0.0, "the headless receiver gets the larger layers: {erin_layers:?}");
    assert!(alice_kbps * 2.0 < erin_kbps, "the TUI's downlink ({alice_kbps:.0} kbit/s) is not well under the full-size one's ({erin_kbps:.0} kbit/s)");
    t.keys(&["q"]);
    t.wait_text("exited", SLOW, |s| s.contains("EXITED 0"));
}
