//! A peer with no video codec in common with termcall: Debian's Firefox ESR (VP8, VP9 and AV1:
//! no OpenH264 plugin) against terminal users who take H.264 only (`--video-codec h264`).
//! Either way round the call goes on with audio and chat; the terminal user is told "no common
//! video codec with PEER"; nothing is sent, or logged, packet by packet on the refused video
//! section. In a group call through the hub, such a browser gets everyone's audio, and the
//! others get its audio and one another's video, however often the hub renegotiates.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use termcall_tests::browser::{peer_page, Browser};
use termcall_tests::netns::{self, Lan, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{participant, Client, Hub, SOON};

static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn setup(tag: &str) -> (Lan, Hub, Client) {
    netns::available().expect("this test makes network namespaces");
    Browser::firefox_available().expect("this test runs Firefox");
    let lan = Lan::new(tag).expect("test hosts");
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240", "--video-codec", "h264"]);
    bob.expect("ready", SOON, |e| e["event"] == "ready");
    (lan, hub, bob)
}

/// Connected, told why there is no video, audio from the browser, chat both ways, and no
/// per-packet errors in bob's log.
fn audio_and_chat_without_video(bob: &mut Client, browser: &Browser) {
    let Some(c) = bob.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected") else {
        let events: Vec<String> = bob.seen.iter().rev().take(12).map(|e| e.to_string()).collect();
        panic!("the call never connected; Firefox's log:\n{}\nbob's events (newest first):\n{}\nbob's log:\n{}", browser.log_tail(30), events.join("\n"), bob.log_tail(30));
    };
    eprintln!("connected: {c}");
    let told = bob.expect_seen("the reason there is no video", SOON, |e| e["event"] == "error" && e["code"] == "no_common_video_codec");
    let message = told["message"].as_str().unwrap_or_default();
    eprintln!("bob was told: {message}");
    assert!(message.contains("no common video codec with firefox"), "{told}");
    assert!(told["fatal"].is_null() || told["fatal"] == false, "not fatal: {told}");
    let s = bob.expect("audio from the browser", Duration::from_secs(10), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(100));
    assert_eq!(s["video"]["frames_decoded"].as_u64().unwrap_or(0), 0, "no video: {s}");
    bob.send(json!({"cmd":"chat","text":"hello without video"}));
    bob.expect("the browser's answer", SOON, |e| e["event"] == "chat" && e["text"] == "echo: hello without video");
    // A few seconds of the call: nothing logged packet by packet.
    bob.idle(Duration::from_secs(3));
    let log = std::fs::read_to_string(&bob.log).unwrap_or_default();
    let complaints = log.lines().filter(|l| l.contains("Failed to send RTP") || l.contains("unsupported codec")).count();
    assert_eq!(complaints, 0, "bob's log complains {complaints} times:\n{}", bob.log_tail(20));
    bob.send(json!({"cmd":"hangup"}));
    bob.expect_call("ended", SOON);
}

#[test]
fn firefox_calls_an_h264_only_terminal_user_and_gets_audio_and_chat() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, mut bob) = setup("nc1");
    let browser = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&call=bob", hub.url)));
    audio_and_chat_without_video(&mut bob, &browser);
    drop((browser, bob, hub));
}

#[test]
fn an_h264_only_terminal_user_calls_firefox_and_gets_audio_and_chat() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, mut bob) = setup("nc2");
    let browser = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&answer=1", hub.url)));
    bob.expect_roster("firefox", Duration::from_secs(20), |u| !u.is_empty());
    bob.send(json!({"cmd":"call","to":"firefox"}));
    audio_and_chat_without_video(&mut bob, &browser);
    drop((browser, bob, hub));
}

#[test]
fn firefox_in_a_group_call_of_h264_only_terminal_users_gets_everyones_audio_and_they_their_video() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, mut bob) = setup("nc3");
    let mut carol = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "carol", &["--auto-accept", "--video-size", "320x240", "--video-codec", "h264"]);
    carol.expect("ready", SOON, |e| e["event"] == "ready");
    let browser = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&call=bob,carol", hub.url)));
    for c in [&mut bob, &mut carol] {
        if c.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected").is_none() {
            panic!("{} never connected; Firefox's log:\n{}\n{}", c.name, browser.log_tail(30), c.log_tail(30));
        }
    }
    // bob and carol: each other's video, and the browser's audio.
    for (c, other) in [(&mut bob, "carol"), (&mut carol, "bob")] {
        let s = c.expect("the other's video and the browser's audio", Duration::from_secs(15), |e| {
            e["event"] == "stats"
                && participant(e, other).is_some_and(|p| p["video"]["fps"].as_f64() >= Some(5.0))
                && participant(e, "firefox").is_some_and(|p| p["audio"]["packets"].as_u64() >= Some(50))
        });
        eprintln!("{} gets {other} at {} fps and the browser's audio ({} packets)", c.name, participant(&s, other).unwrap()["video"]["fps"], participant(&s, "firefox").unwrap()["audio"]["packets"]);
    }
    // The browser: both terminal users' audio, though it refused every video section.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let both = loop {
        let log = std::fs::read_to_string(&browser.log).unwrap_or_default();
        let last = log.lines().filter_map(|l| l.split("termcall-peer: stats ").nth(1)).next_back().map(str::to_owned);
        if let Some(l) = last.filter(|l| l.contains("audio_streams=2")) {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "the browser does not get both audio streams; its log:\n{}\nthe hub's:\n{}", browser.log_tail(20), hub.log_text());
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("the browser receives: {both}");
    let hub_log = hub.log_text();
    assert!(!hub_log.contains("no offer:"), "an offer to someone failed:\n{hub_log}");
    assert!(hub_log.contains("no common video codec"), "the hub says why the browser gets no video");
    drop((browser, bob, carol, hub));
}
