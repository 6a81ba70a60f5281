//! Voice through real sound devices without a sound card: two headless clients built with
//! `sound` (cpal and alsa-lib, as on a user's machine), each on a PulseAudio daemon of the
//! test's own (`termcall_tests::sound`). A sentence spoken by espeak-ng goes into alice's
//! microphone and must come out of bob's speaker recognisably: correlated with the original
//! above 0.8 once aligned (a quarter of a second at a time, as an ear follows a voice whose delay
//! moves), at the level it went in (within 3 dB); the delay, and how far it moved, are printed.
//! That test sends the microphone unprocessed (`--no-aec`): it checks the device path, sample
//! by sample, and noise suppression and the high-pass filter reshape a waveform (correlation
//! 0.75–0.78 with them, though the words are as clear). The processing has tests of its own:
//! the echo is cancelled while the near end's voice keeps its level, and devices switch mid-call.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use termcall_tests::sound::{find, follow, onsets, sound_client, speech, Pulse};
use termcall_tests::{scratch, Client, Hub, SOON};

/// Sound is timed in real time: four calls at once, each with two clients processing their
/// microphones, starve one another on two cores and their playback breaks up (bob's sentence
/// came out at correlation 0.05 on a fresh clone). One call at a time.
static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn a_sentence_into_alices_microphone_comes_out_of_bobs_speaker() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Pulse::available().expect("this test plays and records sound through PulseAudio");
    let binary = sound_client();
    let pulse = Pulse::start(&["alice_mic", "alice_spk", "bob_spk"]);
    let wav = scratch("speech").join("speech.wav");
    let original = speech("The quick brown fox jumps over the lazy dog, and the terminal carries every word.", &wav);
    let hub = Hub::start();
    // bob names his speaker as `--list-devices` shows it; alice takes the default microphone.
    let mut bob = Client::start_binary(&binary, &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &["--auto-accept", "--video", "none", "--audio", "none", "--speaker", "pulse"]);
    let mut alice = Client::start_binary(&binary, &pulse.env(Some("alice_mic.monitor"), Some("alice_spk")), &hub.url, "alice", &["--video", "none", "--audio", "mic", "--no-speaker", "--no-aec"]);
    alice.call_connected(&mut bob);
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
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// What alice hears of one run of the echo test: the echo of her own sentence (its energy over
/// the stretch where it comes back), and bob's own sentence (matched, with its level).
struct Heard {
    echo_energy: f64,
    echo_db: f64,
    bob: termcall_tests::sound::Match,
    /// bob's sentence matched a quarter second at a time.
    bob_pieces: f64,
    erle_reported: Option<f64>,
}

/// One run: bob's speaker leaks into his microphone at -6 dB (a PulseAudio loopback). alice
/// says her sentence twice (the first lets a canceller learn the room), then bob says his.
/// `aec` is whether bob's microphone is processed (alice's never is: what she hears back is
/// what bob's side sends).
fn echo_run(aec: bool, hers: &std::path::Path, his: &std::path::Path, her_words: &[i16], his_words: &[i16]) -> Heard {
    let pulse = Pulse::start_with(&["alice_mic", "alice_spk", "bob_mic", "bob_spk"], &[("bob_spk", "bob_mic", 0.5)]);
    let hub = Hub::start();
    let mut bob_args = vec!["--auto-accept", "--video", "none", "--audio", "mic", "--stats-every", "500"];
    if !aec {
        bob_args.push("--no-aec");
    }
    let mut bob = Client::start_binary(&sound_client(), &pulse.env(Some("bob_mic.monitor"), Some("bob_spk")), &hub.url, "bob", &bob_args);
    let mut alice = Client::start_binary(&sound_client(), &pulse.env(Some("alice_mic.monitor"), Some("alice_spk")), &hub.url, "alice", &["--video", "none", "--audio", "mic", "--no-aec"]);
    alice.call_connected(&mut bob);
    bob.expect("alice's microphone", Duration::from_secs(5), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(50));

    let mut ear = pulse.record("alice_spk.monitor");
    let began = ear.running();
    pulse.play("alice_mic", hers);
    let second = began.elapsed();
    pulse.play("alice_mic", hers);
    std::thread::sleep(Duration::from_millis(1500));
    pulse.play("bob_mic", his);
    std::thread::sleep(Duration::from_millis(1000));
    let erle_reported = bob.latest(&|e| e["event"] == "stats").and_then(|s| s["sent"]["aec_erle_db"].as_f64());
    let heard = ear.stop();
    // The echo of the second sentence: from when it was played, through its length and a
    // second more (two trips through the hub and two speakers' buffers).
    let at = (second.as_secs_f64() * 48_000.0) as usize;
    let end = (at + her_words.len() + 48_000).min(heard.len());
    let echo_energy = heard[at.min(end)..end].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>().max(1.0);
    let original_energy = her_words.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>().max(1.0);
    let after = (at + her_words.len()).min(heard.len());
    let bob_heard = find(his_words, &heard[after..], Duration::from_secs(3));
    let (bob_pieces, _) = follow(his_words, &heard[after..], &bob_heard);
    Heard { echo_energy, echo_db: 10.0 * (echo_energy / original_energy).log10(), bob: bob_heard, bob_pieces, erle_reported }
}

