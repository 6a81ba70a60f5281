//! Video and chat under 5% random UDP loss between two test hosts (network namespaces).

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::netns::{self, Link, ADDR_A, ADDR_B};
use termcall_tests::{Client, Hub, SOON};

#[test]
fn video_keeps_decoding_and_chat_all_arrives_under_five_percent_loss() {
    under_five_percent_loss("loss", "h264");
}

#[test]
fn vp8_video_keeps_decoding_and_chat_all_arrives_under_five_percent_loss() {
    under_five_percent_loss("lossvp8", "vp8");
}

fn under_five_percent_loss(name: &str, codec: &str) {
    netns::available().expect("this test makes network namespaces");
    let link = Link::new(name).expect("test hosts");
    let hub = Hub::start_in(Some(&link.a), &format!("{ADDR_A}:0"), &[]);
    let mut alice = Client::start_in(Some(&link.a), ADDR_A, &hub.url, "alice", &["--video-size", "320x240", "--video-codec", codec]);
    let mut bob = Client::start_in(Some(&link.b), ADDR_B, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240", "--video-codec", codec]);
    for c in [&mut alice, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    link.udp_loss(&link.b, 5).expect("loss rule");
    let started = Instant::now();
    let mut sent = 0;
    let mut worst_fps: f64 = f64::MAX;
    let mut loss_seen: f64 = 0.0;
    // Skip the first report after the rule goes in; then 20 one-second reports must each show ≥ 10 fps.
    bob.expect("a stats line", Duration::from_secs(3), |e| e["event"] == "stats");
    for _ in 0..20 {
        alice.send(json!({"cmd":"chat","text": format!("under loss {sent}")}));
        bob.send(json!({"cmd":"chat","text": format!("back {sent}")}));
        sent += 1;
        for c in [&mut bob, &mut alice] {
            let s = c.expect("stats", Duration::from_secs(3), |e| e["event"] == "stats");
            let fps = s["video"]["fps"].as_f64().unwrap();
            worst_fps = worst_fps.min(fps);
            loss_seen = loss_seen.max(s["loss_pct"].as_f64().unwrap());
            assert!(fps >= 10.0, "{} decoded only {fps} fps under loss: {s}", c.name);
            assert!(s["video"]["codec"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(codec)), "{}: {s}", c.name);
        }
    }
    eprintln!("{codec}: 20 s under 5% loss: worst {worst_fps} fps, loss reported up to {loss_seen}%, {:?}", started.elapsed());
    assert!(loss_seen > 0.0, "the loss rule really dropped packets");
    for (c, prefix) in [(&mut bob, "under loss"), (&mut alice, "back")] {
        let last = format!("{prefix} {}", sent - 1);
        c.expect_seen("the last chat line", Duration::from_secs(10), |e| e["event"] == "chat" && e["text"] == last.as_str());
        let got: Vec<String> = c.seen.iter().filter(|e| e["event"] == "chat").map(|e| e["text"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = (0..sent).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(got, want, "{}: every chat line, in order", c.name);
    }
    drop((alice, bob, hub));
    drop(link);
}
