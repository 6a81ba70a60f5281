//! Calls through a firewall that lets only TCP out: all UDP dropped (nftables) on a client's
//! network interface, the hub reachable over its WebSocket. The client finds UDP blocked (a
//! STUN probe after login) and carries its TURN over the hub's WebSocket: the call's path is
//! `relay-tcp`, with `ws://` and with `wss://`, on one side or both, and across a 1 Mbit/s link.
//! A browser behind the same firewall reaches the relay the standard way: the hub's TURN
//! server on TCP (`turn:…?transport=tcp` in the welcome). coturn's own client relays through
//! the hub over TCP and TLS, and what is not TURN, too many connections and silent ones are
//! turned away.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use termcall_tests::browser::{peer_page, Browser};
use termcall_tests::netns::{self, Lan, Link, LAN_ALICE, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::shaped::{median, ShapedCall};
use termcall_tests::{chat_both_ways, scratch, Client, Hub, SOON};

/// The calls here take turns: two cores carry one call's media at a time well.
static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How soon a call through a UDP-blocked firewall must connect, from the call command.
const CONNECT_WITHIN: Duration = Duration::from_secs(3);

/// A hub and two clients on the test LAN; `tls` serves `wss://` with a certificate for the
/// hub's address, which the clients trust with `--ca`.
fn lan_call(lan: &Lan, tls: bool) -> (Hub, Client, Client) {
    let dir = scratch("relay-tcp-cert");
    let (cert, key) = (dir.join("hub.crt"), dir.join("hub.key"));
    let (cert, key) = (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned());
    let mut hub_args = vec!["--allow-peer", LAN_CIDR];
    let mut args = vec!["--video-size", "320x240"];
    if tls {
        let (ok, _, err) = Hub::tool(&["gen-cert", "--cert", &cert, "--key", &key, "--host", LAN_HUB]);
        assert!(ok, "gen-cert: {err}");
        hub_args.extend(["--tls-cert", &cert, "--tls-key", &key]);
        args.extend(["--ca", &cert]);
    }
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &hub_args);
    assert_eq!(hub.url.starts_with("wss://"), tls, "{}", hub.url);
    let alice = Client::start_in(Some(&lan.alice), LAN_ALICE, &hub.url, "alice", &args);
    let bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &[&args[..], &["--auto-accept"]].concat());
    (hub, alice, bob)
}

/// Both registered, alice calls bob; returns both connected events and the time it took.
fn call(alice: &mut Client, bob: &mut Client) -> (Value, Value, Duration) {
    for c in [&mut *alice, &mut *bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    let started = Instant::now();
    alice.send(json!({"cmd":"call","to":"bob"}));
    let a = alice.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected");
    let b = bob.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected");
    let took = started.elapsed();
    let (Some(a), Some(b)) = (a, b) else {
        panic!("the call did not connect within 20 s; alice:\n{}\nbob:\n{}", alice.log_tail(40), bob.log_tail(40));
    };
    (a, b, took)
}

/// The median video frame rate over the next `n` stats lines.
fn median_fps(c: &mut Client, n: usize) -> (f64, Value) {
    let lines: Vec<Value> = (0..n).map(|_| c.expect("stats", SOON, |e| e["event"] == "stats")).collect();
    let fps = median(lines.iter().map(|s| s["video"]["fps"].as_f64().unwrap_or(0.0)).collect());
    (fps, lines.last().cloned().unwrap_or_default())
}

/// A call across the LAN with `blocked` namespaces' UDP dropped: connects within 3 s, each
/// blocked side on `relay-tcp`, video at ≥ 12 fps both ways, chat both ways; with both
/// blocked, bob's echo call through the hub's media endpoint too.
fn check(tls: bool, block_alice: bool) {
    let lan = Lan::new(&format!("{}{}", if tls { "s" } else { "t" }, if block_alice { "2" } else { "1" })).expect("test LAN");
    netns::block_udp(&lan.bob).expect("drop UDP for bob");
    if block_alice {
        netns::block_udp(&lan.alice).expect("drop UDP for alice");
    }
    let label = format!("{} UDP blocked for {}", if tls { "wss://" } else { "ws://" }, if block_alice { "alice and bob" } else { "bob" });
    let (hub, mut alice, mut bob) = lan_call(&lan, tls);
    let (a, b, took) = call(&mut alice, &mut bob);
    eprintln!("{label}: connected in {took:?}, alice {} bob {}", a["path"], b["path"]);
    assert_eq!(b["path"], "relay-tcp", "{label}: {b}");
    if block_alice {
        assert_eq!(a["path"], "relay-tcp", "{label}: {a}");
    }
    assert!(took <= CONNECT_WITHIN, "{label}: connected in {took:?}");
    for c in [&mut alice, &mut bob] {
        let (fps, last) = median_fps(c, 4);
        eprintln!("{label}: {} receives {fps:.1} fps, path {}", c.name, last["path"]);
        assert!(fps >= 12.0, "{label}: {} receives {fps} fps: {last}", c.name);
        if c.name == "bob" || block_alice {
            assert_eq!(last["path"], "relay-tcp", "{label}: the stats say the path: {last}");
        }
    }
    chat_both_ways(&mut alice, &mut bob, &label);
    if block_alice {
        // Through the hub's media endpoint too: echo, over the relay over TCP.
        alice.send(json!({"cmd":"hangup"}));
        for c in [&mut alice, &mut bob] {
            c.expect_call("ended", SOON);
        }
        bob.send(json!({"cmd":"call","to":"echo"}));
        let c = bob.expect_call("connected", Duration::from_secs(10));
        assert_eq!(c["path"], "relay-tcp", "{label}: echo: {c}");
        let s = bob.expect("3 s of his own video back", Duration::from_secs(10), |e| e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() >= Some(36));
        eprintln!("{label}: echo over relay-tcp: {} frames back", s["video"]["frames_decoded"]);
        bob.send(json!({"cmd":"chat","text":"echo over tcp"}));
        bob.expect("chat echoed", SOON, |e| e["event"] == "chat" && e["from"] == "echo" && e["text"] == "echo over tcp");
    }
    let streams = hub.metric("termcall_turn_streams_total").unwrap_or(0.0);
    let want = if block_alice { 2.0 } else { 1.0 };
    assert!(streams >= want, "{label}: the hub counts {streams} TURN streams");
    drop((alice, bob, hub));
}

#[test]
fn udp_blocked_on_one_side_connects_over_the_hubs_websocket_with_ws_and_wss() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    netns::available().expect("this test makes network namespaces");
    check(false, false);
    check(true, false);
}

