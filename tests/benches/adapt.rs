//! Benchmark: network adaptation, termcall beside Chromium in the same run.
//!
//! For each link (300, 600, 1000 and 2000 kbit/s, and no bottleneck: tc tbf with an 8 KB burst
//! and a 150 ms queue, both directions, between two network namespaces) a one-to-one call
//! sends a noisy 640x480@15 clip that saturates any bitrate to a headless termcall receiver:
//! first from termcall (`--video clip.y4m`), then from Debian's Chromium
//! (`--use-file-for-fake-video-capture=clip.y4m`, calling from `tests/web/peer.html`). The
//! receiver's one-second reports from the 6th to the 30th second give: seconds at ≥ 10 fps,
//! median fps, capture-to-decode latency p50/p95 (from the senders' RTCP sender reports),
//! median received video bitrate, and link utilisation (received video and audio over the
//! link rate). Release build: `cargo build --release --bins` first; needs root and chromium.
//!
//! `cargo bench -p termcall-tests --bench adapt` (`RATES=300,600,none` for a subset, `SECS=25`,
//! `SENDERS=termcall` for one sender).

use termcall_tests::browser::Browser;
use termcall_tests::netns::{self, Link};
use termcall_tests::shaped::{median, quantile, BrowserCall, Second, ShapedCall};

struct Row {
    link: String,
    sender: &'static str,
    seconds: Vec<Second>,
    audio_kbps: f64,
}

impl Row {
    fn print(&self, rate: Option<u32>) {
        let s = &self.seconds;
        let ok = s.iter().filter(|x| x.fps >= 10.0).count();
        let fps = median(s.iter().map(|x| x.fps).collect());
        let lat: Vec<f64> = s.iter().filter_map(|x| x.latency_ms).collect();
        let kbps = median(s.iter().map(|x| x.kbps).collect());
        let util = rate.map_or("-".to_owned(), |r| format!("{:.0}%", 100.0 * (kbps + self.audio_kbps) / f64::from(r)));
        let (p50, p95) = if lat.is_empty() { ("-".into(), "-".into()) } else { (format!("{:.0}", quantile(lat.clone(), 0.5)), format!("{:.0}", quantile(lat, 0.95))) };
        println!("| {} | {} | {ok} / {} | {fps:.1} | {p50} / {p95} ms | {kbps:.0} | {util} |", self.link, self.sender, s.len());
    }
}

fn audio_of(bob: &termcall_tests::Client, n: usize) -> f64 {
    median(bob.seen.iter().rev().filter(|e| e["event"] == "stats").take(n).filter_map(|e| e["audio"]["kbps"].as_f64()).collect())
}

fn main() {
    netns::available().expect("this benchmark makes network namespaces");
    Browser::available().expect("this benchmark runs Chromium beside termcall");
    let rates: Vec<Option<u32>> = match std::env::var("RATES") {
        Ok(v) => v.split(',').map(|r| r.trim().parse().ok()).collect(),
        Err(_) => vec![Some(300), Some(600), Some(1000), Some(2000), None],
    };
    let secs: usize = std::env::var("SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    let senders: Vec<&'static str> = match std::env::var("SENDERS").as_deref() {
        Ok("termcall") => vec!["termcall"],
        Ok("chromium") | Ok("Chromium") => vec!["Chromium"],
        _ => vec!["termcall", "Chromium"],
    };
    let mut rows = Vec::new();
    for rate in &rates {
        let label = rate.map_or("no bottleneck".to_owned(), |r| format!("{r} kbit/s"));
        for &sender in &senders {
            let link = Link::new("bench").expect("test hosts");
            link.shape(*rate).expect("tbf");
            let tag = format!("{label}, {sender}");
            let (seconds, audio_kbps) = if sender == "termcall" {
                let mut call = ShapedCall::start(&link, &[]);
                call.seconds(5, &tag);
                let s = call.seconds(secs, &tag);
                (s, audio_of(&call.bob, secs))
            } else {
                let mut call = BrowserCall::start(&link);
                call.seconds(5, &tag);
                let s = call.seconds(secs, &tag);
                (s, audio_of(&call.bob, secs))
            };
            rows.push((*rate, Row { link: label.clone(), sender, seconds, audio_kbps }));
        }
    }
    println!();
    println!("| link | sender | seconds at ≥ 10 fps | median fps | latency p50 / p95 | median video kbit/s | link use |");
    println!("|---|---|---|---|---|---|---|");
    for (rate, row) in &rows {
        row.print(*rate);
    }
}
