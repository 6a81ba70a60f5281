//! A receiver's link drops mid-call and comes back: bob, alone in a network namespace, gets
//! alice's and carol's video through the hub at the top simulcast layer; his link falls to
//! 300 kbit/s each way (tc tbf), and the hub moves him to lower layers within 2 s, without a
//! frame he cannot decode; the limit lifts, and he is back on the top layer within 10 s.
//! (A file of its own: three clients encoding three layers each.)

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use termcall_tests::netns::{self, Link, ADDR_A, ADDR_B};
use termcall_tests::{participant, Client, Hub, SOON};

const SENDERS: [&str; 2] = ["alice", "carol"];
/// The top layer's width (320x240 sent: see `group_slow_link.rs`).
const TOP: u64 = 320;
const DOWN_WITHIN: Duration = Duration::from_secs(6);

/// bob's newest figures of each sender: (width, decode errors).
fn bobs_view(bob: &mut Client) -> Vec<(u64, u64)> {
    let s: Value = bob.latest(&|e| e["event"] == "stats").unwrap_or_else(|| bob.expect("stats", SOON, |e| e["event"] == "stats"));
    SENDERS
        .iter()
        .map(|n| participant(&s, n).map_or((0, 0), |p| (p["video"]["width"].as_u64().unwrap_or(0), p["video"]["decode_errors"].as_u64().unwrap_or(0))))
        .collect()
}

/// Waits until `pred` holds for bob's view of every sender; how long it took.
fn until(bob: &mut Client, what: &str, within: Duration, pred: impl Fn(u64) -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        if bobs_view(bob).iter().all(|(w, _)| pred(*w)) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < within, "bob: {what} not within {within:?}: {:?}", bobs_view(bob));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// When the hub last forwarded `receiver` a packet of a top layer (from its `/metrics`, read
/// every 100 ms for `watch`), counted from `since`; `None` if it still did at the end.
fn last_top_layer_packet(hub: &Hub, receiver: &str, since: Instant, watch: Duration) -> Option<Duration> {
    let name = format!("termcall_sfu_receiver_layer_packets_total{{receiver=\"{receiver}\",layer=\"f\"}}");
    let (mut count, mut last) = (None, Duration::ZERO);
    while since.elapsed() < watch {
        let t = since.elapsed();
        if let Some(n) = hub.metric(&name) {
            if count.is_some_and(|c| n > c) {
                last = t;
            }
            count = Some(n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still rising in the last second watched: never switched down.
    (since.elapsed().saturating_sub(last) > Duration::from_secs(1)).then_some(last)
}

#[test]
fn a_receiver_whose_link_drops_is_moved_down_at_once_and_back_up_when_it_returns() {
    netns::available().expect("this test makes network namespaces");
    let link = Link::new("ld").expect("test hosts");
    let clip = termcall_tests::media::noisy_clip(320, 240, 150);
    let clip = clip.to_str().expect("clip path");
    let hub = Hub::start_in(Some(&link.a), &format!("{ADDR_A}:0"), &["--dead-after-ms", "6000"]);
    let args = ["--video", clip, "--video-size", "320x240", "--stats-every", "250", "--auto-accept"];
    let mut alice = Client::start_in(Some(&link.a), ADDR_A, &hub.url, "alice", &args[..args.len() - 1]);
    let mut carol = Client::start_in(Some(&link.a), ADDR_A, &hub.url, "carol", &args);
    let mut bob = Client::start_in(Some(&link.b), ADDR_B, &hub.url, "bob", &args);
    for c in [&mut alice, &mut carol, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster_now("both online", SOON, |u| ["bob", "carol"].iter().all(|n| u.iter().any(|x| x["name"] == *n)));
    alice.send(json!({"cmd":"call","to":["bob","carol"]}));
    for c in [&mut alice, &mut carol, &mut bob] {
        c.expect_call("connected", Duration::from_secs(20));
    }
    until(&mut bob, "the top layer of both", Duration::from_secs(20), |w| w == TOP);
    std::thread::sleep(Duration::from_secs(2));
    let errors_before: u64 = bobs_view(&mut bob).iter().map(|(_, e)| e).sum();

    link.shape(Some(300)).expect("a 300 kbit/s bottleneck");
    let shaped = Instant::now();
    eprintln!("shaped at {}", termcall_tests::utc_now());
    let (down, hub_down) = std::thread::scope(|s| {
        let watcher = s.spawn(|| last_top_layer_packet(&hub, "bob", shaped, Duration::from_secs(5)));
        let down = until(&mut bob, "lower layers of both", Duration::from_secs(10), |w| w > 0 && w < TOP);
        (down, watcher.join().expect("the metrics watcher"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let errors_after: u64 = bobs_view(&mut bob).iter().map(|(_, e)| e).sum();

    link.shape(None).expect("the bottleneck lifted");
    eprintln!("lifted at {}", termcall_tests::utc_now());
    let up = until(&mut bob, "the top layer of both again", Duration::from_secs(30), |w| w == TOP);
    eprintln!(
        "300 kbit/s: the hub forwarded bob its last top-layer packet {hub_down:?} after the drop; bob decoded lower layers of both after {down:?} ({} frames he could not decode meanwhile); unlimited again: top layers after {up:?}",
        errors_after - errors_before
    );
    let hub_down = hub_down.expect("the hub still forwarded the top layer to bob 5 s after his link fell to 300 kbit/s");
    assert!(hub_down <= Duration::from_secs(2), "the hub moved bob down only {hub_down:?} after the drop");
    // The picture on the lower layers takes longer: his downlink's queue (360 ms at 300 kbit/s)
    // is full of the top layers when their keyframes come, and his own uplink, full too, holds
    // up his requests for new ones (see the README).
    assert!(down <= DOWN_WITHIN, "bob decoded lower layers only after {down:?}");
    assert_eq!(errors_after, errors_before, "bob got frames he could not decode while he was moved down");
    assert!(up <= Duration::from_secs(10), "bob was moved back up only after {up:?}");
}
