//! Benchmark: three hubs of one cluster (`--cluster`, one Redis) under many idle signaling
//! clients, spread over them by the load generator `termcall-load`.
//!
//! Starts Debian's `redis-server` on a free loopback port and three release hubs
//! (RUST_LOG=warn), then runs `termcall-load` with all three hubs, their pids and Redis:
//! a paced mass join of CLIENTS (default 9,000: 3,000 a hub), a 10 s idle hold (each hub's
//! RSS and CPU, Redis's memory and commands a second), one more join on the first hub timed
//! until all the others have it in their rosters (p50/p99), then 100 calls between two hubs
//! and 100 within one (call to accepted, p50/p99). The same run with ONE hub for comparison:
//! `HUBS=1`.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench cluster`

use std::process::{Child, Command, Stdio};

use termcall_tests::bin;
use termcall_tests::redis::Redis;

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
    let mut started: Vec<(Child, String)> = (0..hubs).map(|i| start_hub(&redis, &format!("h{i}"))).collect();
    // Give every hub a heartbeat to hear the others.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let mut args = vec!["--clients".to_owned(), clients, "--hold-secs".into(), "10".into(), "--calls".into(), "100".into()];
    args.extend(["--redis".to_owned(), format!("127.0.0.1:{}", redis.port)]);
    args.extend(["--connect-rate".to_owned(), std::env::var("RATE").unwrap_or_else(|_| "300".into()), "--deadline-secs".into(), "400".into()]);
    for (hub, url) in &started {
        args.extend(["--hub".to_owned(), url.clone(), "--hub-pid".into(), hub.id().to_string()]);
    }
    eprintln!("{hubs} hubs and redis-server {}: termcall-load {}", redis.info("redis_version").unwrap_or_default(), args.join(" "));
    let status = Command::new(bin("termcall-load")).args(&args).status().expect("run termcall-load");
    for (hub, _) in started.iter_mut() {
        let _ = hub.kill();
        let _ = hub.wait();
    }
    assert!(status.success(), "termcall-load failed");
}
