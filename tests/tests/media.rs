//! Media end to end: real H.264, VP8 and Opus between two real clients, decoded and checked.

use std::time::Duration;

use serde_json::{json, Value};
use termcall_tests::media::{mean, psnr, write_test_png, write_test_y4m, TESTSRC_BARS};
use termcall_tests::{bin, scratch, Client, Hub, SOON};

/// alice (args_a) calls bob (args_b, auto-accept); waits until both are connected.
fn call(hub: &Hub, args_a: &[&str], args_b: &[&str]) -> (Client, Client) {
    let mut b_args = vec!["--auto-accept"];
    b_args.extend_from_slice(args_b);
    let mut alice = Client::ready(hub, "alice", args_a);
    let mut bob = Client::ready(hub, "bob", &b_args);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);
    (alice, bob)
}

fn stats_after(c: &mut Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    c.expect(what, Duration::from_secs(10), |e| e["event"] == "stats" && pred(e))
}

fn snapshot(c: &mut Client, name: &str) -> image::RgbImage {
    let path = scratch("snap").join(name);
    c.send(json!({"cmd":"snapshot","path": path}));
    let ev = c.expect("snapshot", SOON, |e| e["event"] == "snapshot" || (e["event"] == "error" && e["code"] == "snapshot_failed"));
    assert_eq!(ev["event"], "snapshot", "{ev}");
    image::open(&path).expect("snapshot is a PNG").to_rgb8()
}

#[test]
fn testsrc_is_decoded_on_both_sides_and_its_bars_are_right() {
    testsrc_both_ways(&[], &[], "H264");
}

#[test]
fn testsrc_in_vp8_is_decoded_on_both_sides_and_its_bars_are_right() {
    testsrc_both_ways(&["--video-codec", "vp8"], &["--video-codec", "vp8"], "VP8");
}

/// The answerer takes the offer's first codec it has; the offerer follows the answer, even when
/// it is not the offerer's first choice.
#[test]
fn the_codec_is_the_first_both_have_whoever_limits_it() {
    // alice offers H.264 then VP8; bob has only VP8: both send VP8.
    testsrc_both_ways(&[], &["--video-codec", "vp8"], "VP8");
}

/// alice (args_a) calls bob (args_b); both decode 3 s of testsrc in `codec`, at full size, bars right.
fn testsrc_both_ways(args_a: &[&str], args_b: &[&str], codec: &str) {
    let hub = Hub::start();
    let (mut alice, mut bob) = call(&hub, args_a, args_b);
    // Stats come once a second; by the third, 3 s of 15 fps must have been decoded.
    for c in [&mut alice, &mut bob] {
        let s = stats_after(c, "3 s of video", |e| e["video"]["frames_decoded"].as_u64() >= Some(36));
        assert_eq!((s["video"]["width"].as_u64(), s["video"]["height"].as_u64()), (Some(640), Some(480)), "{s}");
        let third = c.seen.iter().filter(|e| e["event"] == "stats").nth(2).cloned().expect("three stats events");
        assert!(third["video"]["frames_decoded"].as_u64().unwrap() >= 36, "after 3 s: {third}");
        assert_eq!(s["path"], "p2p");
        assert!(s["rtt_ms"].as_f64().is_some(), "rtt is measured: {s}");
        assert_eq!((s["video"]["codec"].as_str(), s["sent"]["codec"].as_str()), (Some(codec), Some(codec)), "{}: {s}", c.name);
        assert_eq!(s["video"]["decode_errors"], 0, "{}: {s}", c.name);
    }
    for (c, name) in [(&mut alice, "a.png"), (&mut bob, "b.png")] {
        let img = snapshot(c, name);
        assert_eq!(img.dimensions(), (640, 480));
        for (i, want) in TESTSRC_BARS.iter().enumerate() {
            // The middle of each bar, away from its edges and the lower third.
            let got = mean(&img, i as u32 * 80 + 20, 60, 40, 200);
            for ch in 0..3 {
                assert!((got[ch] - f64::from(want[ch])).abs() <= 24.0, "{} ({codec}): bar {i} is {got:?}, want {want:?}", c.name);
            }
        }
    }
    for c in [&alice, &bob] {
        assert!(!c.seen.iter().any(|e| e["event"] == "error"), "{}: no errors: {:?}", c.name, c.seen.iter().filter(|e| e["event"] == "error").collect::<Vec<_>>());
    }
}

#[test]
fn a_still_image_arrives_intact() {
    let dir = scratch("still");
    let png = dir.join("still.png");
    let original = write_test_png(&png, 800, 600);
    let hub = Hub::start();
    let (mut alice, mut bob) = call(&hub, &["--video", png.to_str().unwrap()], &["--video", "none"]);
    stats_after(&mut bob, "the picture", |e| e["video"]["frames_decoded"].as_u64() >= Some(20));
    let got = snapshot(&mut bob, "still.png");
    let want = image::imageops::resize(&original, got.width(), got.height(), image::imageops::FilterType::Triangle);
    let db = psnr(&got, &want);
    eprintln!("still image PSNR: {db:.1} dB");
    assert!(db >= 30.0, "PSNR {db:.1} dB");
    // bob sends no video: alice decodes none, but the call works.
    let s = stats_after(&mut alice, "a stats line", |_| true);
    assert_eq!(s["video"]["frames_decoded"], 0, "{s}");
}

