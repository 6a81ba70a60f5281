//! The roster: everyone sees everyone else, and joins and leaves show within a second.

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::{Client, Hub, SOON};

fn has(users: &[serde_json::Value], name: &str) -> bool {
    users.iter().any(|u| u["name"] == name)
}

#[test]
fn alice_and_bob_see_each_other_and_carol_comes_and_goes_within_a_second() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &[]);
    alice.expect_roster("bob in alice's roster", SOON, |u| has(u, "bob") && u.len() == 1);
    let r = bob.expect_roster("alice in bob's roster", SOON, |u| has(u, "alice"));
    assert_eq!(r["users"][0], json!({"name":"alice","state":"idle"}), "state is reported");
    assert!(!has(r["users"].as_array().unwrap(), "bob"), "the roster lists the others, not yourself");

    let mut carol = Client::ready(&hub, "carol", &[]);
    let joined = Instant::now();
    alice.expect_roster("carol joining, at alice", Duration::from_secs(1), |u| has(u, "carol"));
    bob.expect_roster("carol joining, at bob", Duration::from_secs(1), |u| has(u, "carol"));
    let join_ms = joined.elapsed().as_millis();
    carol.expect_roster("carol's own roster", SOON, |u| has(u, "alice") && has(u, "bob"));

    carol.send(json!({"cmd":"quit"}));
    let left = Instant::now();
    alice.expect_roster("carol leaving, at alice", Duration::from_secs(1), |u| !has(u, "carol"));
    bob.expect_roster("carol leaving, at bob", Duration::from_secs(1), |u| !has(u, "carol"));
    let leave_ms = left.elapsed().as_millis();
    assert!(carol.exit_status(SOON).is_some_and(|s| s.success()), "quit exits cleanly");
    eprintln!("roster propagation: join {join_ms} ms, leave {leave_ms} ms");

    // A client killed outright leaves the roster just as fast.
    let mut dave = Client::ready(&hub, "dave", &[]);
    alice.expect_roster("dave joining", SOON, |u| has(u, "dave"));
    dave.kill9();
    alice.expect_roster("dave vanishing", Duration::from_secs(2), |u| !has(u, "dave"));
}
