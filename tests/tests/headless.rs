//! The headless face: bad input gets an error and the client goes on; end of input quits.

use serde_json::json;
use termcall_tests::{bin, Client, Hub, SOON};

#[test]
fn bad_lines_get_errors_and_the_client_goes_on() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    alice.send_raw("this is not json");
    alice.expect("bad_json", SOON, |e| e["event"] == "error" && e["code"] == "bad_json");
    alice.send_raw(r#"{"cmd":"teleport","to":"mars"}"#);
    let e = alice.expect("bad_command", SOON, |e| e["event"] == "error" && e["code"] == "bad_command");
    assert!(e["message"].as_str().unwrap().contains("teleport"), "the message names the problem: {e}");
    alice.send_raw(r#"{"cmd":"call"}"#);
    alice.expect("bad_command for a missing field", SOON, |e| e["event"] == "error" && e["code"] == "bad_command");
    alice.send_raw("");
    // Still working: a second client shows up in the roster.
    let _bob = Client::ready(&hub, "bob", &[]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
}

#[test]
fn end_of_input_quits_cleanly_and_leaves_the_roster() {
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    alice.close_stdin();
    let status = alice.exit_status(SOON).expect("exits at end of input");
    assert!(status.success(), "{status:?}");
    assert_eq!(bob.expect_call("ended", SOON)["reason"], "peer_hangup", "quitting hangs up first");
    bob.expect_roster("alice gone", SOON, |u| u.is_empty());
}

#[test]
fn bad_command_lines_are_refused_before_connecting() {
    for (args, needle) in [
        (vec!["--name", "bad name", "--headless"], "bad --name"),
        (vec!["--name", "ok", "--hub", "http://x", "--headless"], "bad --hub"),
    ] {
        let out = std::process::Command::new(bin("termcall")).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    let out = std::process::Command::new(bin("termcall-hub")).args(["--listen", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreachable_hub_is_reported_clearly() {
    // A port nobody listens on: bind one and drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = Client::start_url(&format!("ws://127.0.0.1:{port}/ws"), "alice", &[]);
    let e = c.expect("hub_unreachable", SOON, |e| e["event"] == "error" && e["code"] == "hub_unreachable");
    assert!(e["message"].as_str().unwrap().contains(&port.to_string()), "{e}");
    c.send(json!({"cmd":"quit"}));
    assert!(c.exit_status(SOON).is_some_and(|s| s.success()));
}
