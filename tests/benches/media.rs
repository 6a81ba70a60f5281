//! Benchmark: a real 640x480@15 call between two headless clients on loopback (release build:
//! `cargo build --release --bins` first).
//!
//! - capture-to-decode latency (from RTCP sender reports), p50/p95 over 30 one-second reports;
//! - `call` → first decoded remote picture, p50/p95 over CALLS calls (default 20);
//! - CPU (share of one core) and peak RSS of the receiving client during 20 s of the call.
//!
//! `cargo bench -p termcall-tests --bench media`

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::cpu_ticks;
use termcall_tests::{Client, Hub, SOON};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}


fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn main() {
    let calls: usize = std::env::var("CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());

    // Time to first picture.
    let mut first = Vec::new();
    for _ in 0..calls {
        let t = Instant::now();
        alice.send(json!({"cmd":"call","to":"bob"}));
        alice.expect("first picture", Duration::from_secs(10), |e| e["event"] == "video_started");
        first.push(t.elapsed().as_secs_f64() * 1e3);
        alice.send(json!({"cmd":"hangup"}));
        bob.expect_call("ended", SOON);
        alice.expect_roster_now("bob idle", SOON, |u| u[0]["state"] == "idle");
    }

    // Latency, CPU and memory in one long call.
    alice.send(json!({"cmd":"call","to":"bob"}));
    bob.expect_call("connected", SOON);
    bob.expect("video", SOON, |e| e["event"] == "video_started");
    let (t0, c0) = (Instant::now(), cpu_ticks(bob.pid()));
    let mut latency = Vec::new();
    let mut rss_max = 0;
    while latency.len() < 30 {
        let s = bob.expect("stats", Duration::from_secs(3), |e| e["event"] == "stats");
        if let Some(ms) = s["video"]["latency_ms"].as_f64() {
            latency.push(ms);
        }
        rss_max = rss_max.max(rss_kb(bob.pid()));
        if t0.elapsed() >= Duration::from_secs(20) && latency.len() >= 20 {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu = (cpu_ticks(bob.pid()) - c0) as f64 / ticks_per_sec / secs * 100.0;

    println!("640x480@15 testsrc call on loopback, release build:");
    println!("  call → first decoded picture over {calls} calls: p50 {:.0} ms  p95 {:.0} ms", pct(&mut first, 0.5), pct(&mut first, 0.95));
    println!("  capture-to-decode latency over {} reports: p50 {:.1} ms  p95 {:.1} ms", latency.len(), pct(&mut latency, 0.5), pct(&mut latency, 0.95));
    println!("  receiving client (sends 640x480@15 + audio too) over {secs:.0} s: CPU {cpu:.1}% of one core, peak RSS {:.1} MB", rss_max as f64 / 1024.0);
}