/// Echo: bob's microphone hears his speaker at -6 dB. With his echo canceller on (the default),
/// alice's own sentence comes back to her at least 20 dB weaker than with `--no-aec`, while
/// bob's own sentence reaches her within 3 dB of its level without the canceller.
#[test]
fn with_echo_cancellation_alice_does_not_hear_herself_back_and_still_hears_bob() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Pulse::available().expect("this test plays and records sound through PulseAudio");
    let dir = scratch("echo");
    let (hers, his) = (dir.join("alice.wav"), dir.join("bob.wav"));
    let her_words = speech("Can you hear me? I am testing the echo of my own voice in this call.", &hers);
    let his_words = speech("Yes, I hear you well, and only you, not myself.", &his);
    let raw = echo_run(false, &hers, &his, &her_words, &his_words);
    let cancelled = echo_run(true, &hers, &his, &her_words, &his_words);
    let erle = 10.0 * (raw.echo_energy / cancelled.echo_energy).log10();
    eprintln!(
        "alice hears herself back at {:+.1} dB of her sentence without bob's canceller, {:+.1} dB with it: {erle:.1} dB taken off (bob's canceller reports {:?} dB); \
         bob's own sentence reaches her at {:+.1} dB (correlation {:.2}) without, {:+.1} dB (correlation {:.2}) with",
        raw.echo_db, cancelled.echo_db, cancelled.erle_reported, raw.bob.level_db, raw.bob_pieces, cancelled.bob.level_db, cancelled.bob_pieces
    );
    assert!(raw.echo_db > -15.0, "without the canceller the echo should be plain (-6 dB in the room): {:+.1} dB", raw.echo_db);
    assert!(erle >= 20.0, "the canceller took {erle:.1} dB off the echo; 20 dB at least");
    // Processed, bob's voice is reshaped by noise suppression and the high-pass filter (0.74
    // piece by piece, 0.96 without); a sentence not there scores under 0.2.
    assert!(raw.bob_pieces > 0.6 && cancelled.bob_pieces > 0.6, "bob's sentence was not found: {:.2} / {:.2}, {:?} / {:?}", raw.bob_pieces, cancelled.bob_pieces, raw.bob, cancelled.bob);
    assert!((cancelled.bob.level_db - raw.bob.level_db).abs() <= 3.0, "bob's own voice changed by {:+.1} dB with the canceller", cancelled.bob.level_db - raw.bob.level_db);
}

/// The level of `x`, dB relative to full scale (−∞ as −200).
fn dbfs(x: &[i16]) -> f64 {
    let ms = x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * (ms.max(1e-20) / 32768f64.powi(2)).log10()
}

