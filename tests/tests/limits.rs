//! The hub's connection limits, from outside: a flooding client is rate-limited and then cut
//! off while a call between two others goes on; browsers from origins not on the allow-list
//! are refused; connections past `--max-connections` get 503.

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::{Client, Hub, Raw, SOON};

#[test]
fn a_flood_is_cut_off_and_the_call_beside_it_goes_on() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &["--video", "none", "--audio", "none"]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept", "--video", "none", "--audio", "none"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    // Over the rate, briefly: told, not cut off.
    let (mut eager, _) = Raw::hello(&hub.url, "eager");
    for _ in 0..100 {
        eager.send_text(r#"{"type":"call","to":"nobody"}"#).expect("still connected");
    }
    let told = eager.expect(SOON, |m| m["type"] == "error" && m["code"] == "rate_limited");
    eprintln!("over the rate: {told}");
    assert!(!eager.closed_within(Duration::from_millis(300)), "a short burst is not a reason to disconnect");

    let (mut mallory, _) = Raw::hello(&hub.url, "mallory");
    let started = Instant::now();
    let mut sent = 0;
    // 10,000 calls to bob as fast as the socket takes them (bounded: stops when cut off).
    for _ in 0..10_000 {
        if mallory.send_text(r#"{"type":"call","to":"bob"}"#).is_err() {
            break;
        }
        sent += 1;
    }
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    eprintln!("mallory sent {sent} messages at {rate:.0}/s before being cut off");
    assert!(sent < 10_000 || mallory.closed_within(SOON), "the flooder was not disconnected");
    let deadline = Instant::now() + SOON;
    while !hub.log_text().contains("flooding past the rate limit: disconnecting") {
        assert!(Instant::now() < deadline, "the hub did not log cutting the flooder off");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The call and the hub are fine: chat both ways, and someone new can still join.
    alice.send(json!({"cmd":"chat","text":"still here?"}));
    bob.expect_seen("alice's line", SOON, |e| e["event"] == "chat" && e["text"] == "still here?");
    bob.send(json!({"cmd":"chat","text":"yes"}));
    alice.expect_seen("bob's line", SOON, |e| e["event"] == "chat" && e["text"] == "yes");
    assert!(alice.seen.iter().all(|e| e["event"] != "call" || e["state"] != "ended"), "the call survived");
    let (_carol, welcome) = Raw::hello(&hub.url, "carol");
    assert_eq!(welcome["type"], "welcome", "{welcome}");
}

#[test]
fn only_allowed_origins_open_the_websocket() {
    let hub = Hub::start_with(&["--allow-origin", "https://team.example.org"]);
    assert!(Raw::try_connect(&hub.url, Some("https://team.example.org")).is_ok());
    assert!(Raw::try_connect(&hub.url, None).is_ok(), "a native client sends no Origin");
    let refused = Raw::try_connect(&hub.url, Some("https://evil.example")).err();
    assert_eq!(refused.as_deref(), Some("HTTP 403"));
}

#[test]
fn connections_past_the_maximum_get_503_and_a_freed_slot_is_reused() {
    let hub = Hub::start_with(&["--max-connections", "2"]);
    let first = Raw::try_connect(&hub.url, None).expect("first");
    let _second = Raw::try_connect(&hub.url, None).expect("second");
    assert_eq!(Raw::try_connect(&hub.url, None).err().as_deref(), Some("HTTP 503"));
    drop(first);
    let deadline = Instant::now() + SOON;
    while Raw::try_connect(&hub.url, None).is_err() {
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_participant_that_never_answers_the_hubs_offer_is_taken_out() {
    let hub = Hub::start();
    let (mut mute, _) = Raw::hello(&hub.url, "mute");
    mute.send_json(&json!({"type":"call","to":"echo"}));
    let offer = mute.expect(SOON, |m| m["type"] == "signal");
    eprintln!("the hub offered: {}", &offer.to_string()[..80.min(offer.to_string().len())]);
    assert_eq!(hub.metric("termcall_sfu_peers"), Some(1.0));
    // No answer: after 20 s the hub gives up on this participant, and says why.
    let why = mute.expect(Duration::from_secs(30), |m| m["type"] == "error");
    assert!(why["message"].as_str().unwrap_or("").contains("did not answer the hub's media offer within 20 s"), "{why}");
    mute.expect(SOON, |m| m["type"] == "call_ended");
    assert_eq!(hub.metric("termcall_sfu_peers"), Some(0.0), "its peer connection is closed");
    // And it may call again.
    mute.send_json(&json!({"type":"call","to":"echo"}));
    mute.expect(SOON, |m| m["type"] == "signal");
}

#[test]
fn media_peers_past_the_limit_are_refused_with_a_reason() {
    let hub = Hub::start_with(&["--max-media-peers", "1"]);
    let (mut first, _) = Raw::hello(&hub.url, "first");
    first.send_json(&json!({"type":"call","to":"echo"}));
    first.expect(SOON, |m| m["type"] == "signal");
    let (mut second, _) = Raw::hello(&hub.url, "second");
    second.send_json(&json!({"type":"call","to":"echo"}));
    let why = second.expect(SOON, |m| m["type"] == "error");
    assert!(why["message"].as_str().unwrap_or("").contains("media endpoint is full (1 connections, --max-media-peers)"), "{why}");
    second.expect(SOON, |m| m["type"] == "call_ended");
    assert_eq!(hub.metric("termcall_sfu_peers_refused_total"), Some(1.0));
    assert_eq!(hub.metric("termcall_sfu_peers"), Some(1.0), "the first one's connection is untouched");
    // Once the first hangs up, there is room again.
    first.close();
    let deadline = Instant::now() + SOON;
    while hub.metric("termcall_sfu_peers") != Some(0.0) {
        assert!(Instant::now() < deadline, "the first one's place was not given back");
        std::thread::sleep(Duration::from_millis(50));
    }
    second.send_json(&json!({"type":"call","to":"echo"}));
    second.expect(SOON, |m| m["type"] == "signal");
}
