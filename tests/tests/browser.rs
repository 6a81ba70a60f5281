//! A real browser as the other party: Debian's headless Chromium (`tests/web/peer.html`) and a
//! headless termcall client on two test hosts of one LAN that reach each other directly, the
//! hub on a third (network namespaces on a bridge), its TURN server open to the LAN
//! (`--allow-peer`), so that the relay is a real alternative ICE could choose.
//! Calls in a row, each way: every one must end up on the direct path (never stay on the relay
//! when a direct one exists), and connect quickly. When Chromium controls ICE it sometimes
//! nominates a relayed pair first and the direct one a moment later; termcall must follow (the
//! last test makes that happen on purpose). The tests take turns: Chromium and the media need
//! the two cores.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::browser::{peer_page, Browser};
use termcall_tests::netns::{self, Lan, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{Client, Hub, SOON};

static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Calls in a row, each way.
fn calls() -> usize {
    std::env::var("BROWSER_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints and checks `connect` (ms) and `relayed` for `label`.
fn judge(label: &str, mut connect_ms: Vec<f64>, relayed: usize) {
    connect_ms.sort_by(f64::total_cmp);
    let (p50, p95, max) = (percentile(&connect_ms, 0.5), percentile(&connect_ms, 0.95), connect_ms[connect_ms.len() - 1]);
    eprintln!("{label}: {} calls, {relayed} relayed; connect p50 {p50:.0} ms, p95 {p95:.0} ms, max {max:.0} ms", connect_ms.len());
    assert_eq!(relayed, 0, "{label}: {relayed} of {} calls stayed on the relay though a direct path exists", connect_ms.len());
    assert!(p50 <= 500.0, "{label}: connect p50 {p50:.0} ms");
}

fn setup() -> (Lan, Hub, std::path::PathBuf) {
    netns::available().expect("this test makes network namespaces");
    Browser::available().expect("this test runs Chromium");
    let lan = Lan::new("web").expect("test hosts");
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    (lan, hub, termcall_tests::media::noisy_clip(320, 240, 30))
}

#[test]
fn chromium_calls_termcall_again_and_again_and_every_call_is_direct() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, clip) = setup();
    let n = calls();
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240"]);
    bob.expect("ready", SOON, |e| e["event"] == "ready");
    let browser = Browser::chromium(&lan.alice, &peer_page(&format!("hub={}&name=chrome&call=bob&repeat={n}", hub.url)), &clip);
    let (mut connect_ms, mut relayed) = (Vec::new(), 0);
    for i in 0..n {
        let Some(_) = bob.wait(Duration::from_secs(20), &|e| e["event"] == "incoming") else {
            panic!("call {i}: Chromium never called; its log:\n{}", browser.log_tail(30));
        };
        let rang = Instant::now();
        let Some(connected) = bob.wait(Duration::from_secs(10), &|e| e["event"] == "call" && e["state"] == "connected") else {
            panic!("call {i} never connected; Chromium's log:\n{}\nbob's:\n{}", browser.log_tail(30), bob.log_tail(30));
        };
        connect_ms.push(rang.elapsed().as_secs_f64() * 1000.0);
        if connected["path"] != "p2p" {
            // Chromium sometimes nominates a relayed pair first and the direct one a moment
            // later: termcall must follow it there.
            let moved = bob.wait(Duration::from_secs(3), &|e| e["event"] == "call" && e["state"] == "connected" && e["path"] == "p2p");
            eprintln!("call {i}: connected on {}, {}", connected["path"], if moved.is_some() { "then moved to the direct path" } else { "and stayed there" });
            relayed += usize::from(moved.is_none());
        }
        bob.send(json!({"cmd":"hangup"}));
        bob.expect_call("ended", SOON);
    }
    judge("Chromium calls termcall", connect_ms, relayed);
}

#[test]
fn termcall_calls_chromium_again_and_again_and_every_call_is_direct() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, clip) = setup();
    let n = calls();
    let mut alice = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "alice", &["--video-size", "320x240"]);
    alice.expect("ready", SOON, |e| e["event"] == "ready");
    let browser = Browser::chromium(&lan.alice, &peer_page(&format!("hub={}&name=chrome&answer=1", hub.url)), &clip);
    alice.expect_roster("chrome online", Duration::from_secs(20), |u| u.iter().any(|x| x["name"] == "chrome"));
    let (mut connect_ms, mut relayed) = (Vec::new(), 0);
    for i in 0..n {
        let placed = Instant::now();
        alice.send(json!({"cmd":"call","to":"chrome"}));
        let Some(connected) = alice.wait(Duration::from_secs(10), &|e| e["event"] == "call" && e["state"] == "connected") else {
            panic!("call {i} never connected; Chromium's log:\n{}\nalice's:\n{}", browser.log_tail(30), alice.log_tail(30));
        };
        connect_ms.push(placed.elapsed().as_secs_f64() * 1000.0);
        if connected["path"] != "p2p" {
            // termcall controls ICE here: it nominates, and must never choose the relay.
            relayed += 1;
            eprintln!("call {i}: {connected}");
        }
        alice.send(json!({"cmd":"hangup"}));
        alice.expect_call("ended", SOON);
        // The page closes its side when the hub tells it; give it that moment.
        std::thread::sleep(Duration::from_millis(200));
    }
    judge("termcall calls Chromium", connect_ms, relayed);
}

#[test]
fn when_chromium_nominates_the_direct_path_late_termcall_follows_it() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (lan, hub, clip) = setup();
    // No direct path at first: the call can only connect through the hub's TURN server.
    lan.block_alice_bob().expect("drop rule");
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240"]);
    bob.expect("ready", SOON, |e| e["event"] == "ready");
    let browser = Browser::chromium(&lan.alice, &peer_page(&format!("hub={}&name=chrome&call=bob", hub.url)), &clip);
    let Some(first) = bob.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected") else {
        panic!("the call never connected; Chromium's log:\n{}\nbob's:\n{}", browser.log_tail(30), bob.log_tail(30));
    };
    assert_eq!(first["path"], "relay", "with UDP between them dropped: {first}");
    // The direct path opens: Chromium's checks on it succeed, it nominates that pair (of higher
    // priority), and termcall must move its media there.
    lan.unblock_alice_bob().expect("lift the rule");
    let opened = Instant::now();
    let moved = bob.wait(Duration::from_secs(20), &|e| (e["event"] == "call" && e["state"] == "connected" && e["path"] == "p2p") || (e["event"] == "stats" && e["path"] == "p2p"));
    assert!(moved.is_some(), "termcall stayed on the relay after Chromium nominated the direct pair; bob's log:\n{}", bob.log_tail(30));
    eprintln!("on the direct path {:?} after it opened", opened.elapsed());
    let s = bob.expect("stats on the direct path", Duration::from_secs(5), |e| e["event"] == "stats" && e["video"]["fps"].as_f64() >= Some(5.0));
    assert_eq!(s["path"], "p2p", "{s}");
}