#[test]
fn udp_blocked_on_both_sides_goes_through_the_hub_for_both_and_echo_works_too() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    netns::available().expect("this test makes network namespaces");
    check(false, true);
}

#[test]
fn a_1_mbit_link_with_udp_blocked_keeps_video_moving_without_a_standing_queue() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    netns::available().expect("this test makes network namespaces");
    let link = Link::new("tcp1m").expect("test hosts");
    link.shape(Some(1000)).expect("tbf");
    netns::block_udp(&link.b).expect("drop UDP for bob");
    let mut call = ShapedCall::start_with(&link, &[], &[]);
    let label = "1 Mbit/s, UDP blocked";
    let connected = call.bob.seen.iter().rev().find(|e| e["event"] == "call" && e["state"] == "connected").cloned().unwrap_or_default();
    assert_eq!(connected["path"], "relay-tcp", "{connected}");
    call.seconds(4, label);
    let seconds = call.seconds(20, label);
    let fps = median(seconds.iter().map(|s| s.fps).collect());
    let latency = median(seconds.iter().filter_map(|s| s.latency_ms).collect());
    let kbps = median(seconds.iter().map(|s| s.kbps).collect());
    let dropped = call.hub.metric("termcall_turn_stream_dropped_total").unwrap_or(0.0);
    eprintln!("{label}: median {fps:.1} fps, latency {latency:.0} ms, video {kbps:.0} kbit/s; {dropped} packets dropped rather than queued at the hub");
    assert!(fps >= 12.0, "{label}: median {fps} fps");
    assert!(latency > 0.0 && latency <= 300.0, "{label}: median latency {latency} ms");
}

#[test]
fn chromium_with_udp_blocked_reaches_termcall_through_the_hubs_turn_over_tcp() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    netns::available().expect("this test makes network namespaces");
    Browser::available().expect("this test runs Chromium");
    let lan = Lan::new("wtc").expect("test LAN");
    netns::block_udp(&lan.alice).expect("drop UDP for Chromium");
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240"]);
    bob.expect("ready", SOON, |e| e["event"] == "ready");
    let clip = termcall_tests::media::noisy_clip(320, 240, 30);
    // As a browser normally runs: no relay-only policy; UDP simply does not get out.
    let browser = Browser::chromium(&lan.alice, &peer_page(&format!("hub={}&name=chrome&call=bob", hub.url)), &clip);
    let Some(_) = bob.wait(Duration::from_secs(20), &|e| e["event"] == "incoming") else {
        panic!("Chromium never called; its log:\n{}", browser.log_tail(30));
    };
    let rang = Instant::now();
    let Some(connected) = bob.wait(Duration::from_secs(15), &|e| e["event"] == "call" && e["state"] == "connected") else {
        panic!("the call never connected; Chromium's log:\n{}\nbob's:\n{}\nhub's:\n{}", browser.log_tail(30), bob.log_tail(30), hub.log_text());
    };
    let took = rang.elapsed();
    let (fps, last) = median_fps(&mut bob, 4);
    let streams = hub.metric("termcall_turn_streams_total").unwrap_or(0.0);
    let allocations = hub.metric("termcall_turn_allocations_total").unwrap_or(0.0);
    eprintln!("Chromium behind a UDP-blocking firewall: connected in {took:?} on {}, bob receives {fps:.1} fps; hub: {streams} TURN streams, {allocations} allocations", connected["path"]);
    assert_eq!(connected["path"], "relay", "{connected}");
    assert!(streams >= 1.0, "Chromium came in over TCP: {streams} streams");
    assert!(fps >= 10.0, "bob receives {fps} fps from Chromium: {last}");
    drop((browser, bob, hub));
}