/// Devices switched mid-call with the `devices` command, as the TUI's `d` and `o` keys send it:
/// the list names them, a name not there is refused with the ones there are (and the call goes
/// on), and once switched, alice's sentence goes in through her second microphone and comes out
/// of bob's second speaker, while her first microphone is no longer heard and his first speaker
/// is silent.
#[test]
fn the_microphone_and_the_speaker_are_switched_mid_call() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Pulse::available().expect("this test plays and records sound through PulseAudio");
    let pulse = Pulse::start(&["alice_mic", "alice_mic2", "bob_spk", "bob_spk2"]);
    pulse.alsa_device("mic2", "alice_mic2.monitor", "alice's second microphone");
    pulse.alsa_device("spk2", "bob_spk2", "bob's second speaker");
    let wav = scratch("switch").join("speech.wav");
    let words = speech("Now I am speaking into the other microphone.", &wav);
    let hub = Hub::start();
    let mut bob = Client::start_binary(&sound_client(), &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &["--auto-accept", "--video", "none", "--audio", "none"]);
    let mut alice = Client::start_binary(&sound_client(), &pulse.env(Some("alice_mic.monitor"), None), &hub.url, "alice", &["--video", "none", "--audio", "mic", "--no-speaker"]);
    alice.call_connected(&mut bob);
    bob.expect("alice's microphone", Duration::from_secs(5), |e| e["event"] == "stats" && e["audio"]["packets"].as_u64() >= Some(50));

    alice.send(json!({"cmd":"devices"}));
    let list = alice.expect("the device list", SOON, |e| e["event"] == "devices");
    let names = |key: &str| list[key].as_array().map(|a| a.iter().filter_map(|d| d["name"].as_str().map(str::to_owned)).collect::<Vec<_>>()).unwrap_or_default();
    assert!(names("microphones").iter().any(|n| n.ends_with("mic2")) && names("speakers").iter().any(|n| n.ends_with("spk2")), "{list}");
    assert_eq!(list["mic"], "default", "{list}");
    bob.send(json!({"cmd":"devices","speaker":"no-such-speaker"}));
    let refused = bob.expect("a wrong name refused", SOON, |e| e["event"] == "error");
    assert!(refused["code"] == "bad_device" && refused["message"].as_str().is_some_and(|m| m.contains("spk2")), "{refused}");

    alice.send(json!({"cmd":"devices","mic":"mic2"}));
    let now = alice.expect("the microphone switched", SOON, |e| e["event"] == "devices" && e["mic"] == "mic2");
    bob.send(json!({"cmd":"devices","speaker":"spk2"}));
    bob.expect("the speaker switched", SOON, |e| e["event"] == "devices" && e["speaker"] == "spk2");
    eprintln!("alice's devices now: {now}");
    std::thread::sleep(Duration::from_millis(500));

    let (mut old_ear, mut new_ear) = (pulse.record("bob_spk.monitor"), pulse.record("bob_spk2.monitor"));
    let began = new_ear.running();
    old_ear.running();
    // Into the microphone she left: nobody hears it.
    pulse.play("alice_mic", &wav);
    let second = began.elapsed();
    pulse.play("alice_mic2", &wav);
    std::thread::sleep(Duration::from_millis(1500));
    let (old, new) = (old_ear.stop(), new_ear.stop());
    // Nothing of the second sentence can come out before it went in.
    let split = (second.as_secs_f64() * 48_000.0) as usize;
    let (before, after) = new.split_at(split.min(new.len()));
    let m = find(&words, after, Duration::from_secs(3));
    let (pieces, _) = follow(&words, after, &m);
    eprintln!(
        "after the switch: the second microphone at the second speaker, correlation {pieces:.2} piece by piece, level {:+.1} dB; \
         the first microphone there {:.0} dBFS, the first speaker {:.0} dBFS",
        m.level_db,
        dbfs(before),
        dbfs(&old)
    );
    // alice's microphone is processed (noise suppression reshapes the waveform: 0.75–0.8 here,
    // where a sentence not there scores under 0.2).
    assert!(pieces > 0.6, "the sentence into the second microphone is not recognisable at the second speaker: {pieces:.2}, {m:?}");
    assert!(dbfs(before) < -60.0, "the first microphone is still heard: {:.0} dBFS", dbfs(before));
    assert!(dbfs(&old) < -60.0, "the first speaker still plays: {:.0} dBFS", dbfs(&old));
}