#[test]
fn a_y4m_clip_is_sent_in_a_loop() {
    let y4m = scratch("y4m").join("clip.y4m");
    write_test_y4m(&y4m, 320, 240, 10);
    let hub = Hub::start();
    let (_alice, mut bob) = call(&hub, &["--video", y4m.to_str().unwrap(), "--video-size", "320x240"], &[]);
    // 10 frames looped: more than 10 decoded means the loop works.
    stats_after(&mut bob, "the clip, looped", |e| e["video"]["frames_decoded"].as_u64() >= Some(25));
    let img = snapshot(&mut bob, "clip.png");
    assert_eq!(img.dimensions(), (320, 240));
    // The grey ramp: dark on the left, bright on the right, colourless.
    let (left, right) = (mean(&img, 8, 120, 16, 100), mean(&img, 296, 120, 16, 100));
    assert!(right[0] > left[0] + 80.0, "ramp {left:?} → {right:?}");
    assert!((left[0] - left[2]).abs() < 20.0, "grey, not coloured: {left:?}");
}

#[test]
fn audio_flows_at_fifty_packets_a_second_at_the_level_sent_and_mute_stops_it() {
    let hub = Hub::start();
    let (mut alice, mut bob) = call(&hub, &["--video", "none"], &["--video", "none"]);
    for c in [&mut alice, &mut bob] {
        let s1 = stats_after(c, "audio", |e| e["audio"]["packets"].as_u64() > Some(50));
        let s2 = stats_after(c, "a second later", |_| true);
        let rate = s2["audio"]["packets"].as_u64().unwrap() - s1["audio"]["packets"].as_u64().unwrap();
        assert!((45..=55).contains(&rate), "{}: {rate} packets in a second", c.name);
        let (got, sent) = (s2["audio"]["level_dbov"].as_f64().unwrap(), s2["sent"]["audio_level_dbov"].as_f64().unwrap());
        assert!((got - sent).abs() <= 6.0, "{}: received {got} dBov, sent {sent} dBov", c.name);
        assert!(sent > -30.0 && sent < -15.0, "a quiet tone: {sent}");
    }
    alice.send(json!({"cmd":"mute","audio":true}));
    assert_eq!(alice.expect("mute ack", SOON, |e| e["event"] == "mute")["audio"], true);
    // Give a second for packets in flight, then bob must see none arrive for a whole second.
    stats_after(&mut bob, "a second", |_| true);
    let a = stats_after(&mut bob, "muted", |_| true)["audio"]["packets"].as_u64().unwrap();
    let b = stats_after(&mut bob, "still muted", |_| true)["audio"]["packets"].as_u64().unwrap();
    assert_eq!(a, b, "no audio while muted");
    alice.send(json!({"cmd":"mute","audio":false}));
    let resumed = stats_after(&mut bob, "audio again", |e| e["audio"]["packets"].as_u64() > Some(b + 20));
    assert!(resumed["audio"]["level_dbov"].as_f64().unwrap() > -40.0, "{resumed}");
}

#[test]
fn video_mute_stops_frames_and_unmute_resumes_them() {
    let hub = Hub::start();
    let (mut alice, mut bob) = call(&hub, &["--audio", "none"], &["--audio", "none"]);
    stats_after(&mut bob, "video", |e| e["video"]["frames_decoded"].as_u64() >= Some(10));
    alice.send(json!({"cmd":"mute","video":true}));
    alice.expect("mute ack", SOON, |e| e["event"] == "mute" && e["video"] == true);
    stats_after(&mut bob, "a second", |_| true);
    let a = stats_after(&mut bob, "muted", |_| true)["video"]["frames_decoded"].as_u64().unwrap();
    let b = stats_after(&mut bob, "still muted", |_| true)["video"]["frames_decoded"].as_u64().unwrap();
    assert_eq!(a, b, "no video while muted");
    alice.send(json!({"cmd":"mute","video":false}));
    stats_after(&mut bob, "video again", |e| e["video"]["frames_decoded"].as_u64() > Some(b + 10));
}

#[test]
fn unreadable_sources_are_refused_at_start_with_the_file_named() {
    let dir = scratch("bad");
    let garbage = dir.join("garbage.png");
    std::fs::write(&garbage, b"this is not a png").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["--video".into(), "/nonexistent/cat.png".into()], "/nonexistent/cat.png".into()),
        (vec!["--video".into(), garbage.display().to_string()], garbage.display().to_string()),
        (vec!["--video".into(), "/nonexistent/clip.y4m".into()], "/nonexistent/clip.y4m".into()),
        (vec!["--video".into(), "movie.mkv".into()], "movie.mkv".into()),
        (vec!["--audio".into(), "/nonexistent/voice.wav".into()], "/nonexistent/voice.wav".into()),
        (vec!["--video-size".into(), "641x480".into()], "641x480".into()),
        // The default build has no device support: the error names the device and the feature.
        (vec!["--video".into(), "/dev/video7".into()], "/dev/video7".into()),
        (vec!["--video".into(), "/dev/video7".into()], "--features camera".into()),
        (vec!["--audio".into(), "mic".into()], "--features sound".into()),
    ];
    for (args, needle) in cases {
        let out = std::process::Command::new(bin("termcall"))
            .args(["--name", "alice", "--headless", "--hub", "ws://127.0.0.1:9/ws"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&needle), "{args:?}: {err}");
    }
}
