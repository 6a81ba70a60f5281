//! Group calls through the hub's SFU: four people, one leaving, a fifth invited.
//! (A file of its own: its five clients must not share the two cores with another media test.)

use std::time::Duration;

use serde_json::{json, Value};
use termcall_tests::{participant, Client, Hub, SOON};

/// The newest stats event of `c` after its events so far, once `pred` holds for it.
fn stats_until(c: &mut Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    c.expect(what, Duration::from_secs(15), |e| e["event"] == "stats" && pred(e))
}

fn decodes_all(stats: &Value, others: &[&str], fps: f64) -> bool {
    others.iter().all(|n| participant(stats, n).is_some_and(|p| p["video"]["fps"].as_f64() >= Some(fps)))
}

#[test]
fn four_in_a_group_call_see_and_hear_each_other_and_a_fifth_joins_by_invite() {
    let hub = Hub::start();
    let small = ["--video-size", "320x240"];
    let names = ["alice", "bob", "carol", "dave"];
    let mut clients: Vec<Client> = names
        .iter()
        .map(|n| {
            let mut args = small.to_vec();
            if *n != "alice" {
                args.push("--auto-accept");
            }
            Client::ready(&hub, n, &args)
        })
        .collect();
    clients[0].expect_roster_now("all online", SOON, |u| ["bob", "carol", "dave"].iter().all(|n| u.iter().any(|x| x["name"] == *n)));
    clients[0].send(json!({"cmd":"call","to":["bob","carol","dave"]}));
    for c in clients.iter_mut() {
        c.expect_call("connected", SOON);
    }
    // Each decodes the three others at 10 fps or more.
    for (i, c) in clients.iter_mut().enumerate() {
        let others: Vec<&str> = names.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| *n).collect();
        let s = stats_until(c, "three streams at 10 fps", |e| decodes_all(e, &others, 10.0));
        assert_eq!(s["path"], "hub");
        assert_eq!(s["participants"].as_array().map(Vec::len), Some(3), "{s}");
    }
    // The roster shows who is in which call.
    clients[0].expect_roster_now("everyone in one call", SOON, |u| {
        let ids: Vec<&Value> = u.iter().filter(|x| x["state"] == "in_call").map(|x| &x["call"]).collect();
        ids.len() == 3 && ids.iter().all(|id| id.is_u64() && *id == ids[0])
    });
    // A chat line from one reaches the three others, stamped with its sender.
    clients[1].send(json!({"cmd":"chat","text":"hello all"}));
    for i in [0, 2, 3] {
        clients[i].expect("bob's chat", SOON, |e| e["event"] == "chat" && e["from"] == "bob" && e["text"] == "hello all");
    }
    // carol leaves: the others see it and go on.
    clients[2].send(json!({"cmd":"hangup"}));
    for i in [0, 1, 3] {
        clients[i].expect("carol left", SOON, |e| e["event"] == "left" && e["name"] == "carol");
    }
    for (i, n) in [(0, "alice"), (1, "bob"), (3, "dave")] {
        let others: Vec<&str> = ["alice", "bob", "dave"].into_iter().filter(|o| *o != n).collect();
        let s = stats_until(&mut clients[i], "two streams after carol left", |e| {
            e["participants"].as_array().map(Vec::len) == Some(2) && decodes_all(e, &others, 10.0)
        });
        assert!(participant(&s, "carol").is_none(), "{s}");
    }
    // erin joins by invite.
    let mut erin_args = small.to_vec();
    erin_args.push("--auto-accept");
    let mut erin = Client::ready(&hub, "erin", &erin_args);
    clients[3].send(json!({"cmd":"invite","to":"erin"}));
    let inc = erin.expect("erin rung", SOON, |e| e["event"] == "incoming");
    assert_eq!(inc["from"], "dave", "{inc}");
    erin.expect_call("connected", SOON);
    stats_until(&mut erin, "erin sees all three", |e| decodes_all(e, &["alice", "bob", "dave"], 10.0));
    for i in [0, 1, 3] {
        stats_until(&mut clients[i], "erin's stream", |e| decodes_all(e, &["erin"], 10.0));
    }
}

#[test]
fn a_group_over_the_hubs_limit_is_refused_and_leaves_the_caller_free() {
    let hub = Hub::start_with(&["--max-group", "3"]);
    let mut alice = Client::ready(&hub, "alice", &["--video", "none", "--audio", "none"]);
    let mut others: Vec<Client> = ["bob", "carol", "dave"].iter().map(|n| Client::ready(&hub, n, &["--auto-accept", "--video", "none", "--audio", "none"])).collect();
    alice.expect_roster_now("all online", SOON, |u| u.len() == 3);
    alice.send(json!({"cmd":"call","to":["bob","carol","dave"]}));
    let e = alice.expect("refused", SOON, |e| e["event"] == "error");
    assert_eq!(e["code"], "call_full", "{e}");
    alice.expect_seen("the call request over", SOON, |e| e["event"] == "call" && e["state"] == "ended" && e["reason"] == "call_full");
    // Free to call again: a group of two, then an invitation past the limit.
    alice.send(json!({"cmd":"call","to":["bob","carol"]}));
    alice.expect_call("connected", SOON);
    alice.send(json!({"cmd":"invite","to":"dave"}));
    let e = alice.expect("invite refused", SOON, |e| e["event"] == "error");
    assert_eq!(e["code"], "call_full", "{e}");
    // carol leaves, which makes room; a name nobody has is reported as such, and the call goes on.
    others[1].expect_call("connected", SOON);
    others[1].send(json!({"cmd":"hangup"}));
    alice.expect("carol left", SOON, |e| e["event"] == "left" && e["name"] == "carol");
    alice.send(json!({"cmd":"invite","to":"nobody"}));
    alice.expect("nobody", SOON, |e| e["event"] == "left" && e["name"] == "nobody" && e["reason"] == "unknown_user");
    alice.idle(std::time::Duration::from_millis(300));
    assert!(!alice.seen.iter().any(|e| e["event"] == "call" && e["state"] == "ended" && e["reason"] != "call_full"), "the call ended");
}
