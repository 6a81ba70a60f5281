//! NAT traversal through the hub's embedded TURN server: a call forced onto the relay on
//! loopback (and one through coturn, with credentials from the hub's `--turn-secret`), a call whose direct UDP is blocked between network namespaces (it falls back to
//! the relay by itself), and a p2p call that loses its path mid-call and moves to the relay
//! with no chat lost.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use termcall_tests::coturn::Coturn;
use termcall_tests::netns::{self, Lan, LAN_ALICE, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{chat_both_ways, Client, Hub, SOON};

/// Both registered, alice sees bob, alice calls; returns when both are connected, with
/// alice's connected event.
fn call(alice: &mut Client, bob: &mut Client, within: Duration) -> Value {
    for c in [&mut *alice, &mut *bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    let connected = alice.expect_call("connected", within);
    bob.expect_call("connected", within);
    connected
}

/// The newest stats line after `wait` has passed.
fn stats_after(c: &mut Client, wait: Duration) -> Value {
    let until = Instant::now() + wait;
    let mut last = c.expect("stats", SOON, |e| e["event"] == "stats");
    while Instant::now() < until {
        last = c.expect("stats", SOON, |e| e["event"] == "stats");
    }
    last
}

#[test]
fn relay_always_on_loopback_carries_video_and_chat() {
    // Loopback peers are refused by default; this test's peers are on loopback.
    let hub = Hub::start_with(&["--allow-peer", "127.0.0.0/8"]);
    let args = ["--relay", "always", "--video-size", "320x240"];
    let mut alice = Client::start(&hub, "alice", &args);
    let mut bob = Client::start(&hub, "bob", &[&args[..], &["--auto-accept"]].concat());
    let started = Instant::now();
    let connected = call(&mut alice, &mut bob, Duration::from_secs(10));
    eprintln!("relayed call connected in {:?}", started.elapsed());
    assert_eq!(connected["path"], "relay", "{connected}");
    let s = stats_after(&mut bob, Duration::from_secs(3));
    assert_eq!(s["path"], "relay", "{s}");
    let frames = s["video"]["frames_decoded"].as_u64().unwrap();
    assert!(frames >= 36, "bob decoded {frames} frames in 3 s through the relay: {s}");
    chat_both_ways(&mut alice, &mut bob, "relayed");

    let allocations = hub.metric("termcall_turn_allocations_active").unwrap_or(0.0);
    let relayed = hub.metric("termcall_turn_relayed_bytes_total").unwrap_or(0.0);
    eprintln!("hub metrics: {allocations} allocations, {relayed} bytes relayed");
    assert!(allocations >= 1.0, "the hub counts the allocations");
    assert!(relayed > 100_000.0, "the hub counts relayed bytes: {relayed}");
}

#[test]
fn relay_always_through_coturn_with_the_hubs_turn_secret() {
    let secret = "shared-with-coturn";
    let coturn = Coturn::start(secret);
    let turn_url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    // No embedded TURN: coturn is the only relay, and its credentials come from the hub.
    let hub = Hub::start_with(&["--no-turn", "--turn-secret", secret, "--ice-server", &turn_url]);
    let args = ["--relay", "always", "--video-size", "320x240"];
    let mut alice = Client::start(&hub, "alice", &args);
    let mut bob = Client::start(&hub, "bob", &[&args[..], &["--auto-accept"]].concat());
    let connected = call(&mut alice, &mut bob, Duration::from_secs(10));
    assert_eq!(connected["path"], "relay", "{connected}");
    for (who, c) in [("alice", &mut alice), ("bob", &mut bob)] {
        let s = stats_after(c, Duration::from_secs(3));
        let frames = s["video"]["frames_decoded"].as_u64().unwrap_or(0);
        eprintln!("{who} decoded {frames} frames through coturn: path {}", s["path"]);
        assert_eq!(s["path"], "relay", "{s}");
        assert!(frames >= 36, "{who} decoded {frames} frames in 3 s through coturn: {s}");
    }
    chat_both_ways(&mut alice, &mut bob, "through coturn");
    let log = coturn.log_text();
    let allocations = log.lines().filter(|l| l.contains("ALLOCATE processed, success")).count();
    let users: Vec<&str> = log.lines().filter(|l| l.contains("ALLOCATE processed, success")).filter_map(|l| l.split("user <").nth(1)?.split('>').next()).collect();
    eprintln!("coturn allocations: {allocations}, for {users:?}");
    assert!(allocations >= 2, "coturn's log shows no allocations for both:\n{log}");
    assert!(users.iter().any(|u| u.ends_with(":alice")) && users.iter().any(|u| u.ends_with(":bob")), "{users:?}");
}

#[test]
fn relay_always_without_a_turn_server_says_why() {
    let hub = Hub::start_with(&["--no-turn"]);
    // Only alice insists on the relay, so that hers is the failure that ends the call.
    let mut alice = Client::start(&hub, "alice", &["--relay", "always"]);
    let mut bob = Client::start(&hub, "bob", &["--auto-accept"]);
    for c in [&mut alice, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    let err = alice.expect("an error", SOON, |e| e["event"] == "error" && e["code"] == "media_failed");
    assert!(err["message"].as_str().unwrap().contains("TURN"), "{err}");
    alice.expect_call("ended", SOON);
    bob.expect_call("ended", SOON);
}

/// A hub and two clients on the test LAN, all gathering on their LAN address.
fn lan_call(lan: &Lan) -> (Hub, Client, Client) {
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    let args = ["--video-size", "320x240"];
    let alice = Client::start_in(Some(&lan.alice), LAN_ALICE, &hub.url, "alice", &args);
    let bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &[&args[..], &["--auto-accept"]].concat());
    (hub, alice, bob)
}

#[test]
fn blocked_direct_udp_falls_back_to_the_relay_and_open_udp_stays_p2p() {
    netns::available().expect("this test makes network namespaces");

    // Direct UDP dropped between alice and bob: the relay, within 5 s.
    let lan = Lan::new("rly").expect("test LAN");
    lan.block_alice_bob().expect("drop rule");
    let (hub, mut alice, mut bob) = lan_call(&lan);
    let started = Instant::now();
    let connected = call(&mut alice, &mut bob, Duration::from_secs(5));
    eprintln!("blocked: connected via {} in {:?}", connected["path"], started.elapsed());
    assert_eq!(connected["path"], "relay", "{connected}");
    let s = stats_after(&mut bob, Duration::from_secs(3));
    assert!(s["video"]["frames_decoded"].as_u64().unwrap() >= 36, "video flows through the relay: {s}");
    chat_both_ways(&mut alice, &mut bob, "around the firewall");
    drop((alice, bob, hub));
    drop(lan);

    // The same LAN without the rule: direct.
    let lan = Lan::new("p2p").expect("test LAN");
    let (hub, mut alice, mut bob) = lan_call(&lan);
    let connected = call(&mut alice, &mut bob, Duration::from_secs(5));
    assert_eq!(connected["path"], "p2p", "{connected}");
    chat_both_ways(&mut alice, &mut bob, "direct");
    drop((alice, bob, hub));
}

#[test]
fn a_path_lost_mid_call_moves_to_the_relay_and_no_chat_is_lost() {
    netns::available().expect("this test makes network namespaces");
    let lan = Lan::new("brk").expect("test LAN");
    let (hub, mut alice, mut bob) = lan_call(&lan);
    let connected = call(&mut alice, &mut bob, Duration::from_secs(5));
    assert_eq!(connected["path"], "p2p", "{connected}");
    chat_both_ways(&mut alice, &mut bob, "before");

    lan.block_alice_bob().expect("drop rule");
    let broke = Instant::now();
    // Chat every half second from both sides until alice is back, on the relay.
    let mut sent = 0;
    let back = loop {
        assert!(broke.elapsed() < Duration::from_secs(10), "not back on the relay 10 s after the break; alice: {}", alice.log_tail(30));
        alice.send(json!({"cmd":"chat","text": format!("outage {sent}")}));
        bob.send(json!({"cmd":"chat","text": format!("reply {sent}")}));
        sent += 1;
        let back = alice.wait(Duration::from_millis(500), &|e| e["event"] == "call" && e["state"] == "connected" && e["path"] == "relay");
        if let Some(e) = back {
            break e;
        }
    };
    eprintln!("back on the relay {:?} after the break, {sent} lines each way sent meanwhile: {back}", broke.elapsed());
    assert!(alice.seen.iter().any(|e| e["event"] == "call" && e["state"] == "reconnecting"), "alice was told of the reconnection");
    for (c, prefix) in [(&mut bob, "outage"), (&mut alice, "reply")] {
        let last = format!("{prefix} {}", sent - 1);
        c.expect_seen("the last line sent in the outage", Duration::from_secs(20), |e| e["event"] == "chat" && e["text"] == last.as_str());
        let got: Vec<String> =
            c.seen.iter().filter(|e| e["event"] == "chat" && e["text"].as_str().unwrap().starts_with(prefix)).map(|e| e["text"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = (0..sent).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(got, want, "{}: every line sent during the outage, in order", c.name);
    }
    let s = stats_after(&mut bob, Duration::from_secs(2));
    assert!(s["video"]["fps"].as_f64().unwrap() >= 10.0, "video flows again, on the relay: {s}");
    chat_both_ways(&mut alice, &mut bob, "after");
    drop((alice, bob, hub));
}