/// `turnutils_uclient` (coturn's client) relaying `n` packets each way between 2 allocations
/// through the hub on TCP (`-t`), or TLS (`-S`).
fn uclient(port: u16, secret: &str, tls: bool, n: usize) -> termcall_tests::coturn::Uclient {
    let (n, port) = (n.to_string(), port.to_string());
    let mut args = vec!["-t", "-y", "-c", "-m", "2", "-l", "1200", "-n", &n, "-z", "16", "-W", secret, "-u", "test"];
    if tls {
        args.push("-S");
    }
    args.extend(["-p", &port, "127.0.0.1"]);
    termcall_tests::coturn::uclient(&args)
}

#[test]
fn coturns_client_relays_over_tcp_and_tls_and_what_is_not_turn_is_turned_away() {
    use std::io::{Read, Write};
    termcall_tests::coturn::Coturn::available().expect("this test runs coturn's turnutils_uclient");
    let dir = scratch("turn-tls-cert");
    let (cert, key) = (dir.join("hub.crt"), dir.join("hub.key"));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (ok, _, err) = Hub::tool(&["gen-cert", "--cert", cert, "--key", key]);
    assert!(ok, "gen-cert: {err}");
    let secret = "tcp-test-secret";
    let port = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a free port").port();
    let hub = Hub::start_with(&["--allow-peer", "127.0.0.0/8", "--turn-secret", secret, "--turn-port", &port.to_string(), "--tls-cert", cert, "--tls-key", key]);
    let turn = format!("127.0.0.1:{port}");
    for tls in [false, true] {
        let run = uclient(port, secret, tls, 100);
        let over = if tls { "TLS" } else { "TCP" };
        eprintln!("turnutils_uclient over {over}: {} sent, {} lost", run.sent, run.lost);
        assert!(run.sent >= 200 && run.lost == 0, "over {over}: {} sent, {} lost:\n{}", run.sent, run.lost, run.output);
    }

    // What cannot be TURN is closed at once.
    let mut garbage = std::net::TcpStream::connect(&turn).unwrap();
    garbage.set_read_timeout(Some(SOON)).unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(garbage.read(&mut buf), Ok(0) | Err(_)), "closed");
    // An oversized ChannelData header, too.
    let mut huge = std::net::TcpStream::connect(&turn).unwrap();
    huge.set_read_timeout(Some(SOON)).unwrap();
    huge.write_all(&[0x40, 0x00, 0xFF, 0xFF, 1, 2, 3, 4]).unwrap();
    assert!(matches!(huge.read(&mut buf), Ok(0) | Err(_)), "closed");

    // From one address, 32 streams at most; the rest are closed at once.
    let held: Vec<std::net::TcpStream> = (0..40).map(|_| std::net::TcpStream::connect(&turn).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let opened = Instant::now();
    let is_closed = |mut c: &std::net::TcpStream| {
        let mut buf = [0u8; 8];
        c.set_nonblocking(true).unwrap();
        matches!(c.read(&mut buf), Ok(0))
    };
    let closed = held.iter().filter(|c| is_closed(c)).count();
    let refused = hub.metric("termcall_turn_streams_refused_total").unwrap_or(0.0);
    eprintln!("40 silent connections from one address: {closed} closed at once, {refused} refused by the hub");
    assert_eq!(closed, 8, "{closed} of 40 closed at once");
    assert!(refused >= 8.0, "counted: {refused}");
    // The silent ones go too (5 s for a first byte).
    while held.iter().any(|c| !is_closed(c)) {
        assert!(opened.elapsed() < Duration::from_secs(13), "silent streams still open {:?} later", opened.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("the silent streams were closed {:?} later", opened.elapsed());
    drop(held);
    // And the hub still relays.
    std::thread::sleep(Duration::from_millis(200));
    let run = uclient(port, secret, false, 50);
    assert!(run.sent >= 100 && run.lost == 0, "after all that: {} sent, {} lost:\n{}", run.sent, run.lost, run.output);
    assert!(hub.metric("termcall_turn_streams_open").unwrap_or(-1.0) <= 2.0, "the closed streams are not counted open");
}
