//! The audio jitter buffer follows the network: bob's arrivals are made to vary by stopping his
//! process for 150 ms of every second (SIGSTOP, then SIGCONT: the packets of a stop wait in his
//! socket and come in a burst, as on a busy machine or a radio link that holds packets back),
//! and his `audio.jitter_ms` grows to cover them; once the stops end it comes back down, slowly,
//! to the 40 ms floor.

use std::time::{Duration, Instant};

use serde_json::Value;
use termcall_tests::{signal, Client, Hub, SOON};

fn jitter_ms(c: &mut Client) -> u64 {
    let s: Value = c.latest(&|e| e["event"] == "stats").unwrap_or_else(|| c.expect("stats", SOON, |e| e["event"] == "stats"));
    s["audio"]["jitter_ms"].as_u64().unwrap_or(0)
}

#[test]
fn the_audio_jitter_buffer_grows_with_bursty_arrivals_and_shrinks_when_they_calm() {
    let hub = Hub::start();
    let mut bob = Client::start(&hub, "bob", &["--auto-accept", "--video", "none", "--stats-every", "250"]);
    let mut alice = Client::start(&hub, "alice", &["--video", "none"]);
    alice.call_connected(&mut bob);
    bob.expect("alice's audio", Duration::from_secs(5), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(100));
    let calm = jitter_ms(&mut bob);

    // Six seconds of stops. (A stopped process writes no events: read them after each go.)
    let pid = bob.pid();
    let mut peak = 0;
    for _ in 0..6 {
        signal(pid, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(150));
        signal(pid, libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(850));
        peak = peak.max(jitter_ms(&mut bob));
    }
    // Calm again: down by 20 ms a second at most, to the floor.
    let t0 = Instant::now();
    let mut after = Vec::new();
    while t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_secs(1));
        after.push(jitter_ms(&mut bob));
        if after.last() == Some(&40) {
            break;
        }
    }
    eprintln!("bob's audio jitter buffer: {calm} ms calm, {peak} ms at most under 150 ms stops every second, then {after:?} a second apart");
    assert!(calm <= 60, "a calm loopback call waits {calm} ms");
    assert!(peak >= 130, "150 ms bursts should raise the target past 130 ms: {peak} ms");
    // A second or two after the last stop: down by some tens of ms, not back to the floor.
    assert!(after.first().is_some_and(|&a| a + 60 >= peak && a >= 100), "the target fell at once after the stops: {peak} then {after:?}");
    assert_eq!(after.last(), Some(&40), "back to the 40 ms floor within 15 s: {after:?}");
    assert!(after.windows(2).all(|w| w[0] <= w[1] + 25), "down 20 ms a second at most: {after:?}");
}
