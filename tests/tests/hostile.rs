//! The issue's hostile-client test: 1,000 mixed bad inputs from many connections, and a
//! 10,000 msg/s flood, against a hub (default limits) carrying a call between two others.
//! The hub stays up, the flood is cut off, and the call chats on with nothing lost.

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::{http_get, Client, Hub, Raw, SOON};

/// Bad input number `n` of kind `kind` (kind 2, a binary frame, is sent apart).
fn bad_input(kind: usize, n: usize) -> String {
    match kind {
        0 => "{this is not json".to_owned(),
        1 => json!({"type":"call","to": "x".repeat(100 * 1024)}).to_string(),
        2 => String::new(),
        3 => json!({"type":"signal","call_id": n % 8,"from":"alice","signal":{"kind":"offer","sdp":"v=0"}}).to_string(),
        4 => json!({"type":"signal","call_id": n % 8,"signal":{"kind":"candidate","candidate":"candidate:1 1 udp 1 6.6.6.6 6 typ host"}}).to_string(),
        5 => {
            let verb = ["hangup", "accept", "decline"][n % 3];
            json!({"type": verb, "call_id": n % 8}).to_string()
        }
        6 => json!({"type":"launch_missiles","at":"everyone"}).to_string(),
        7 => json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":"alice"}).to_string(),
        8 => json!({"type":"call","to": 42}).to_string(),
        9 => "[".repeat(5000),
        10 => "\u{0}\u{1}\u{fffd}".repeat(50),
        _ => json!({"type":"call","to":"nobody-here"}).to_string(),
    }
}
const KINDS: usize = 12;

#[test]
fn a_thousand_bad_inputs_and_a_flood_leave_the_call_untouched() {
    let mut hub = Hub::start();
    let quiet = ["--video-size", "160x120", "--audio", "none"];
    let mut alice = Client::ready(&hub, "alice", &quiet);
    let mut bob = Client::ready(&hub, "bob", &[&quiet[..], &["--auto-accept"]].concat());
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    let mut chats = 0;
    let mut chat_round = |alice: &mut Client, bob: &mut Client| {
        alice.send(json!({"cmd":"chat","text": format!("a{chats}")}));
        bob.send(json!({"cmd":"chat","text": format!("b{chats}")}));
        chats += 1;
    };

    // 1,000 bad inputs: 40 per connection (under the default burst, so most are answered),
    // every kind in turn; some connections also break the rules before and during the hello.
    let started = Instant::now();
    let mut sent = 0;
    let mut answers = 0;
    let mut connection = 0;
    while sent < 1000 {
        connection += 1;
        let name = format!("mallory{connection}");
        let mut m = match connection % 5 {
            // Speaks before saying hello, then says a bad one, then a good one.
            0 => {
                let mut raw = Raw::connect(&hub.url);
                raw.send_json(&json!({"type":"call","to":"alice"}));
                raw.send_json(&json!({"type":"hello","version":99,"name":name}));
                sent += 2;
                let mut raw2 = Raw::connect(&hub.url);
                raw2.send_json(&json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":"bad name!"}));
                sent += 1;
                let (r, _) = Raw::hello(&hub.url, &name);
                r
            }
            _ => Raw::hello(&hub.url, &name).0,
        };
        for k in 0..40 {
            let text = bad_input((sent + k) % KINDS, sent + k);
            let ok = if (sent + k) % KINDS == 2 { m.send_binary(&[0xde, 0xad, 0xbe, 0xef]) } else { m.send_text(&text) };
            assert!(ok.is_ok(), "a bad input closed the connection by itself");
        }
        sent += 40;
        // Read what came back: errors, never a signal or anything about alice and bob's call.
        while let Some(reply) = m.try_next(Duration::from_millis(30)) {
            let unknown_callee = reply["type"] == "call_ended" && reply["reason"] == "unknown_user";
            assert!(reply["type"] == "error" || reply["type"] == "roster" || unknown_callee, "unexpected answer to garbage: {reply}");
            answers += 1;
        }
        if connection % 5 == 4 {
            // A frame over the hard limit ends this connection (and only this one).
            let _ = m.send_text(&"y".repeat(2 * 1024 * 1024));
            sent += 1;
            assert!(m.closed_within(SOON), "an over-limit frame closes the connection");
        }
        chat_round(&mut alice, &mut bob);
    }
    eprintln!("{sent} bad inputs on {connection} connections in {:?}; {answers} answers", started.elapsed());
    assert!(answers > 500, "most bad inputs are answered with an error: {answers}");

    // A flood at 10,000 messages a second, paced, bounded to 10,000 messages.
    let (mut flood, _) = Raw::hello(&hub.url, "flooder");
    let t0 = Instant::now();
    let mut flooded = 0;
    'flood: for batch in 0..100 {
        for _ in 0..100 {
            if flood.send_text(r#"{"type":"call","to":"bob"}"#).is_err() {
                break 'flood;
            }
            flooded += 1;
        }
        let due = t0 + Duration::from_millis(10 * (batch + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    eprintln!("the flooder sent {flooded} messages in {:?}", t0.elapsed());
    assert!(flooded < 10_000 || flood.closed_within(SOON), "the flood was not cut off");
    chat_round(&mut alice, &mut bob);

    // The hub is up and healthy, and someone new can join.
    assert!(hub.alive(), "the hub died");
    assert!(http_get(&hub.addr, "/healthz").contains("200 OK"));
    let (_carol, welcome) = Raw::hello(&hub.url, "carol");
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // Nothing lost: every chat line arrived, in order, and the call never ended.
    for (rx, prefix) in [(&mut bob, "a"), (&mut alice, "b")] {
        let want: Vec<String> = (0..chats).map(|i| format!("{prefix}{i}")).collect();
        let last = want.last().unwrap().clone();
        rx.expect_seen("the last chat line", SOON, |e| e["event"] == "chat" && e["text"] == last.as_str());
        let got: Vec<String> = rx.seen.iter().filter(|e| e["event"] == "chat").map(|e| e["text"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, want, "{}'s chat", rx.name);
        assert!(!rx.seen.iter().any(|e| e["event"] == "call" && e["state"] == "ended"), "{}: the call went on", rx.name);
    }
    eprintln!("{chats} chat lines each way, all delivered in order");
}
