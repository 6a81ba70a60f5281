//! Benchmark: the hub's TURN relay.
//!
//! 1. Capacity on loopback. N relayed calls at once; each call is two TURN allocations on the
//!    release hub (credentials from a real welcome), relaying to each other as two
//!    `--relay always` peers do, each side sending 600 kbit/s (1,200-byte packets every 16 ms).
//!    After a warm-up, a 10 s window measures the hub's CPU (utime+stime from /proc) and the
//!    one-way delay of every packet. The same traffic over plain loopback sockets gives the
//!    baseline, so "added" is what the relay costs. `CALLS=10,50` (default) picks the N.
//! 2. Connect time through the relay when direct UDP is blocked: network namespaces (root),
//!    alice and bob cut from each other by nftables, `CONNECTS=10` calls from `call` to both
//!    sides connected.
//! 3. The embedded TURN server beside coturn (Debian's), in the same run under the same load:
//!    coturn's own load tool, `turnutils_uclient -y` (client to client through the relay), with
//!    TURN REST credentials from the shared secret (`-W`), `UCLIENT=10,50` relayed calls (each
//!    two allocations sending 1,200-byte packets every 16 ms to each other: 600 kbit/s each
//!    way), 625 packets each. Server CPU (utime+stime from /proc) over the tool's run.
//!
//! The hub logs at `warn` (as the other benchmarks), so that logging is not what is measured.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench relay`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::coturn::Coturn;
use termcall_tests::cpu_ticks;
use termcall_tests::netns::{self, Lan, LAN_ALICE, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{turn_credentials, Client, Hub, Raw, SOON};
use tokio::net::UdpSocket;
use turn::client::{Client as TurnClient, ClientConfig};
use webrtc_util::Conn;

const PACKET: usize = 1200;
const INTERVAL: Duration = Duration::from_millis(16);
const WARMUP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(10);

fn main() {
    std::env::set_var("TEST_HUB_LOG", "warn");
    let counts: Vec<usize> = std::env::var("CALLS").unwrap_or_else(|_| "10,50".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("relay capacity on loopback (release hub, each call 2 x 600 kbit/s, {} s window):", WINDOW.as_secs());
    for n in counts {
        let base = rt.block_on(direct_baseline(n));
        let relayed = relayed_calls(&rt, n);
        println!(
            "  {n:>3} calls: hub CPU {:.1}% of a core ({:.2}% per call); one-way delay p50 {:.3} ms p99 {:.3} ms \
             (direct loopback p50 {:.3} p99 {:.3}); added p50 {:.3} ms p99 {:.3} ms; {} packets, {} lost",
            relayed.cpu_pct,
            relayed.cpu_pct / n as f64,
            relayed.p50,
            relayed.p99,
            base.p50,
            base.p99,
            relayed.p50 - base.p50,
            relayed.p99 - base.p99,
            relayed.received,
            relayed.lost,
        );
    }
    connect_time_when_blocked();
    beside_coturn();
}

/// `turnutils_uclient -y` against the hub's embedded server and against coturn, in turn.
fn beside_coturn() {
    if let Err(why) = Coturn::available() {
        panic!("the comparison with coturn needs it: {why}");
    }
    let counts: Vec<usize> = std::env::var("UCLIENT").unwrap_or_else(|_| "10,50".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let secret = "bench-secret";
    println!("embedded TURN beside coturn, turnutils_uclient -y (each call 2 allocations x 600 kbit/s, 625 packets each way):");
    for n in counts {
        let hub_port = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a free port").port();
        let hub = Hub::start_with(&[
            "--allow-peer", "127.0.0.0/8", "--turn-secret", secret, "--turn-user-allocations", "100000", "--turn-user-kbps", "100000000",
            "--turn-port", &hub_port.to_string(),
        ]);
        let ours = uclient_load(hub.pid(), hub_port, secret, n);
        drop(hub);
        let coturn = Coturn::start(secret);
        let theirs = uclient_load(coturn.pid(), coturn.port, secret, n);
        drop(coturn);
        for (who, f) in [("termcall-hub", &ours), ("coturn", &theirs)] {
            println!(
                "  {n:>3} calls, {who:<12}: CPU {:.1}% of a core ({:.3}% per call) over {:.1} s; {} of {} packets lost",
                f.cpu_pct,
                f.cpu_pct / n as f64,
                f.secs,
                f.lost,
                f.sent,
            );
        }
    }
}

struct Load {
    cpu_pct: f64,
    secs: f64,
    sent: u64,
    lost: u64,
}

/// One `turnutils_uclient -y` run of `n` clients against the server `pid` on `port`.
fn uclient_load(pid: u32, port: u16, secret: &str, n: usize) -> Load {
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before = cpu_ticks(pid);
    let started = Instant::now();
    let run = termcall_tests::coturn::uclient(&["-y", "-c", "-m", &n.to_string(), "-l", "1200", "-n", "625", "-z", "16", "-W", secret, "-u", "bench", "-p", &port.to_string(), "127.0.0.1"]);
    let secs = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - before) as f64 / ticks_per_sec;
    let (sent, lost) = (run.sent, run.lost);
    assert!(sent > 0, "turnutils_uclient sent nothing:\n{}", run.output);
    Load { cpu_pct: 100.0 * cpu / secs, secs, sent, lost }
}

struct Figures {
    p50: f64,
    p99: f64,
    cpu_pct: f64,
    received: usize,
    lost: usize,
}

/// Every delay sample (µs) of the window, and how many packets were sent in it.
#[derive(Default)]
struct Samples {
    delays_us: Vec<u64>,
    sent: usize,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

/// Sends a timestamped packet every 16 ms until `stop`; counts those sent in the window.
async fn pace(conn: Arc<dyn Conn + Send + Sync>, to: SocketAddr, epoch: Instant, measuring: Arc<AtomicBool>, stop: Arc<AtomicBool>, samples: Arc<Mutex<Samples>>) {
    let mut buf = vec![0u8; PACKET];
    let mut tick = tokio::time::interval(INTERVAL);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let now = epoch.elapsed().as_nanos() as u64;
        buf[..8].copy_from_slice(&now.to_le_bytes());
        buf[8] = measuring.load(Ordering::Relaxed) as u8;
        if conn.send_to(&buf, to).await.is_ok() && buf[8] == 1 {
            samples.lock().unwrap().sent += 1;
        }
    }
}

/// Receives packets and records the one-way delay of those sent in the window.
async fn listen(conn: Arc<dyn Conn + Send + Sync>, epoch: Instant, stop: Arc<AtomicBool>, samples: Arc<Mutex<Samples>>) {
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(200), conn.recv_from(&mut buf)).await else { continue };
        if n >= 9 && buf[8] == 1 {
            let sent = u64::from_le_bytes(buf[..8].try_into().unwrap());
            let now = epoch.elapsed().as_nanos() as u64;
            samples.lock().unwrap().delays_us.push(now.saturating_sub(sent) / 1000);
        }
    }
}

