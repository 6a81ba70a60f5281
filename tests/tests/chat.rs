//! Chat over the data channel: many messages each way, all delivered, in order, once.

use std::time::Duration;

use serde_json::json;
use termcall_tests::{Client, Hub, SOON};

const N: usize = 200;

#[test]
fn two_hundred_messages_each_way_arrive_in_order_once() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    // Interleave both directions, as a conversation would.
    for i in 0..N {
        alice.send(json!({"cmd":"chat","text": format!("a→b {i} ünïcödé ✓")}));
        bob.send(json!({"cmd":"chat","text": format!("b→a {i}")}));
    }
    for (rx, from, prefix) in [(&mut bob, "alice", "a→b"), (&mut alice, "bob", "b→a")] {
        let last = format!("{prefix} {}", N - 1);
        rx.expect("the last message", Duration::from_secs(20), |e| e["event"] == "chat" && e["text"].as_str().is_some_and(|t| t.starts_with(&last)));
        rx.idle(Duration::from_millis(300)); // anything duplicated would show up now
        let got: Vec<String> = rx
            .seen
            .iter()
            .filter(|e| e["event"] == "chat")
            .map(|e| {
                assert_eq!(e["from"], from);
                e["text"].as_str().unwrap().to_owned()
            })
            .collect();
        let want: Vec<String> =
            (0..N).map(|i| if prefix == "a→b" { format!("{prefix} {i} ünïcödé ✓") } else { format!("{prefix} {i}") }).collect();
        assert_eq!(got.len(), N, "{} got {} of {N}", rx.name, got.len());
        assert_eq!(got, want, "in order, none duplicated");
    }
}

#[test]
fn chat_sent_while_connecting_is_not_lost() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connecting", SOON);
    alice.send(json!({"cmd":"chat","text":"early bird"}));
    bob.expect("the early message", SOON, |e| e["event"] == "chat" && e["text"] == "early bird");
}

#[test]
fn oversized_chat_is_refused_before_sending() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob online", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    alice.send(json!({"cmd":"chat","text": "x".repeat(17 * 1024)}));
    alice.expect("too_large", SOON, |e| e["event"] == "error" && e["code"] == "too_large");
    alice.send(json!({"cmd":"chat","text":"small"}));
    bob.expect("the small one", SOON, |e| e["event"] == "chat" && e["text"] == "small");
    assert_eq!(bob.seen.iter().filter(|e| e["event"] == "chat").count(), 1);
}
