//! The hub as a process: health check, wrong paths, clean exit on signals, and clients that
//! come back after a restart.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use termcall_tests::{http_get, Client, Hub, SOON};

#[test]
fn healthz_answers_200_and_other_paths_404() {
    let hub = Hub::start();
    let ok = http_get(&hub.addr, "/healthz");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let missing = http_get(&hub.addr, "/nope");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    // A half-sent request does not block the hub for others.
    let mut slow = TcpStream::connect(&hub.addr).unwrap();
    write!(slow, "GET /heal").unwrap();
    assert!(http_get(&hub.addr, "/healthz").starts_with("HTTP/1.1 200"));
}

#[test]
fn sigterm_ends_calls_tells_clients_and_exits_cleanly() {
    let mut hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &[]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("ringing", SOON);
    let status = hub.terminate(SOON).expect("hub exits on SIGTERM");
    assert!(status.success(), "exit status {status:?}; log:\n{}", hub.log_text());
    let ended = alice.expect_call("ended", SOON);
    assert!(["hub_shutdown", "hub_lost"].contains(&ended["reason"].as_str().unwrap()), "{ended}");
    bob.expect("hub down", SOON, |e| e["event"] == "hub" && e["state"] == "disconnected");
}

#[test]
fn clients_come_back_after_a_hub_restart() {
    let mut hub = Hub::start();
    let addr = hub.addr.clone();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &[]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    hub.kill9();
    alice.expect("hub down", SOON, |e| e["event"] == "hub" && e["state"] == "disconnected");
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect("a clear error while the hub is away", SOON, |e| e["event"] == "error" && e["code"] == "hub_unreachable");
    std::thread::sleep(Duration::from_secs(1));
    let hub = Hub::start_on(&addr, &[]);
    for c in [&mut alice, &mut bob] {
        c.expect("hub back", Duration::from_secs(10), |e| e["event"] == "hub" && e["state"] == "connected");
    }
    alice.expect_roster("bob back in the roster", SOON, |u| u.iter().any(|x| x["name"] == "bob"));
    drop(hub);
}
