//! echo: your own media and chat, back through the hub's SFU.

use std::time::Duration;

use serde_json::json;
use termcall_tests::media::{mean, TESTSRC_BARS};
use termcall_tests::{participant, scratch, Client, Hub, SOON};

#[test]
fn echo_sends_your_own_testsrc_and_chat_back_through_the_hub() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    // echo is in everyone's roster, always.
    alice.expect_seen("echo in the roster", SOON, |e| e["event"] == "roster" && e["users"].as_array().is_some_and(|u| u.iter().any(|u| u["name"] == "echo")));
    alice.send(json!({"cmd":"call","to":"echo"}));
    let c = alice.expect_call("connected", SOON);
    assert_eq!(c["path"], "hub", "{c}");
    // Stats come once a second; by the third, 3 s of 15 fps must have come back.
    alice.expect("3 s of video", Duration::from_secs(10), |e| e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() >= Some(36));
    let third = alice.seen.iter().filter(|e| e["event"] == "stats").nth(2).cloned().expect("three stats events");
    assert!(third["video"]["frames_decoded"].as_u64().unwrap() >= 36, "after 3 s: {third}");
    let echo = participant(&third, "echo").unwrap_or_else(|| panic!("echo in participants: {third}"));
    assert_eq!((echo["video"]["width"].as_u64(), echo["video"]["height"].as_u64()), (Some(640), Some(480)), "{third}");
    assert!(echo["audio"]["packets"].as_u64() > Some(50), "audio comes back too: {third}");
    // The snapshot is our own testsrc, bars and all.
    let path = scratch("echo").join("echo.png");
    alice.send(json!({"cmd":"snapshot","path": path}));
    alice.expect("snapshot", SOON, |e| e["event"] == "snapshot");
    let img = image::open(&path).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (640, 480));
    for (i, want) in TESTSRC_BARS.iter().enumerate() {
        let got = mean(&img, i as u32 * 80 + 20, 60, 40, 200);
        for ch in 0..3 {
            assert!((got[ch] - f64::from(want[ch])).abs() <= 24.0, "bar {i} is {got:?}, want {want:?}");
        }
    }
    alice.send(json!({"cmd":"chat","text":"is this thing on?"}));
    alice.expect("chat echoed", SOON, |e| e["event"] == "chat" && e["from"] == "echo" && e["text"] == "is this thing on?");
    assert!(hub.metric("termcall_sfu_rtp_forwarded_total").unwrap_or(0.0) > 100.0);
    alice.send(json!({"cmd":"hangup"}));
    alice.expect_call("ended", SOON);
    wait_metric(&hub, "termcall_sfu_peers", 0.0);
}

fn wait_metric(hub: &Hub, name: &str, want: f64) {
    let deadline = std::time::Instant::now() + SOON;
    while hub.metric(name) != Some(want) {
        assert!(std::time::Instant::now() < deadline, "{name} stays at {:?}, not {want}", hub.metric(name));
        std::thread::sleep(Duration::from_millis(50));
    }
}