/// Runs `pairs` (each two connected endpoints) for warm-up + window and gathers the figures.
async fn run_traffic(pairs: Vec<[(Arc<dyn Conn + Send + Sync>, SocketAddr); 2]>, hub_pid: Option<u32>) -> Figures {
    let epoch = Instant::now();
    let (measuring, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let mut tasks = Vec::new();
    for [(a, a_addr), (b, b_addr)] in pairs {
        for (conn, to) in [(a.clone(), b_addr), (b.clone(), a_addr)] {
            tasks.push(tokio::spawn(pace(conn, to, epoch, measuring.clone(), stop.clone(), samples.clone())));
        }
        for conn in [a, b] {
            tasks.push(tokio::spawn(listen(conn, epoch, stop.clone(), samples.clone())));
        }
    }
    tokio::time::sleep(WARMUP).await;
    let cpu_before = hub_pid.map(cpu_ticks);
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(WINDOW).await;
    measuring.store(false, Ordering::Relaxed);
    let cpu_after = hub_pid.map(cpu_ticks);
    // Let the last packets of the window land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let mut s = std::mem::take(&mut *samples.lock().unwrap());
    s.delays_us.sort_unstable();
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_pct = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) => (a - b) as f64 / ticks_per_sec / WINDOW.as_secs_f64() * 100.0,
        _ => 0.0,
    };
    Figures {
        p50: percentile(&s.delays_us, 0.5),
        p99: percentile(&s.delays_us, 0.99),
        cpu_pct,
        received: s.delays_us.len(),
        lost: s.sent.saturating_sub(s.delays_us.len()),
    }
}


