//! Benchmark: the hub under many signaling clients, with the load generator `termcall-load`.
//!
//! Starts a release hub (RUST_LOG=warn, so that logging is not what is measured), then runs
//! `termcall-load --clients N` (default 5,000, `CLIENTS=n` to change) against it with its pid:
//! a paced mass join, a 10 s idle hold, one more join timed until all N have it, 100 calls
//! between pairs, and everyone leaving. Prints the load generator's report.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench signaling`

use std::process::{Command, Stdio};

use termcall_tests::bin;

fn main() {
    let clients = std::env::var("CLIENTS").unwrap_or_else(|_| "5000".into());
    let mut hub = Command::new(bin("termcall-hub"))
        .args(["--listen", "127.0.0.1:0", "--turn-port", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start termcall-hub");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(hub.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let status = Command::new(bin("termcall-load"))
        .args(["--hub", &url, "--clients", &clients, "--hub-pid", &hub.id().to_string(), "--hold-secs", "10", "--calls", "100"])
        .status()
        .expect("run termcall-load");
    let _ = hub.kill();
    let _ = hub.wait();
    assert!(status.success(), "termcall-load failed");
}
