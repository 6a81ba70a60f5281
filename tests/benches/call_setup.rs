//! Benchmark: call setup time on loopback, from `call` sent to `connected` on both sides.
//!
//! Runs the real release binaries (`cargo build --release --bins` first): one hub, alice, and
//! bob with `--auto-accept`; alice calls bob N times (default 50, `CALLS=n` to change),
//! hanging up between calls. Prints min, p50, p95 and max.
//!
//! `cargo bench -p termcall-tests --bench call_setup`

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::{Client, Hub, SOON};

fn main() {
    let n: usize = std::env::var("CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let hub = Hub::start();
    let mut alice = Client::ready(&hub, "alice", &[]);
    let mut bob = Client::ready(&hub, "bob", &["--auto-accept"]);
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        alice.send(json!({"cmd":"call","to":"bob"}));
        alice.expect_call("connected", Duration::from_secs(10));
        bob.expect_call("connected", Duration::from_secs(10));
        samples.push(t.elapsed());
        alice.send(json!({"cmd":"hangup"}));
        alice.expect_call("ended", SOON);
        bob.expect_call("ended", SOON);
        alice.expect_roster_now("bob idle", SOON, |u| u[0]["state"] == "idle");
        if i % 10 == 9 {
            eprintln!("{} calls done", i + 1);
        }
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!("call setup over {n} calls (call sent → connected on both sides, loopback, release build):");
    println!("  min {:.0} ms  p50 {:.0} ms  p95 {:.0} ms  max {:.0} ms", pct(0.0), pct(0.5), pct(0.95), pct(1.0));
}
