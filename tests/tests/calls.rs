//! Calls: connect peer to peer, decline, busy, unknown user, hang up, vanish.

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::{Client, Hub, SOON};

/// alice calls bob, bob accepts; returns the time from `call` to both `connected`.
fn connect(alice: &mut Client, bob: &mut Client) -> Duration {
    alice.expect_roster("bob online", SOON, |u| u.iter().any(|x| x["name"] == bob.name.as_str()));
    let started = Instant::now();
    alice.send(json!({"cmd":"call","to": bob.name}));
    let ringing = alice.expect_call("ringing", SOON);
    assert_eq!(ringing["peer"], bob.name.as_str());
    let incoming = bob.expect("incoming", SOON, |e| e["event"] == "incoming");
    assert_eq!(incoming["from"], alice.name.as_str());
    bob.send(json!({"cmd":"accept"}));
    for c in [&mut *alice, &mut *bob] {
        c.expect_call("connecting", SOON);
        let connected = c.expect_call("connected", Duration::from_secs(3));
        assert_eq!(connected["path"], "p2p", "{connected}");
    }
    started.elapsed()
}

#[test]
fn call_accept_connects_peer_to_peer_within_three_seconds() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &[]);
    let took = connect(&mut alice, &mut bob);
    eprintln!("call setup: {} ms", took.as_millis());
    assert!(took < Duration::from_secs(3), "call setup took {took:?}");
    // Both show in_call to a third party.
    let mut carol = Client::ready(&hub, "carol", &[]);
    carol.expect_roster("both in_call", SOON, |u| u.iter().filter(|x| x["state"] == "in_call").count() == 2);
}

#[test]
fn decline_ends_the_call_on_both_sides() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &[]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    bob.expect("incoming", SOON, |e| e["event"] == "incoming");
    bob.send(json!({"cmd":"decline"}));
    let ended = alice.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "declined");
    assert_eq!(bob.expect_call("ended", SOON)["reason"], "declined");
    // Both are free again: bob can call alice.
    alice.expect_roster_now("bob idle", SOON, |u| u[0]["state"] == "idle");
    bob.send(json!({"cmd":"call","to":"alice"}));
    alice.expect("incoming from bob", SOON, |e| e["event"] == "incoming" && e["from"] == "bob");
}

#[test]
fn busy_and_unknown_user() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    let mut carol = Client::ready(&hub, "carol", &[]);
    alice.expect_roster("everyone online", SOON, |u| u.len() == 2);
    connect_auto(&mut alice, &mut bob);
    carol.send(json!({"cmd":"call","to":"alice"}));
    let ended = carol.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "busy", "{ended}");
    carol.expect("busy error", SOON, |e| e["event"] == "error" && e["code"] == "busy");
    carol.send(json!({"cmd":"call","to":"nobody"}));
    assert_eq!(carol.expect_call("ended", SOON)["reason"], "unknown_user");
    carol.expect("unknown_user error", SOON, |e| e["event"] == "error" && e["code"] == "unknown_user");
    // alice was never disturbed.
    alice.idle(Duration::from_millis(300));
    assert!(!alice.seen.iter().any(|e| e["event"] == "incoming"), "alice saw no incoming call: {:?}", alice.seen);
    alice.send(json!({"cmd":"chat","text":"still here"}));
    bob.expect("chat", SOON, |e| e["event"] == "chat" && e["text"] == "still here");
}

/// alice calls bob, who has --auto-accept; both must be online already.
fn connect_auto(alice: &mut Client, bob: &mut Client) {
    alice.send(json!({"cmd":"call","to": bob.name}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);
}

#[test]
fn hangup_by_either_side_ends_the_call_on_the_other_within_two_seconds() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    for (hanger_is_alice, round) in [(true, 1), (false, 2)] {
        connect_auto(&mut alice, &mut bob);
        let (hanger, other) = if hanger_is_alice { (&mut alice, &mut bob) } else { (&mut bob, &mut alice) };
        hanger.send(json!({"cmd":"hangup"}));
        let t = Instant::now();
        assert_eq!(hanger.expect_call("ended", SOON)["reason"], "hangup");
        let ended = other.expect_call("ended", Duration::from_secs(2));
        assert_eq!(ended["reason"], "peer_hangup");
        eprintln!("round {round}: hangup reached the other side in {} ms", t.elapsed().as_millis());
        alice.expect_roster_now("idle again", SOON, |u| u[0]["state"] == "idle");
    }
}

#[test]
fn a_killed_peer_ends_the_call_within_two_seconds() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    connect_auto(&mut alice, &mut bob);
    bob.kill9();
    let t = Instant::now();
    let ended = alice.expect_call("ended", Duration::from_secs(2));
    assert_eq!(ended["reason"], "peer_gone");
    eprintln!("kill -9 reached the other side in {} ms", t.elapsed().as_millis());
    alice.expect_roster("bob gone", SOON, |u| u.is_empty());
}

#[test]
fn commands_that_do_not_fit_the_moment_get_errors() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    for (cmd, code) in [
        (json!({"cmd":"accept"}), "no_incoming_call"),
        (json!({"cmd":"decline"}), "no_incoming_call"),
        (json!({"cmd":"hangup"}), "not_in_call"),
        (json!({"cmd":"chat","text":"hello?"}), "not_in_call"),
        (json!({"cmd":"call","to":"alice"}), "self_call"),
    ] {
        alice.send(cmd.clone());
        alice.expect(&format!("{code} for {cmd}"), SOON, |e| e["event"] == "error" && e["code"] == code);
    }
}
