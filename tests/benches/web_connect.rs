//! Benchmark: how soon a call with a browser connects, each way and through the hub's SFU.
//!
//! Debian's headless Chromium on one test host, headless termcall on another, the release hub
//! on a third (network namespaces on one LAN, as the tests). `CALLS` (default 20) calls each:
//! 1. the web client calls termcall (bob, auto-accept): the page's own clock, from the click
//!    on Call to its peer connection's `connected`;
//! 2. termcall (alice) calls Chromium (`tests/web/peer.html`, answering at once): alice's
//!    clock, from the `call` command to her `connected` event;
//! 3. the web client calls `echo` (its media through the hub's SFU): the page's clock.
//!
//! `cargo build --release --bins && cargo bench -p termcall-tests --bench web_connect`

use std::time::{Duration, Instant};

use serde_json::json;
use termcall_tests::browser::{peer_page, Browser};
use termcall_tests::netns::{self, Lan, LAN_BOB, LAN_CIDR, LAN_HUB};
use termcall_tests::{Client, Hub, SOON};

fn main() {
    std::env::set_var("TEST_HUB_LOG", "warn");
    netns::available().expect("this benchmark makes network namespaces");
    Browser::available().expect("this benchmark runs Chromium");
    let n: usize = std::env::var("CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let clip = termcall_tests::media::noisy_clip(320, 240, 30);
    println!("call → connected with Chromium, {n} calls each (release hub and termcall, Debian's Chromium, one LAN):");

    // 1 and 3: the web client.
    {
        let lan = Lan::new("wb1").expect("test hosts");
        let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
        let mut bob = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "bob", &["--auto-accept", "--video-size", "320x240"]);
        bob.expect("ready", SOON, |e| e["event"] == "ready");
        let url = hub.url.replace("ws://", "http://").trim_end_matches("/ws").to_owned() + "/";
        let (_browser, mut page) = Browser::driven(&lan.alice, &url, &clip);
        page.sign_in("carol");
        for (label, button) in [("the web client calls termcall", "#roster li[data-name='bob'] button.call"), ("the web client calls echo (through the SFU)", "#echo")] {
            let first = page.eval("termcall.connectTimes.length").as_u64().unwrap_or(0) as usize;
            let mut paths = Vec::new();
            for i in 0..n {
                page.click(button);
                page.wait_for("connected", Duration::from_secs(10), &format!("termcall.connectTimes.length > {}", first + i));
                paths.push(page.wait_for("a path", Duration::from_secs(3), "termcall.quality.path !== '—' && termcall.quality.path"));
                page.click("#hangup");
                page.wait_for("free again", SOON, "!termcall.call && [...document.querySelectorAll('#roster li.idle')].length > 0");
                if button.contains("bob") {
                    bob.expect_call("ended", SOON);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            let times: Vec<f64> = page.eval(&format!("termcall.connectTimes.slice({first})")).as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
            let relayed = paths.iter().filter(|p| *p == "relay").count();
            report(label, times, relayed);
        }
    }

    // 2: termcall calls Chromium.
    {
        let lan = Lan::new("wb2").expect("test hosts");
        let hub = Hub::start_in(Some(&lan.hub), &format!("{LAN_HUB}:0"), &["--allow-peer", LAN_CIDR]);
        let mut alice = Client::start_in(Some(&lan.bob), LAN_BOB, &hub.url, "alice", &["--video-size", "320x240"]);
        alice.expect("ready", SOON, |e| e["event"] == "ready");
        let _browser = Browser::chromium(&lan.alice, &peer_page(&format!("hub={}&name=chrome&answer=1", hub.url)), &clip);
        alice.expect_roster("chrome online", Duration::from_secs(20), |u| u.iter().any(|x| x["name"] == "chrome"));
        let (mut times, mut relayed) = (Vec::new(), 0);
        for _ in 0..n {
            let placed = Instant::now();
            alice.send(json!({"cmd":"call","to":"chrome"}));
            let connected = alice.expect_call("connected", Duration::from_secs(10));
            times.push(placed.elapsed().as_secs_f64() * 1000.0);
            relayed += usize::from(connected["path"] != "p2p");
            alice.send(json!({"cmd":"hangup"}));
            alice.expect_call("ended", SOON);
            std::thread::sleep(Duration::from_millis(300));
        }
        report("termcall calls Chromium", times, relayed);
    }
}

fn report(label: &str, mut ms: Vec<f64>, relayed: usize) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!("  {label:<44} p50 {:>4.0} ms  p95 {:>4.0} ms  min {:>4.0}  max {:>4.0}  ({} calls, {relayed} relayed)", at(0.5), at(0.95), ms[0], ms[ms.len() - 1], ms.len());
}