/// One run of the sync pattern from alice to bob (`lip_sync`: bob's default, or
/// `--no-lip-sync`): how much later each beep is heard than its flash is shown, ms, the first two
/// left out (the buffers settle); and bob's audio jitter buffer.
fn sync_run(lip_sync: bool) -> (Vec<f64>, Option<Value>) {
    let pulse = Pulse::start(&["bob_spk"]);
    let hub = Hub::start();
    let mut bob_args = vec!["--auto-accept", "--video", "none", "--audio", "none", "--stats-every", "100"];
    if !lip_sync {
        bob_args.push("--no-lip-sync");
    }
    let mut bob = Client::start_binary(&sound_client(), &pulse.env(None, Some("bob_spk")), &hub.url, "bob", &bob_args);
    let mut alice = Client::start(&hub, "alice", &["--video", "sync", "--audio", "sync", "--video-size", "320x240"]);
    alice.call_connected(&mut bob);
    bob.expect("alice's picture", Duration::from_secs(10), |e| e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() >= Some(15));

    let mut ear = pulse.record("bob_spk.monitor");
    let began = ear.running();
    // The recording's first sample on the wall clock, in Unix ms.
    let (now_i, now_s) = (std::time::Instant::now(), std::time::SystemTime::now());
    let began_ms = now_s.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0 - (now_i - began).as_secs_f64() * 1000.0;
    let mut flashes: Vec<u64> = Vec::new();
    while flashes.len() < 7 {
        let last = flashes.last().copied().unwrap_or(0);
        let s = bob.expect("the next flash shown", Duration::from_secs(4), |e| e["event"] == "stats" && e["video"]["flash_at_ms"].as_u64().is_some_and(|f| f > last));
        flashes.push(s["video"]["flash_at_ms"].as_u64().unwrap());
    }
    std::thread::sleep(Duration::from_millis(500));
    let jitter = bob.latest(&|e| e["event"] == "stats").map(|s| s["audio"]["jitter_ms"].clone());
    let heard = ear.stop();
    let beeps: Vec<f64> = onsets(&heard).into_iter().map(|i| began_ms + i as f64 / 48.0).collect();
    // Each flash against the beep nearest it.
    let offsets: Vec<f64> = flashes
        .iter()
        .filter(|&&f| f as f64 > began_ms + 100.0)
        .map(|&f| beeps.iter().map(|&b| b - f as f64).min_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(f64::INFINITY))
        .map(|o| (o * 10.0).round() / 10.0)
        .collect();
    assert!(offsets.len() >= 5, "too few flashes inside the recording: {offsets:?} ({} beeps found)", beeps.len());
    (offsets[2..].to_vec(), jitter)
}

/// Lip sync: alice sends the sync test pattern (a dark picture that flashes white, and a beep,
/// at the same instant every 2 s). bob's client shows the flashes (headless, it notes when in
/// `video.flash_at_ms`) and plays the beeps through his speaker, recorded from its PulseAudio
/// monitor. Every beep is heard within 45 ms of its flash being shown (ITU-R BT.1359's
/// threshold of detectability); with `--no-lip-sync` the picture runs ahead of the sound (the
/// test shows by how much).
#[test]
fn the_flash_and_the_beep_of_one_instant_are_played_within_45_ms_of_each_other() {
    let _turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Pulse::available().expect("this test plays and records sound through PulseAudio");
    let (apart, _) = sync_run(false);
    let (synced, jitter) = sync_run(true);
    eprintln!("the beep heard after its flash was shown, ms: {synced:?} with lip sync (bob's audio jitter buffer {jitter:?} ms), {apart:?} without");
    assert!(synced.iter().all(|o| o.abs() <= 45.0), "flash and beep more than 45 ms apart: {synced:?}");
}
