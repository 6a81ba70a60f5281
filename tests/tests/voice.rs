//! Voice through real sound devices without a sound card: two headless clients built with
//! `sound` (cpal and alsa-lib, as on a user's machine), each on a PulseAudio daemon of the
//! test's own (`termcall_tests::sound`). A sentence spoken by espeak-ng goes into alice's
//! microphone and must come out of bob's speaker recognisably: correlated with the original
//! above 0.8 once aligned (a quarter of a second at a time, as an ear follows a voice whose delay
//! moves), at the level it went in (within 3 dB); the delay, and how far it moved, are printed.

use std::time::Duration;

use serde_json::json;
use termcall_tests::sound::{find, follow, sound_client, speech, Pulse};
use termcall_tests::{scratch, Client, Hub, SOON};

#[test]
fn a_sentence_into_alices_microphone_comes_out_of_bobs_speaker() {
    Pulse::available().expect("this test plays and records sound through PulseAudio");
    let binary = sound_client();
    let pulse = Pulse::start(&["alice_mic", "alice_spk", "bob_spk"]);
    let wav = scratch("speech").join("speech.wav");
    let original = speech("The quick brown fox jumps over the lazy dog, and the terminal carries every word.", &wav);
    let hub = Hub::start();
    let mut bob = Client::start_binary(&binary, &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &["--auto-accept", "--video", "none", "--audio", "none"]);
    let mut alice = Client::start_binary(&binary, &pulse.env(Some("alice_mic.monitor"), Some("alice_spk")), &hub.url, "alice", &["--video", "none", "--audio", "mic", "--no-speaker"]);
    for c in [&mut alice, &mut bob] {
        c.expect("ready", SOON, |e| e["event"] == "ready");
    }
    alice.expect_roster("bob", SOON, |u| !u.is_empty());
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", Duration::from_secs(10));
    bob.expect("alice's microphone, silent so far", Duration::from_secs(5), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(50));

    // bob's speaker, recorded; the sentence goes into alice's microphone once that runs.
    let mut ear = pulse.record("bob_spk.monitor");
    let began = ear.running();
    let played = began.elapsed();
    pulse.play("alice_mic", &wav);
    std::thread::sleep(Duration::from_millis(1500));
    let heard = ear.stop();
    let m = find(&original, &heard, Duration::from_secs(3));
    let (pieces, moved) = follow(&original, &heard, &m);
    let delay_ms = (m.lag.as_secs_f64() - played.as_secs_f64()) * 1000.0;
    eprintln!(
        "alice's microphone to bob's speaker: correlation {pieces:.3} piece by piece ({:.3} over the first 3 s as one), level {:+.1} dB, \
         mouth to ear {delay_ms:.0} ms (paplay's start and PulseAudio's buffers included), the delay moved {:.0} ms over the sentence",
        m.correlation,
        m.level_db,
        moved.as_secs_f64() * 1000.0
    );
    assert!(pieces > 0.8, "the sentence is not recognisable at bob's speaker: {pieces:.3} piece by piece, {m:?}");
    assert!(m.level_db.abs() <= 3.0, "the level changed by {:.1} dB", m.level_db);
    assert!((0.0..500.0).contains(&delay_ms), "mouth to ear {delay_ms:.0} ms");
    let s = bob.expect("a stats line", SOON, |e| e["event"] == "stats");
    assert!(s["audio"]["level_dbov"].as_f64().is_some(), "{s}");
    // The speaker's device errors are rate-limited: not a line per period.
    let log = std::fs::read_to_string(&bob.log).unwrap_or_default();
    let warnings = log.lines().filter(|l| l.contains("WARN") && l.contains("speaker:")).count();
    assert!(warnings <= 3, "bob's log has {warnings} speaker warnings:\n{}", bob.log_tail(10));
}