/// The same traffic between plain loopback sockets.
async fn direct_baseline(n: usize) -> Figures {
    let mut pairs = Vec::new();
    for _ in 0..n {
        let a = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let b = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        pairs.push([(a as Arc<dyn Conn + Send + Sync>, aa), (b as Arc<dyn Conn + Send + Sync>, ba)]);
    }
    run_traffic(pairs, None).await
}

fn relayed_calls(rt: &tokio::runtime::Runtime, n: usize) -> Figures {
    let hub = Hub::start_with(&["--allow-peer", "127.0.0.0/8", "--turn-user-kbps", "100000"]);
    // Credentials as a client gets them: from its welcome.
    let creds: Vec<(String, String, String)> = (0..2 * n).map(|i| turn_credentials(&Raw::hello(&hub.url, &format!("u{i}")).1)).collect();
    let pid = hub.pid();
    let figures = rt.block_on(async move {
        let mut clients = Vec::new();
        let mut relays: Vec<(Arc<dyn Conn + Send + Sync>, SocketAddr)> = Vec::new();
        for (i, (server, user, pass)) in creds.into_iter().enumerate() {
            // One loopback address per client, as users come from their own addresses (the hub
            // limits unauthenticated requests per source).
            let conn = Arc::new(UdpSocket::bind(format!("127.1.{}.{}:0", i / 200, i % 200 + 1)).await.unwrap());
            let c = TurnClient::new(ClientConfig {
                stun_serv_addr: server.clone(),
                turn_serv_addr: server,
                username: user,
                password: pass,
                realm: "termcall".into(),
                software: String::new(),
                rto_in_ms: 0,
                conn,
                vnet: None,
            })
            .await
            .expect("TURN client");
            c.listen().await.expect("listen");
            let relay = c.allocate().await.expect("allocation");
            let addr = relay.local_addr().unwrap();
            relays.push((Arc::new(relay), addr));
            clients.push(c);
        }
        let mut pairs = Vec::new();
        let mut it = relays.into_iter();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            pairs.push([a, b]);
        }
        let figures = run_traffic(pairs, Some(pid)).await;
        for c in clients {
            let _ = c.close().await;
        }
        figures
    });
    // Where losses happened, if in the hub: its own drop counters.
    let counters: Vec<String> = ["termcall_turn_refused_peer_packets_total", "termcall_turn_quota_dropped_bytes_total", "termcall_turn_unauthenticated_dropped_total"]
        .iter()
        .map(|m| format!("{} {}", m.trim_start_matches("termcall_turn_"), hub.metric(m).unwrap_or(0.0)))
        .collect();
    println!("        the hub's own drops: {}", counters.join(", "));
    figures
}

fn connect_time_when_blocked() {
    if let Err(why) = netns::available() {
        println!("connect time through the relay with direct UDP blocked: skipped ({why})");
        return;
    }
    let n: usize = std::env::var("CONNECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let lan = Lan::new("bench").expect("test LAN");
    lan.block_alice_bob().expect("drop rule");
    let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
    let mut alice = Client::start_in(Some(&lan.alice), LAN_ALICE, &hub.url, "alice", &[]);
    let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept"]);
    for c in [&mut alice, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    let mut samples = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        alice.send(json!({"cmd":"call","to":"bob"}));
        let c = alice.expect_call("connected", Duration::from_secs(15));
        bob.expect_call("connected", Duration::from_secs(15));
        assert_eq!(c["path"], "relay", "{c}");
        samples.push(t.elapsed().as_micros() as u64);
        alice.send(json!({"cmd":"hangup"}));
        alice.expect_call("ended", SOON);
        bob.expect_call("ended", SOON);
        alice.expect_roster_now("bob idle", SOON, |u| u[0]["state"] == "idle");
    }
    samples.sort_unstable();
    println!(
        "connect time through the relay with direct UDP blocked ({n} calls, call sent → both connected): min {:.0} ms p50 {:.0} ms max {:.0} ms",
        percentile(&samples, 0.0),
        percentile(&samples, 0.5),
        percentile(&samples, 1.0)
    );
    drop((alice, bob, hub));
}
