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
    // Metrics are not for everyone who reaches the hub: only on --metrics-listen.
    let public = http_get(&hub.addr, "/metrics");
    assert!(public.starts_with("HTTP/1.1 404") && public.contains("--metrics-listen"), "{public}");
    let private = hub.metrics_page();
    assert!(private.starts_with("HTTP/1.1 200") && private.contains("termcall_users_online 0"), "{private}");
    let metrics_addr = hub.metrics_addr().unwrap();
    assert_ne!(metrics_addr, hub.addr);
    assert!(http_get(&metrics_addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&metrics_addr, "/ws").starts_with("HTTP/1.1 404"), "no WebSocket on the metrics listener");
    assert!(http_get(&metrics_addr, "/").starts_with("HTTP/1.1 404"), "no web client on the metrics listener");
    // The web client, with its type and an ETag to revalidate against.
    let page = http_get(&hub.addr, "/");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Content-Type: text/html") && page.contains("<script src=\"/app.js\">"), "{page}");
    let script = http_get(&hub.addr, "/app.js");
    assert!(script.contains("Content-Type: text/javascript") && script.contains(&format!("PROTOCOL_VERSION = {}", termcall_shared::PROTOCOL_VERSION)), "{}", &script[..300.min(script.len())]);
    let etag = script.lines().find(|l| l.to_ascii_lowercase().starts_with("etag: ")).map(|l| l[6..].trim()).expect("an ETag").to_owned();
    let mut again = TcpStream::connect(&hub.addr).unwrap();
    write!(again, "GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut again, &mut reply);
    assert!(reply.starts_with("HTTP/1.1 304") && reply.ends_with("\r\n\r\n"), "revalidated, no body: {reply}");
    // A half-sent request does not block the hub for others.
    let mut slow = TcpStream::connect(&hub.addr).unwrap();
    write!(slow, "GET /heal").unwrap();
    assert!(http_get(&hub.addr, "/healthz").starts_with("HTTP/1.1 200"));
}

#[test]
fn a_metrics_address_that_is_taken_stops_the_hub_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let log = termcall_tests::scratch("metrics-taken").join("hub.log");
    let mut hub = std::process::Command::new(termcall_tests::bin("termcall-hub"))
        .args(["--listen", "127.0.0.1:0", "--turn-port", "0", "--metrics-listen", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + SOON;
    let status = loop {
        if let Some(status) = hub.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = hub.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(status.is_some_and(|s| s.code() == Some(2)), "the hub must stop: {status:?}\n{err}");
    assert!(err.contains("--metrics-listen") && err.contains(&addr), "{err}");
    let (ok, _out, err) = Hub::tool(&["--metrics-listen", "9464"]);
    assert!(!ok && err.contains("not an address"), "{err}");
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

/// The fault test: `kill -9` the hub during a p2p call and start it again 3 s later.
/// The call never notices: chat flows throughout with nothing lost, video keeps arriving, both
/// are back in the roster within 5 s of the restart, and the restarted hub knows their call
/// again, so a hangup reaches the other side.
#[test]
fn a_p2p_call_survives_a_hub_kill_and_restart() {
    let mut hub = Hub::start();
    let addr = hub.addr.clone();
    let small = ["--video-size", "320x240", "--audio", "none"];
    let mut alice = Client::ready(&hub, "alice", &small);
    let mut bob = Client::ready(&hub, "bob", &[&small[..], &["--auto-accept"]].concat());
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);

    let decoded = |c: &Client| {
        c.seen.iter().rev().find(|e| e["event"] == "stats").and_then(|e| e["video"]["frames_decoded"].as_u64()).unwrap_or(0)
    };
    let mut restarted = None;
    let mut hub_back = [None, None];
    let mut decoded_at_kill = 0;
    let lines = 60;
    for i in 0..lines {
        alice.send(json!({"cmd":"chat","text": format!("a{i}")}));
        bob.send(json!({"cmd":"chat","text": format!("b{i}")}));
        alice.idle(Duration::from_millis(100));
        bob.idle(Duration::from_millis(100));
        if i == 10 {
            hub.kill9();
            decoded_at_kill = decoded(&bob);
        }
        if i == 25 {
            // 15 rounds of 200 ms: 3 s after the kill.
            hub = Hub::start_on(&addr, &[]);
            restarted = Some(std::time::Instant::now());
        }
        if let Some(at) = restarted {
            for (k, c) in [&alice, &bob].into_iter().enumerate() {
                let back = c.seen.iter().filter(|e| e["event"] == "hub").last().is_some_and(|e| e["state"] == "connected");
                if back && hub_back[k].is_none() {
                    hub_back[k] = Some(at.elapsed());
                }
            }
        }
    }
    let restarted = restarted.unwrap();
    eprintln!("back after the restart: alice {:?}, bob {:?}", hub_back[0], hub_back[1]);
    for (k, c) in [&alice, &bob].into_iter().enumerate() {
        assert!(c.seen.iter().any(|e| e["event"] == "hub" && e["state"] == "disconnected"), "{} noticed the hub going", c.name);
        let back = hub_back[k].unwrap_or_else(|| panic!("{} never came back to the hub", c.name));
        assert!(back <= Duration::from_secs(5), "{} came back {back:?} after the restart", c.name);
    }
    // Both in each other's roster, shown in a call: the hub adopted the call again.
    for (c, other) in [(&mut alice, "bob"), (&mut bob, "alice")] {
        c.expect_seen(&format!("{other} in a call again"), SOON, |e| {
            e["event"] == "roster" && e["users"].as_array().is_some_and(|u| u.iter().any(|x| x["name"] == other && x["state"] == "in_call"))
        });
        assert!(restarted.elapsed() < Duration::from_secs(20));
    }

    // Every line arrived, in order, and the call never left `connected`.
    for (rx, prefix) in [(&mut bob, "a"), (&mut alice, "b")] {
        let last = format!("{prefix}{}", lines - 1);
        rx.expect_seen("the last line", SOON, |e| e["event"] == "chat" && e["text"] == last.as_str());
        let got: Vec<String> = rx.seen.iter().filter(|e| e["event"] == "chat").map(|e| e["text"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = (0..lines).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(got, want, "{}'s chat", rx.name);
        let states: Vec<&str> = rx.seen.iter().filter(|e| e["event"] == "call").filter_map(|e| e["state"].as_str()).collect();
        assert_eq!(states.last(), Some(&"connected"), "{}: {states:?}", rx.name);
        assert!(!states.contains(&"ended") && !states.contains(&"reconnecting"), "{}: {states:?}", rx.name);
    }
    let after = decoded(&bob);
    eprintln!("bob decoded {decoded_at_kill} frames before the kill, {after} by the end");
    assert!(after >= decoded_at_kill + 60, "video went on while the hub was away: {decoded_at_kill} -> {after}");

    // The call is the hub's again: a hangup reaches bob through it.
    alice.send(json!({"cmd":"hangup"}));
    let ended = bob.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "peer_hangup", "{ended}");
    drop(hub);
}
