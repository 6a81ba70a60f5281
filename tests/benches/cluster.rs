//! Benchmark: three hubs of one cluster (`--cluster`, one Redis) under many idle signaling
//! clients, spread over them by the load generator `termcall-load`.
//!
//! Starts Debian's `redis-server` on a free loopback port and three release hubs
//! (RUST_LOG=warn), then runs `termcall-load` with all three hubs, their pids and Redis:
//! a paced mass join of CLIENTS (default 9,000: 3,000 a hub), a 10 s idle hold (each hub's
//! RSS and CPU, Redis's memory and commands a second), one more join on the first hub timed
//! until all the others have it in their rosters (p50/p99), then 100 calls between two hubs
//! and 100 within one, one at a time (call to accepted, p50/p99); then, with only 12 clients
//! left, 150 calls between two hubs and 150 within one, one at a time. The same run with one hub:
//! `HUBS=1`. The mass join is paced at RATE a second (default 500), and the hubs ping every 2 s
//! (dropping after 6 s): the 9,000 bots share the two cores with the three hubs.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench cluster`

use std::process::{Child, Command, Stdio};

use termcall_tests::bin;
use termcall_tests::redis::Redis;

/// The hubs, killed however the bench ends.
struct Hubs(Vec<(Child, String)>);

impl Drop for Hubs {
    fn drop(&mut self) {
        for (hub, _) in self.0.iter_mut() {
            let _ = hub.kill();
            let _ = hub.wait();
        }
    }
}

fn start_hub(redis: &Redis, node: &str) -> (Child, String) {
    let mut hub = Command::new(bin("termcall-hub"))
        .args(["--listen", "127.0.0.1:0", "--turn-port", "0", "--metrics-listen", "off"])
        // 9,000 bots in one process share the two cores with three hubs: pinged every 0.5 s and
        // dropped after 1.5 s of silence, the starved ones would be taken for dead.
        .args(["--ping-interval-ms", "2000", "--dead-after-ms", "6000"])
        .args(["--cluster", &redis.url(), "--node-id", node, "--turn-secret", "bench-secret"])
        .env("RUST_LOG", std::env::var("HUB_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start termcall-hub");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(hub.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    (hub, url)
}

fn main() {
    let clients = std::env::var("CLIENTS").unwrap_or_else(|_| "9000".into());
    let hubs: usize = std::env::var("HUBS").ok().and_then(|h| h.parse().ok()).unwrap_or(3);
    let redis = Redis::start();
    let started = Hubs((0..hubs).map(|i| start_hub(&redis, &format!("h{i}"))).collect());
    // Give every hub a heartbeat to hear the others.
    std::thread::sleep(std::time::Duration::from_secs(1));
    // Calls one at a time: what a call across hubs adds is a few Redis round trips, which 100
    // calls at once would drown in the roster updates they send to all 9,000.
    let mut args = vec!["--clients".to_owned(), clients, "--hold-secs".into(), "10".into(), "--calls".into(), "100".into(), "--calls-at-once".into(), "1".into()];
    args.extend(["--redis".to_owned(), format!("127.0.0.1:{}", redis.port)]);
    args.extend(["--connect-rate".to_owned(), std::env::var("RATE").unwrap_or_else(|_| "300".into()), "--deadline-secs".into(), "400".into()]);
    for (hub, url) in &started.0 {
        args.extend(["--hub".to_owned(), url.clone(), "--hub-pid".into(), hub.id().to_string()]);
    }
    eprintln!("{hubs} hubs and redis-server {}: termcall-load {}", redis.info("redis_version").unwrap_or_default(), args.join(" "));
    let status = Command::new(bin("termcall-load")).args(&args).status().expect("run termcall-load");
    assert!(status.success(), "termcall-load failed");
    // Part 2: call setup alone, on the same hubs once the crowd has left: 12 clients, three
    // pairs between two hubs and three within one, 50 rounds of calls one at a time.
    let mut quiet = vec!["--clients".to_owned(), "12".into(), "--hold-secs".into(), "1".into(), "--calls".into(), "3".into()];
    quiet.extend(["--call-rounds".to_owned(), "50".into(), "--calls-at-once".into(), "1".into(), "--prefix".into(), "quiet".into()]);
    for (_, url) in &started.0 {
        quiet.extend(["--hub".to_owned(), url.clone()]);
    }
    eprintln!("\ncall setup alone: termcall-load {}", quiet.join(" "));
    let status = Command::new(bin("termcall-load")).args(&quiet).status().expect("run termcall-load");
    drop(started);
    assert!(status.success(), "termcall-load failed");
}
