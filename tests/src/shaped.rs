//! A one-to-one call across a shaped link, measured second by second at the receiver: the test
//! and the benchmark of network adaptation share it. The sender (in namespace `a`, with the
//! hub) sends a noisy 640x480@15 clip that saturates any bitrate: termcall's alice, or Debian's
//! Chromium; bob (in `b`), a headless termcall, receives.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{peer_page, Browser};
use crate::netns::{Link, ADDR_A, ADDR_B};
use crate::{Client, Hub, SOON};

/// One second at the receiver (bob's `stats`) and the sender's view of it (alice's).
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Seconds since the call connected.
    pub at: f64,
    pub fps: f64,
    pub latency_ms: Option<f64>,
    /// Video received, kbit/s (RTP payload).
    pub kbps: f64,
    pub loss_pct: f64,
    pub width: u64,
    /// The sender's estimate and what it sent.
    pub bwe_kbps: f64,
    pub sent_kbps: f64,
    pub sent_width: u64,
    pub qp: f64,
    pub limitation: String,
    /// Loss on the way to bob as the sender's feedback says, before repairs.
    pub sent_loss_pct: f64,
    /// What holds the sender's estimate (delay, loss, remb, max).
    pub bwe_limit: String,
}

impl Second {
    fn from(at: f64, bob: &Value, alice: Option<&Value>) -> Second {
        let v = &bob["video"];
        let s = alice.map(|a| &a["sent"]);
        Second {
            at,
            fps: v["fps"].as_f64().unwrap_or(0.0),
            latency_ms: v["latency_ms"].as_f64(),
            kbps: v["kbps"].as_f64().unwrap_or(0.0),
            loss_pct: bob["loss_pct"].as_f64().unwrap_or(0.0),
            width: v["width"].as_u64().unwrap_or(0),
            bwe_kbps: s.and_then(|s| s["bwe_kbps"].as_f64()).unwrap_or(0.0),
            sent_kbps: s.and_then(|s| s["video_kbps"].as_f64()).unwrap_or(0.0),
            sent_width: s.and_then(|s| s["width"].as_u64()).unwrap_or(0),
            qp: s.and_then(|s| s["qp"].as_f64()).unwrap_or(0.0),
            sent_loss_pct: s.and_then(|s| s["loss_pct"].as_f64()).unwrap_or(0.0),
            bwe_limit: s.and_then(|s| s["bwe_limit"].as_str()).unwrap_or("").to_owned(),
            limitation: s.and_then(|s| s["quality_limitation"].as_str()).unwrap_or("").to_owned(),
        }
    }
}

impl std::fmt::Display for Second {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:4.0}s {:4.1} fps {:>6} ms {:6.0} kbps loss {:4.1}% {:4}w | sent {:6.0} kbps {:4}w qp {:2.0} bwe {:6.0} {}",
            self.at,
            self.fps,
            self.latency_ms.map_or("-".into(), |l| format!("{l:.0}")),
            self.kbps,
            self.loss_pct,
            self.width,
            self.sent_kbps,
            self.sent_width,
            self.qp,
            self.bwe_kbps,
            self.limitation
        )
    }
}

/// A call in progress across `link`: alice (or a browser) sends the clip, bob receives.
pub struct ShapedCall {
    pub hub: Hub,
    pub alice: Client,
    pub bob: Client,
    started: std::time::Instant,
}

/// The same, with Chromium as the sender.
pub struct BrowserCall {
    pub hub: Hub,
    pub browser: Browser,
    pub bob: Client,
    started: std::time::Instant,
}

impl BrowserCall {
    /// Starts the hub, bob and Chromium, which calls bob; returns once bob decodes video.
    pub fn start(link: &Link) -> BrowserCall {
        let clip = crate::media::noisy_clip(640, 480, 150);
        let hub = Hub::start_in(Some(&link.a), &format!("{ADDR_A}:0"), &[]);
        let mut bob = Client::start_in(Some(&link.b), ADDR_B, &hub.url, "bob", &["--auto-accept"]);
        bob.expect("ready", SOON, |e| e["event"] == "ready");
        let browser = Browser::chromium(&link.a, &peer_page(&format!("hub={}&name=chrome&call=bob", hub.url)), &clip);
        if bob.wait(Duration::from_secs(20), &|e| e["event"] == "call" && e["state"] == "connected").is_none() {
            panic!("Chromium's call never connected; its log:\n{}\nbob's:\n{}", browser.log_tail(30), bob.log_tail(30));
        }
        BrowserCall { hub, browser, bob, started: std::time::Instant::now() }
    }

    /// `n` seconds at the receiver, printed as they come.
    pub fn seconds(&mut self, n: usize, label: &str) -> Vec<Second> {
        (0..n)
            .map(|_| {
                let b = self.bob.expect("bob's stats", Duration::from_secs(4), |e| e["event"] == "stats");
                let s = Second::from(self.started.elapsed().as_secs_f64(), &b, None);
                eprintln!("[{label}] {s}");
                s
            })
            .collect()
    }
}

impl ShapedCall {
    /// Starts the hub and both clients and connects the call. `alice_args` are added to the
    /// sender's (the clip is already given).
    pub fn start(link: &Link, alice_args: &[&str]) -> ShapedCall {
        Self::start_with(link, alice_args, &[])
    }

    /// The same, with `bob_args` added to the receiver's.
    pub fn start_with(link: &Link, alice_args: &[&str], bob_args: &[&str]) -> ShapedCall {
        let clip = crate::media::noisy_clip(640, 480, 150);
        let clip = clip.to_str().expect("clip path");
        let hub = Hub::start_in(Some(&link.a), &format!("{ADDR_A}:0"), &[]);
        let mut args = vec!["--video", clip];
        args.extend_from_slice(alice_args);
        let mut alice = Client::start_in(Some(&link.a), ADDR_A, &hub.url, "alice", &args);
        let mut bob = Client::start_in(Some(&link.b), ADDR_B, &hub.url, "bob", &[&["--auto-accept"], bob_args].concat());
        for c in [&mut alice, &mut bob] {
            c.expect("ready", SOON, |e| e["event"] == "ready");
        }
        alice.expect_roster("bob", SOON, |u| !u.is_empty());
        alice.send(json!({"cmd":"call","to":"bob"}));
        alice.expect_call("connected", Duration::from_secs(10));
        bob.expect_call("connected", Duration::from_secs(10));
        ShapedCall { hub, alice, bob, started: std::time::Instant::now() }
    }

    /// The next second at the receiver, with the sender's matching report.
    pub fn next_second(&mut self) -> Second {
        let b = self.bob.expect("bob's stats", Duration::from_secs(4), |e| e["event"] == "stats");
        let a = self.alice.wait(Duration::from_secs(2), &|e| e["event"] == "stats");
        Second::from(self.started.elapsed().as_secs_f64(), &b, a.as_ref())
    }

    /// `n` seconds, printed as they come.
    pub fn seconds(&mut self, n: usize, label: &str) -> Vec<Second> {
        (0..n)
            .map(|_| {
                let s = self.next_second();
                eprintln!("[{label}] {s}");
                s
            })
            .collect()
    }
}

/// The median of some values (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The `p`-quantile (0..1) of some values (0 for none).
pub fn quantile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}
