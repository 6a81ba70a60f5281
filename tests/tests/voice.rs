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
    // bob names his speaker as `--list-devices` shows it; alice takes the default microphone.
    let mut bob = Client::start_binary(&binary, &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &["--auto-accept", "--video", "none", "--audio", "none", "--speaker", "pulse"]);
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

/// `--list-devices` names the devices `--audio mic:NAME` and `--speaker NAME` take; a name that
/// is not there is refused at start with the ones that are; a build without sound says so.
#[test]
fn devices_are_listed_and_a_wrong_name_is_refused_with_the_right_ones() {
    Pulse::available().expect("this test lists sound devices through PulseAudio");
    let binary = sound_client();
    let pulse = Pulse::start(&["spk"]);
    let run = |bin: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).envs(pulse.env(Some("spk.monitor"), Some("spk"))).output().expect("run termcall");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, out, err) = run(&binary, &["--list-devices"]);
    eprintln!("{out}");
    assert_eq!(code, Some(0), "{err}");
    let (mics, speakers) = out.split_once("speakers").expect("two lists");
    assert!(mics.contains("microphones") && mics.contains("default"), "{out}");
    assert!(speakers.contains("default") && speakers.contains("(default)"), "{out}");
    let (code, _, err) = run(&binary, &["--hub", "ws://127.0.0.1:9/ws", "--name", "x", "--headless", "--audio", "mic:no-such-device"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no microphone named \"no-such-device\"; there are: ") && err.contains("default"), "{err}");
    let (code, _, err) = run(&termcall_tests::bin("termcall"), &["--list-devices"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("built without sound support"), "{err}");
}
