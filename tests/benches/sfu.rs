//! Benchmark: the hub's SFU carrying a group call.
//!
//! N release headless clients on loopback in one group call, each sending testsrc 640x480@15
//! with Opus, and decoding every other participant's video. After everyone decodes everyone
//! and a warm-up, a 10 s window measures:
//! - the hub's CPU (utime+stime from /proc), as a share of one core;
//! - RTP packets forwarded a second (one per receiver);
//! - the hub's forwarding time per packet: from the packet reaching the forwarding loop to its
//!   hand-over to each receiver's connection (the `termcall_sfu_forward_seconds` histogram, read from
//!   `/metrics` before and after; p50/p99 interpolated inside its buckets). SRTP, the
//!   interceptors and the sockets on either side are not in it;
//! - the lowest video frame rate any client decoded of any participant;
//! - each client's video downlink (the hub's per-receiver figures), as headless clients that
//!   show full size receive it, and as TUIs in a 120x40 terminal would (each client says it
//!   shows 30x16 pixels of each other: a tile of a 3x3 grid there), which get the smallest
//!   simulcast layer.
//!
//! The clients share the two cores with the hub (each encodes once and decodes N-1 streams),
//! so the machine is busy and the figures include that contention.
//! `PARTIES=4,8` (default) picks the call sizes; `CLIP=320x240` sends a noisy clip of that size
//! instead of testsrc 640x480.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench sfu`

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::hub::{histogram_delta, quantile};
use termcall_tests::{cpu_ticks, Client, Hub, SOON};

const WARMUP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(10);

fn main() {
    let sizes: Vec<usize> = std::env::var("PARTIES").unwrap_or_else(|_| "4,8".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    // The hub logs at warn: a debug log of every negotiation would be measured too.
    // (Its address for /metrics is said at info.)
    std::env::set_var("TEST_HUB_LOG", "warn,termcall_hub=info");
    println!("group call through the hub on loopback (release, testsrc 640x480@15 as three simulcast layers + Opus each, {} s window):", WINDOW.as_secs());
    for n in sizes {
        for (label, view) in [("full size", None), ("120x40 TUI tiles", Some(TUI_TILE))] {
            let f = group_call(n.clamp(2, 8), view);
            println!(
                "  {n} parties, {label}: hub CPU {:.1}% of a core; {:.0} RTP packets forwarded/s; forwarding time p50 {:.3} ms p99 {:.3} ms \
                 ({} packets); lowest decoded rate {:.1} fps; video downlink per client {:.0} kbit/s",
                f.cpu_pct, f.forwarded_per_sec, f.p50_ms, f.p99_ms, f.samples, f.min_fps, f.downlink_kbps
            );
        }
    }
}

/// What a tile of a 3x3 grid shows in a 120x40 terminal, in half-block pixels.
const TUI_TILE: (u32, u32) = (30, 16);

struct Figures {
    cpu_pct: f64,
    forwarded_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    samples: u64,
    min_fps: f64,
    downlink_kbps: f64,
}

/// The video bytes the hub has forwarded to `receiver`, all layers.
fn video_bytes(hub: &Hub, receiver: &str) -> f64 {
    let page = hub.metrics_page();
    ["q", "h", "f"]
        .iter()
        .filter_map(|l| {
            let key = format!("termcall_sfu_receiver_layer_bytes_total{{receiver=\"{receiver}\",layer=\"{l}\"}} ");
            page.lines().find_map(|line| line.strip_prefix(&key)?.trim().parse::<f64>().ok())
        })
        .sum()
}

fn group_call(n: usize, view: Option<(u32, u32)>) -> Figures {
    // `CLIP=WxH`: every client sends a noisy clip of that size (testsrc's bars cost next to
    // nothing at any size, so they say little about what a layer saves).
    let (size, clip) = match std::env::var("CLIP") {
        Ok(wh) => {
            let (w, h) = wh.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))).expect("CLIP=WxH");
            (wh.clone(), Some(termcall_tests::media::noisy_clip(w, h, 150).display().to_string()))
        }
        Err(_) => ("640x480".to_owned(), None),
    };
    let hub = Hub::start_with(&["--max-group", "8"]);
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let mut clients: Vec<Client> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut args = vec!["--video-size", size.as_str(), "--fps", "15"];
            if let Some(clip) = &clip {
                args.extend(["--video", clip.as_str()]);
            }
            if i > 0 {
                args.push("--auto-accept");
            }
            Client::ready(&hub, name, &args)
        })
        .collect();
    clients[0].expect_roster_now("everyone online", SOON, |u| names[1..].iter().all(|n| u.iter().any(|x| x["name"] == *n)));
    clients[0].send(json!({"cmd":"call","to": names[1..]}));
    for c in clients.iter_mut() {
        c.expect_call("connected", Duration::from_secs(20));
    }
    for c in clients.iter_mut() {
        c.expect("every stream decoded", Duration::from_secs(30), |e| {
            e["event"] == "stats" && e["participants"].as_array().is_some_and(|p| p.len() == n - 1 && p.iter().all(|p| p["video"]["fps"].as_f64() > Some(0.0)))
        });
    }
    if let Some((width, height)) = view {
        for c in clients.iter_mut() {
            c.send(json!({"cmd":"view","width":width,"height":height}));
        }
    }
    std::thread::sleep(WARMUP);
    let bytes0: f64 = names.iter().map(|n| video_bytes(&hub, n)).sum();
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (cpu0, hist0, fwd0, t0) = (cpu_ticks(hub.pid()), hub.forward_histogram(), hub.metric("termcall_sfu_rtp_forwarded_total").unwrap_or(0.0), Instant::now());
    std::thread::sleep(WINDOW);
    let (cpu1, hist1, fwd1) = (cpu_ticks(hub.pid()), hub.forward_histogram(), hub.metric("termcall_sfu_rtp_forwarded_total").unwrap_or(0.0));
    let secs = t0.elapsed().as_secs_f64();
    let bytes1: f64 = names.iter().map(|n| video_bytes(&hub, n)).sum();
    let delta = histogram_delta(&hist1, &hist0);
    let total = delta.last().map_or(0.0, |d| d.1);
    let mut min_fps = f64::MAX;
    for c in clients.iter_mut() {
        let s = c.expect("a stats event", Duration::from_secs(3), |e| e["event"] == "stats");
        for p in s["participants"].as_array().into_iter().flatten() {
            min_fps = min_fps.min(p["video"]["fps"].as_f64().unwrap_or(0.0));
        }
    }
    Figures {
        cpu_pct: (cpu1 - cpu0) as f64 / ticks_per_sec / secs * 100.0,
        forwarded_per_sec: (fwd1 - fwd0) / secs,
        p50_ms: quantile(&delta, 0.50) * 1000.0,
        p99_ms: quantile(&delta, 0.99) * 1000.0,
        samples: total as u64,
        min_fps,
        downlink_kbps: (bytes1 - bytes0) * 8.0 / secs / 1000.0 / n as f64,
    }
}
