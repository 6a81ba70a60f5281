//! Benchmark: media relayed over TCP (TURN carried over the hub's WebSocket, `relay-tcp`)
//! beside TURN over UDP, on the same link.
//!
//! Two network namespaces (root): the hub and alice in one, bob in the other, joined by a veth
//! pair, unshaped and then shaped by tc tbf (8 KB burst, 150 ms queue each way), and shaped
//! with random loss of every kind of packet on bob's side (nft numgen; TCP segments too):
//! `LINKS=0,1000,1000/2` (kbit/s, 0 for none, and /loss percent). Bob's media goes through the hub's relay: over UDP (`--relay always`), over the
//! WebSocket (`--relay tcp`), and over the WebSocket found by himself (`--relay auto` with all
//! his UDP dropped by nftables: the STUN probe's wait included). For each:
//!
//! - connect time: `CONNECTS=5` calls, from alice's `call` to both sides connected;
//! - then one call of `SECONDS=15` s with alice sending a noisy 640x480@15 clip: bob's video
//!   latency (capture to decode, one clock: same machine) and round-trip time, medians over
//!   the seconds after the first 4, and the video rate he receives.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench relay_tcp`

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::netns::{self, Link, ADDR_A, ADDR_B};
use termcall_tests::shaped::median;
use termcall_tests::{Client, Hub, SOON};

fn main() {
    std::env::set_var("TEST_HUB_LOG", "warn");
    std::env::set_var("TEST_CLIENT_LOG", "warn");
    if let Err(why) = netns::available() {
        panic!("this benchmark makes network namespaces: {why}");
    }
    let links: Vec<(u32, u32)> = std::env::var("LINKS")
        .unwrap_or_else(|_| "0,1000,1000/2".into())
        .split(',')
        .filter_map(|v| {
            let (rate, loss) = v.trim().split_once('/').unwrap_or((v.trim(), "0"));
            Some((rate.parse().ok()?, loss.parse().ok()?))
        })
        .collect();
    let connects: usize = std::env::var("CONNECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seconds: usize = std::env::var("SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let clip = termcall_tests::media::noisy_clip(640, 480, 150);
    let clip = clip.to_str().expect("clip path").to_owned();
    println!("relay over TCP (the hub's WebSocket) beside relay over UDP, same link, {connects} connects and a {seconds} s call each:");
    for (l, (kbit, loss)) in links.into_iter().enumerate() {
        let mut link_label = if kbit == 0 { "unshaped".to_owned() } else { format!("{kbit} kbit/s") };
        if loss > 0 {
            link_label += &format!(" {loss}% loss");
        }
        for (v, (variant, bob_args, block)) in [
            ("UDP relay", &["--relay", "always"][..], false),
            ("relay-tcp", &["--relay", "tcp"][..], false),
            ("auto, UDP blocked", &["--relay", "auto"][..], true),
        ]
        .into_iter()
        .enumerate()
        {
            // Interface names are short: the pid and two digits.
            let link = Link::new(&format!("b{l}{v}")).expect("test hosts");
            if kbit > 0 {
                link.shape(Some(kbit)).expect("tbf");
            }
            if loss > 0 {
                netns::lossy(&link.b, loss).expect("loss");
            }
            if block {
                netns::block_udp(&link.b).expect("drop UDP for bob");
            }
            let hub = Hub::start_in(Some(&link.a), &format!("{ADDR_A}:0"), &["--allow-peer", "198.18.0.0/15"]);
            let mut alice = Client::start_in(Some(&link.a), ADDR_A, &hub.url, "alice", &["--video", &clip]);
            let mut bob = Client::start_in(Some(&link.b), ADDR_B, &hub.url, "bob", &[&["--auto-accept"], bob_args].concat());
            for c in [&mut alice, &mut bob] {
                c.expect("ready", SOON, |e| e["event"] == "ready");
            }
            alice.expect_roster("bob", SOON, |u| !u.is_empty());
            let mut connect_ms = Vec::new();
            let (mut path, mut failed) = (String::new(), 0);
            let connected = |e: &serde_json::Value| e["event"] == "call" && e["state"] == "connected";
            let ended = |e: &serde_json::Value| e["event"] == "call" && e["state"] == "ended";
            // Until `connects` have connected, the last of them left up (a few failures allowed).
            while connect_ms.len() <= connects && failed <= connects {
                let t = Instant::now();
                alice.send(json!({"cmd":"call","to":"bob"}));
                let a = alice.wait(Duration::from_secs(20), &|e| connected(e) || ended(e));
                let b = if a.as_ref().is_some_and(connected) { bob.wait(Duration::from_secs(20), &connected) } else { None };
                let Some(b) = b else {
                    failed += 1;
                    alice.send(json!({"cmd":"hangup"}));
                    let _ = alice.wait(SOON, &ended);
                    let _ = bob.wait(SOON, &ended);
                    alice.expect_roster_now("bob idle", Duration::from_secs(10), |u| u[0]["state"] == "idle");
                    continue;
                };
                connect_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                path = b["path"].as_str().unwrap_or("?").to_owned();
                if connect_ms.len() > connects {
                    break; // the last call stays up for the measurement
                }
                alice.send(json!({"cmd":"hangup"}));
                alice.expect_call("ended", SOON);
                bob.expect_call("ended", SOON);
                alice.expect_roster_now("bob idle", SOON, |u| u[0]["state"] == "idle");
            }
            if connect_ms.len() <= connects {
                println!("  {link_label:>18} {variant:<18}: {failed} calls failed, {} connected: no measurement", connect_ms.len());
                continue;
            }
            let stats: Vec<serde_json::Value> = (0..seconds).map(|_| bob.expect("stats", Duration::from_secs(4), |e| e["event"] == "stats")).skip(4).collect();
            let latency = median(stats.iter().filter_map(|s| s["video"]["latency_ms"].as_f64()).collect());
            let rtt = median(stats.iter().filter_map(|s| s["rtt_ms"].as_f64()).collect());
            let fps = median(stats.iter().filter_map(|s| s["video"]["fps"].as_f64()).collect());
            let kbps = median(stats.iter().filter_map(|s| s["video"]["kbps"].as_f64()).collect());
            let mut sorted = connect_ms.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "  {link_label:>18} {variant:<18} path {path:<9}: connect p50 {:5.0} ms max {:5.0} ms ({failed} failed) | video latency p50 {latency:4.0} ms, rtt {rtt:4.0} ms, {fps:4.1} fps, {kbps:5.0} kbit/s",
                sorted[sorted.len() / 2],
                sorted[sorted.len() - 1],
            );
            drop((alice, bob, hub));
            drop(link);
        }
    }
}
