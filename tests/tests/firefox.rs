//! Firefox as the other party: Debian's Firefox ESR, headless, on the test peer page
//! (`tests/web/peer.html`). Without the OpenH264 plugin (Debian ships none, and the download
//! cannot work here) it offers and answers VP8, VP9 and AV1: termcall meets it in VP8. Each
//! way round: connected, VP8 decoded both ways (Firefox's getStats and termcall's stats), audio
//! both ways, chat both ways. And `echo` through the hub gives Firefox its picture back.
//! Firefox, termcall and the hub run on test hosts of one LAN (network namespaces).

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use termcall_tests::browser::{peer_page, Browser};
use termcall_tests::netns::{self, Lan, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{Client, Hub, SOON};

/// Firefox and the media need the two cores: one browser test at a time.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn setup(tag: &str, bob_args: &[&str]) -> (Lan, Hub, Client) {
    netns::available().expect("this test makes network namespaces");
    Browser::firefox_available().expect("this test runs Firefox");
    let lan = Lan::new(tag).expect("test hosts");
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    let mut args = vec!["--auto-accept", "--video-size", "320x240"];
    args.extend_from_slice(bob_args);
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &args);
    bob.expect("ready", SOON, |e| e["event"] == "ready");
    (lan, hub, bob)
}

/// Connected; 30 frames of VP8 decoded by each side; audio each way; chat each way.
fn video_audio_and_chat_both_ways(bob: &mut Client, firefox: &Browser) {
    let Some(c) = bob.wait(Duration::from_secs(30), &|e| e["event"] == "call" && e["state"] == "connected") else {
        panic!("the call never connected; Firefox's log:\n{}\nbob's:\n{}", firefox.log_tail(30), bob.log_tail(30));
    };
    eprintln!("connected: {c}");
    let s = bob.expect("30 frames of Firefox's video and its audio", Duration::from_secs(20), |e| {
        e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() >= Some(30) && e["audio"]["packets"].as_u64() >= Some(50)
    });
    assert_eq!((s["video"]["codec"].as_str(), s["sent"]["codec"].as_str()), (Some("VP8"), Some("VP8")), "{s}");
    assert_eq!(s["video"]["decode_errors"], 0, "{s}");
    eprintln!("bob decodes Firefox: {} fps {}x{}, {} frames, audio {} dBov", s["video"]["fps"], s["video"]["width"], s["video"]["height"], s["video"]["frames_decoded"], s["audio"]["level_dbov"]);
    let f = firefox.expect_stats("30 frames of bob's video and his audio", Duration::from_secs(20), |s| s.get("video_frames") >= Some(&30) && s.get("audio_packets") >= Some(&50));
    eprintln!("Firefox decodes bob: {f:?}");
    let log = std::fs::read_to_string(&firefox.log).unwrap_or_default();
    assert!(log.contains("video_codecs=VP8"), "Firefox receives VP8:\n{}", firefox.log_tail(5));
    bob.send(json!({"cmd":"chat","text":"hello Firefox"}));
    bob.expect("Firefox's answer", SOON, |e| e["event"] == "chat" && e["text"] == "echo: hello Firefox");
    assert!(log.contains("termcall-peer: chat hello Firefox") || std::fs::read_to_string(&firefox.log).unwrap_or_default().contains("termcall-peer: chat hello Firefox"), "Firefox got the line");
    bob.send(json!({"cmd":"hangup"}));
    bob.expect_call("ended", SOON);
}

#[test]
fn firefox_calls_a_terminal_user_in_vp8_both_ways() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, mut bob) = setup("ff1", &[]);
    let firefox = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&call=bob", hub.url)));
    video_audio_and_chat_both_ways(&mut bob, &firefox);
    drop((firefox, bob, hub));
}

#[test]
fn a_terminal_user_calls_firefox_in_vp8_both_ways() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, mut bob) = setup("ff2", &[]);
    let firefox = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&answer=1", hub.url)));
    bob.expect_roster("firefox", Duration::from_secs(30), |u| !u.is_empty());
    bob.send(json!({"cmd":"call","to":"firefox"}));
    video_audio_and_chat_both_ways(&mut bob, &firefox);
    drop((firefox, bob, hub));
}

#[test]
fn firefox_calls_echo_and_gets_its_picture_back() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, bob) = setup("ff3", &[]);
    drop(bob);
    let firefox = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&call=echo", hub.url)));
    let s = firefox.expect_stats("30 frames of its own picture, back from the hub", Duration::from_secs(30), |s| s.get("video_frames") >= Some(&30) && s.get("audio_packets") >= Some(&50));
    eprintln!("Firefox through echo: {s:?}");
    let log = std::fs::read_to_string(&firefox.log).unwrap_or_default();
    assert!(log.contains("video_codecs=VP8"), "in VP8:\n{}", firefox.log_tail(5));
    assert!(hub.log_text().contains("the room's video codec changes"), "the hub moved the room to VP8 for it");
    drop((firefox, hub));
}

/// Firefox (VP8 only), Chromium and two terminal users in one call through the hub: the room
/// goes to VP8 when Firefox joins, the terminal users' video follows, and everyone decodes
/// everyone.
#[test]
fn a_group_call_of_firefox_chromium_and_two_terminal_users_where_everyone_decodes_everyone() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Browser::available().expect("this test runs Chromium too");
    let (lan, hub, mut bob) = setup("ff4", &[]);
    let mut carol = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "carol", &["--auto-accept", "--video-size", "320x240"]);
    carol.expect("ready", SOON, |e| e["event"] == "ready");
    let clip = termcall_tests::media::noisy_clip(320, 240, 30);
    let chromium = Browser::chromium(&lan.hub, &peer_page(&format!("hub={}&name=chrome&answer=1", hub.url)), &clip);
    for c in [&mut bob, &mut carol] {
        c.expect_roster("chrome", Duration::from_secs(30), |u| !u.is_empty());
    }
    let firefox = Browser::firefox(&lan.alice, &peer_page(&format!("hub={}&name=firefox&call=bob,carol,chrome", hub.url)));
    for c in [&mut bob, &mut carol] {
        if c.wait(Duration::from_secs(30), &|e| e["event"] == "call" && e["state"] == "connected").is_none() {
            panic!("{} never connected; Firefox's log:\n{}\n{}", c.name, firefox.log_tail(30), c.log_tail(30));
        }
    }
    for (c, others) in [(&mut bob, ["carol", "chrome", "firefox"]), (&mut carol, ["bob", "chrome", "firefox"])] {
        let s = c.expect("everyone's video", Duration::from_secs(30), |e| {
            e["event"] == "stats" && others.iter().all(|o| termcall_tests::participant(e, o).is_some_and(|p| p["video"]["frames_decoded"].as_u64() >= Some(30) && p["video"]["fps"].as_f64() >= Some(5.0)))
        });
        for o in others {
            let p = termcall_tests::participant(&s, o).unwrap();
            eprintln!("{} decodes {o}: {} fps, {} frames, {}", c.name, p["video"]["fps"], p["video"]["frames_decoded"], p["video"]["codec"]);
        }
    }
    for (name, b) in [("Firefox", &firefox), ("Chromium", &chromium)] {
        let s = b.expect_stats("all three others' video", Duration::from_secs(30), |s| s.get("video_streams") >= Some(&3) && s.get("fewest_frames") >= Some(&30) && s.get("audio_streams") >= Some(&3));
        eprintln!("{name} decodes everyone: {s:?}");
    }
    assert!(hub.log_text().contains("the room's video codec changes"), "the room moved to VP8 for Firefox");
    drop((firefox, chromium, bob, carol, hub));
}
