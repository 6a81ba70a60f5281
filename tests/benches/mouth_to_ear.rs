//! Benchmark: mouth-to-ear delay on loopback, through real sound devices without a sound card.
//! Two clients built with `sound` (release: `cargo build --release -p termcall --features sound
//! --target-dir target/sound`, and `cargo build --release --bins` for the hub) on a PulseAudio
//! daemon of the bench's own. A click train (CLICKS clicks of 5 ms at 1 kHz, 1 s apart; default
//! 20) is played into alice's microphone; both her microphone's sink and bob's speaker's sink
//! are recorded from their monitors on one clock, so each click's delay is from when it went
//! into the microphone to when bob's speaker played it: capture, the microphone's processing
//! (echo cancellation and the rest, on by default), Opus, the network stack on loopback, bob's
//! jitter buffer, and both devices' buffers. p50, p95 and the spread.
//!
//! `cargo bench -p termcall-tests --bench mouth_to_ear` (AEC=off for `--no-aec`)

use std::time::Duration;

use termcall_tests::sound::{onsets, sound_client, Pulse};
use termcall_tests::{scratch, Client, Hub};

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    Pulse::available().expect("this benchmark plays and records sound through PulseAudio");
    let clicks: usize = std::env::var("CLICKS").ok().and_then(|v| v.parse().ok()).unwrap_or(20).max(2);
    let aec = std::env::var("AEC").map_or(true, |v| v != "off");
    let wav = scratch("mouth-to-ear").join("clicks.wav");
    let ok = std::process::Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&wav)
        .args(["synth", "0.005", "sine", "1000", "vol", "0.5", "pad", "0", "0.995", "repeat", &(clicks - 1).to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sox could not make the click train");

    let pulse = Pulse::start(&["alice_mic", "bob_spk"]);
    let hub = Hub::start();
    let mut bob = Client::start_binary(&sound_client(), &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &["--auto-accept", "--video", "none", "--audio", "none"]);
    let mut alice_args = vec!["--video", "none", "--audio", "mic", "--no-speaker"];
    if !aec {
        alice_args.push("--no-aec");
    }
    let mut alice = Client::start_binary(&sound_client(), &pulse.env(Some("alice_mic.monitor"), None), &hub.url, "alice", &alice_args);
    alice.call_connected(&mut bob);
    bob.expect("alice's microphone", Duration::from_secs(5), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(50));

    let mut mouth = pulse.record("alice_mic.monitor");
    let mut ear = pulse.record("bob_spk.monitor");
    let (m0, e0) = (mouth.running(), ear.running());
    pulse.play("alice_mic", &wav);
    std::thread::sleep(Duration::from_millis(800));
    let jitter = bob.latest(&|e| e["event"] == "stats").map(|s| s["audio"]["jitter_ms"].clone());
    let (said, heard) = (mouth.stop(), ear.stop());
    // Each recording's samples on one clock: ms after the mouth's first sample.
    let shift_ms = e0.saturating_duration_since(m0).as_secs_f64() * 1000.0 - m0.saturating_duration_since(e0).as_secs_f64() * 1000.0;
    let said: Vec<f64> = onsets(&said).into_iter().map(|i| i as f64 / 48.0).collect();
    let heard: Vec<f64> = onsets(&heard).into_iter().map(|i| i as f64 / 48.0 + shift_ms).collect();
    let delays: Vec<f64> = said.iter().filter_map(|&s| heard.iter().map(|&h| h - s).filter(|d| (0.0..1000.0).contains(d)).reduce(f64::min)).collect();
    assert!(delays.len() * 10 >= clicks * 9, "only {} of {clicks} clicks were heard ({} found going in)", delays.len(), said.len());
    println!(
        "mouth to ear on loopback ({} of {clicks} clicks measured, echo cancellation {}): p50 {:.1} ms, p95 {:.1} ms, {:.1}–{:.1} ms; bob's audio jitter buffer {jitter:?} ms",
        delays.len(),
        if aec { "on" } else { "off" },
        pct(&delays, 0.5),
        pct(&delays, 0.95),
        pct(&delays, 0.0),
        pct(&delays, 1.0)
    );
}
