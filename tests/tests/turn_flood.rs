//! An unauthenticated flood of the TURN port, as an attacker on the internet would send it:
//! from one socket, as fast as it can for 10 s, Allocate requests with a random NONCE and a
//! bogus MESSAGE-INTEGRITY, with USERNAMEs that look like the hub's own (expired, dated far
//! ahead, and current but unsigned). The hub's memory must not grow with it, and a relayed call
//! set up in the middle of it must connect and carry video.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use termcall_tests::{Client, Hub, SOON};

const FLOOD: Duration = Duration::from_secs(10);

/// A STUN attribute: type, length, value, padded to four bytes.
fn attr(out: &mut Vec<u8>, typ: u16, value: &[u8]) {
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// An Allocate request for `username` with a 32-character nonce and a 20-byte
/// MESSAGE-INTEGRITY, both to be overwritten with random bytes before each send. Returns the
/// packet and the offsets of the transaction id, the nonce and the integrity.
fn template(username: &str) -> (Vec<u8>, [usize; 3]) {
    let mut p = vec![0x00, 0x03, 0, 0, 0x21, 0x12, 0xA4, 0x42];
    p.extend_from_slice(&[0; 12]);
    attr(&mut p, 0x0019, &[17, 0, 0, 0]); // REQUESTED-TRANSPORT: UDP
    attr(&mut p, 0x0006, username.as_bytes());
    attr(&mut p, 0x0014, b"termcall");
    let nonce_at = p.len() + 4;
    attr(&mut p, 0x0015, &[b'a'; 32]);
    let mi_at = p.len() + 4;
    attr(&mut p, 0x0008, &[0; 20]);
    let len = (p.len() - 20) as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    (p, [8, nonce_at, mi_at])
}

/// Sends the flood from `from` to `to` until `stop`; counts what it sent.
fn flood(from: &str, to: String, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let socket = UdpSocket::bind(from).expect("bind the flooding socket");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let users = [format!("{}:mallory", now - 3600), format!("{}:mallory", now + 30 * 86_400), format!("{}:mallory", now + 3600), "alice".to_owned()];
    let mut templates: Vec<(Vec<u8>, [usize; 3])> = users.iter().map(|u| template(u)).collect();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (p, [tid, nonce, mi]) in &mut templates {
            for at in [*tid, *nonce, *mi] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = if at == *tid { 12 } else if at == *nonce { 32 } else { 20 };
                for (i, b) in p[at..at + len].iter_mut().enumerate() {
                    let byte = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
                    // The nonce stays printable text, as a real one would be.
                    *b = if at == *nonce { b'a' + byte % 26 } else { byte };
                }
            }
            if socket.send_to(p, &to).is_ok() {
                n += 1;
            }
        }
        if n % 4096 < 4 {
            sent.store(n, Ordering::Relaxed);
        }
    }
    sent.store(n, Ordering::Relaxed);
}

#[test]
fn a_turn_flood_from_one_socket_grows_nothing_and_a_relayed_call_still_connects() {
    let hub = Hub::start_with(&["--allow-peer", "127.0.0.0/8"]);
    let turn_port = hub.log_text().lines().find_map(|l| l.split("STUN/TURN on udp ").nth(1).map(|a| a.trim().rsplit(':').next().unwrap().to_owned())).expect("the TURN port in the log");
    std::thread::sleep(Duration::from_millis(500));
    let before = hub.rss_kib();

    let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let flooder = {
        let (stop, sent, to) = (stop.clone(), sent.clone(), format!("127.0.0.1:{turn_port}"));
        // Another loopback address: the flood's source is not the clients' (127.0.0.1).
        std::thread::spawn(move || flood("127.0.0.2:0", to, stop, sent))
    };
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));

    // A relayed call, set up in the middle of the flood.
    let args = ["--relay", "always", "--video-size", "320x240"];
    let mut alice = Client::start(&hub, "alice", &args);
    let mut bob = Client::start(&hub, "bob", &[&args[..], &["--auto-accept"]].concat());
    for c in [&mut alice, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    let Some(connected) = alice.wait(Duration::from_secs(10), &|e| e["event"] == "call" && e["state"] == "connected") else {
        stop.store(true, Ordering::Relaxed);
        let figure = |m| hub.metric(m).unwrap_or(0.0);
        panic!(
            "the relayed call did not connect within 10 s of the flood's {} requests; the hub dropped {}, challenged {}, made {} allocations.\nalice's log:\n{}\nbob's:\n{}",
            sent.load(Ordering::Relaxed),
            figure("termcall_turn_unauthenticated_dropped_total"),
            figure("termcall_turn_challenged_total"),
            figure("termcall_turn_allocations_total"),
            alice.log_tail(20),
            bob.log_tail(20)
        );
    };
    bob.expect_call("connected", SOON);
    let connected_after = started.elapsed();
    assert_eq!(connected["path"], "relay", "{connected}");
    // Video through the relay while the flood goes on: the frames bob decodes in the last 3 s
    // of it (the flood lasts at least that long past the connection).
    let mut peak = before;
    let flood_ends = started + FLOOD.max(connected_after + Duration::from_secs(4));
    let mut decoded: Vec<(Instant, u64)> = Vec::new();
    while Instant::now() < flood_ends {
        let s = bob.expect("stats", SOON, |e| e["event"] == "stats");
        decoded.push((Instant::now(), s["video"]["frames_decoded"].as_u64().unwrap_or(0)));
        peak = peak.max(hub.rss_kib());
    }
    let last = *decoded.last().expect("stats during the flood");
    let first = decoded.iter().find(|(t, _)| *t >= last.0 - Duration::from_secs(3)).copied().unwrap_or(last);
    let fps = (last.1 - first.1) as f64 / (last.0 - first.0).as_secs_f64().max(0.001);
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    let flood_secs = started.elapsed().as_secs_f64();

    let after = hub.rss_kib();
    std::thread::sleep(Duration::from_secs(3));
    let settled = hub.rss_kib();
    let dropped = hub.metric("termcall_turn_unauthenticated_dropped_total").unwrap_or(0.0);
    let challenged = hub.metric("termcall_turn_challenged_total").unwrap_or(0.0);
    let allocations = hub.metric("termcall_turn_allocations_total").unwrap_or(0.0);
    eprintln!(
        "flood: {sent} requests in {flood_secs:.1} s ({:.0}/s) from one socket; hub dropped {dropped}, challenged {challenged}; \
         relayed call connected {connected_after:?} into the flood, bob decoded {fps:.1} frames/s in its last 3 s; \
         hub RSS {before} KiB before, {peak} KiB at most during, {after} KiB at the end, {settled} KiB 3 s later; {allocations} allocations",
        sent as f64 / flood_secs
    );
    assert!(sent > 100_000, "the flood was too weak to prove anything: {sent} requests");
    assert!(fps >= 10.0, "bob decoded only {fps:.1} frames/s of a 15 fps clip through the relay during the flood");
    assert!(allocations >= 2.0, "both clients allocated during the flood: {allocations}");
    assert!(peak <= before + 5 * 1024, "the hub grew by {} KiB during the flood", peak - before);
    assert!(settled <= after + 512, "the hub kept growing after the flood: {after} -> {settled} KiB");
    bob.send(json!({"cmd":"hangup"}));
}
