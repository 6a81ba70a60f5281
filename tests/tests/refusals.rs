//! What the hub refuses, and that refusing one client never disturbs the others.

use std::time::Duration;

use serde_json::json;
use termcall_tests::{Client, Hub, Raw, SOON};

#[test]
fn a_second_alice_is_refused_and_the_first_is_unaffected() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());

    let mut second = Client::start(&hub, "alice", &[]);
    let err = second.expect("name_taken", SOON, |e| e["event"] == "error");
    assert_eq!(err["code"], "name_taken", "{err}");
    let status = second.exit_status(SOON).expect("the refused client exits");
    assert_eq!(status.code(), Some(3), "a refused login exits with status 3");

    // The first alice is still online, still in bob's roster, and can call.
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    alice.send(json!({"cmd":"chat","text":"I am the real alice"}));
    bob.expect("chat from the first alice", SOON, |e| e["event"] == "chat" && e["from"] == "alice");
    assert!(!bob.seen.iter().any(|e| e["event"] == "roster" && e["users"].as_array().unwrap().is_empty()), "alice never left bob's roster");
}

#[test]
fn a_hostile_raw_client_gets_errors_while_a_call_keeps_chatting() {
    // This test wants an answer to each bad message, so the rate limit (tests/limits.rs) is raised.
    let hub = Hub::start_with(&["--rate-limit", "10000", "--rate-burst", "10000"]);
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    // Before hello, nothing but hello is taken.
    let mut early = Raw::connect(&hub.url);
    early.send_json(&json!({"type":"call","to":"alice"}));
    early.expect(SOON, |m| m["type"] == "error" && m["code"] == "not_registered");

    let (mut mallory, welcome) = Raw::hello(&hub.url, "mallory");
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let mut sent = 0;
    let chat_round = |alice: &mut Client, bob: &mut Client, sent: &mut usize| {
        alice.send(json!({"cmd":"chat","text": format!("a{sent}")}));
        bob.send(json!({"cmd":"chat","text": format!("b{sent}")}));
        *sent += 1;
    };

    mallory.send_text("{this is not json").unwrap();
    mallory.expect(SOON, |m| m["type"] == "error" && m["code"] == "bad_message");
    chat_round(&mut alice, &mut bob, &mut sent);

    let big = json!({"type":"call","to": "x".repeat(100 * 1024)}).to_string();
    mallory.send_text(&big).unwrap();
    let e = mallory.expect(SOON, |m| m["type"] == "error");
    assert_eq!(e["code"], "too_large", "{e}");
    chat_round(&mut alice, &mut bob, &mut sent);

    mallory.send_binary(&[0, 1, 2, 3]).unwrap();
    mallory.expect(SOON, |m| m["type"] == "error" && m["code"] == "bad_message");

    // Signals into the alice–bob call (ids are small numbers: try them all), with and without a forged `from`.
    for call_id in 0..10 {
        mallory.send_json(&json!({"type":"signal","call_id":call_id,"signal":{"kind":"offer","sdp":"v=0"}}));
        let e = mallory.expect(SOON, |m| m["type"] == "error");
        assert_eq!(e["code"], "not_in_call", "{e}");
        mallory.send_json(&json!({"type":"signal","call_id":call_id,"from":"alice","signal":{"kind":"end_of_candidates"}}));
        mallory.expect(SOON, |m| m["type"] == "error" && m["code"] == "bad_message");
        for verb in ["hangup", "accept", "decline"] {
            mallory.send_json(&json!({"type": verb, "call_id": call_id}));
            mallory.expect(SOON, |m| m["type"] == "error" && m["code"] == "not_in_call");
        }
        chat_round(&mut alice, &mut bob, &mut sent);
    }
    // A second hello on a registered connection is refused too.
    mallory.send_json(&json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":"alice"}));
    mallory.expect(SOON, |m| m["type"] == "error" && m["code"] == "bad_message");

    // A frame over the hard limit closes that connection, and only that one.
    let huge = "y".repeat(2 * 1024 * 1024);
    let _ = mallory.send_text(&huge);
    assert!(mallory.closed_within(SOON), "an over-limit frame closes the connection");
    chat_round(&mut alice, &mut bob, &mut sent);

    // Everything the two said arrived, in order, and their call never ended.
    for (rx, prefix) in [(&mut bob, "a"), (&mut alice, "b")] {
        let want: Vec<String> = (0..sent).map(|i| format!("{prefix}{i}")).collect();
        let last = want.last().unwrap().clone();
        rx.expect("the last chat", SOON, |e| e["event"] == "chat" && e["text"] == last.as_str());
        let got: Vec<String> = rx.seen.iter().filter(|e| e["event"] == "chat").map(|e| e["text"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, want);
        assert!(!rx.seen.iter().any(|e| e["event"] == "call" && e["state"] == "ended"), "the call went on");
    }
    let _ = Duration::ZERO;
}

#[test]
fn bad_hellos_are_refused_with_their_reason() {
    let hub = Hub::start();
    for (hello, code) in [
        (json!({"type":"hello","version":99,"name":"zed"}), "bad_version"),
        (json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":"no spaces"}), "bad_name"),
        (json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION}), "bad_message"),
    ] {
        let mut r = Raw::connect(&hub.url);
        r.send_json(&hello);
        let e = r.expect(SOON, |m| m["type"] == "error");
        assert_eq!(e["code"], code, "{hello} → {e}");
    }
}
