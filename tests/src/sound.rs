//! Sound without a sound card, in real time: a PulseAudio daemon of the test's own with null
//! sinks, which termcall built with `sound` reaches through the same cpal and alsa-lib code a
//! user's devices use (alsa-lib's `pulse` plugin). A sink's monitor is a microphone; a sink is
//! a speaker. Speech comes from espeak-ng (resampled by sox), goes in with `paplay` and is
//! recorded with `parec`, and is compared here. The daemon and its files go when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scratch;

/// The sample rate everything here is at.
pub const RATE: usize = 48_000;

/// A running PulseAudio daemon with null sinks.
pub struct Pulse {
    daemon: Child,
    pub dir: PathBuf,
}

/// A `parec` recording in progress.
pub struct Recording {
    child: Child,
    path: PathBuf,
    pub started: Instant,
}

/// What a recording holds of an original: how well it matches once aligned.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// Normalised cross-correlation at the best lag (1 is identical).
    pub correlation: f64,
    /// Where the original starts in the recording.
    pub lag: Duration,
    /// The recording's level minus the original's, dB, over the aligned stretch.
    pub level_db: f64,
}

impl Pulse {
    /// Whether the tools are installed (`scripts/setup` installs them).
    pub fn available() -> Result<(), String> {
        for tool in ["pulseaudio", "paplay", "parec", "espeak-ng", "sox"] {
            let ok = Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("{tool} is missing: run scripts/setup (it installs pulseaudio, pulseaudio-utils, libasound2-plugins, espeak-ng and sox)"));
            }
        }
        Ok(())
    }

    /// Starts a daemon with a mono 48 kHz null sink per name in `sinks`; waits for its socket.
    pub fn start(sinks: &[&str]) -> Pulse {
        Pulse::start_with(sinks, &[])
    }

    /// The same, with `leaks`: for each `(from, into, gain)`, what sink `from` plays is heard in
    /// sink `into` (a microphone's), `gain` times as loud, 20 ms later (a loopback from the
    /// monitor): a speaker a microphone hears.
    pub fn start_with(sinks: &[&str], leaks: &[(&str, &str, f64)]) -> Pulse {
        let dir = scratch("pulse");
        let mut cmd = Command::new("pulseaudio");
        cmd.args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disallow-module-loading"]);
        for s in sinks {
            cmd.args(["-L", &format!("module-null-sink sink_name={s} rate=48000 channels=1")]);
        }
        for (from, into, _) in leaks {
            cmd.args(["-L", &format!("module-loopback source={from}.monitor sink={into} latency_msec=20 source_dont_move=true sink_dont_move=true")]);
        }
        cmd.args(["-L", &format!("module-native-protocol-unix auth-anonymous=1 socket={}", dir.join("sock").display())]);
        let daemon = cmd
            .env("HOME", &dir)
            .env("XDG_RUNTIME_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pulse.log")).expect("pulse log"))
            .spawn()
            .expect("start pulseaudio");
        // alsa-lib's stock configuration, with PulseAudio as the default device.
        let stock = std::fs::read_to_string("/usr/share/alsa/alsa.conf").expect("alsa-lib's /usr/share/alsa/alsa.conf");
        std::fs::write(dir.join("alsa.conf"), format!("{stock}\npcm.!default {{ type pulse }}\nctl.!default {{ type pulse }}\n")).expect("alsa.conf");
        let pulse = Pulse { daemon, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pulse.dir.join("sock").exists() {
            assert!(Instant::now() < deadline, "PulseAudio did not start; its log:\n{}", std::fs::read_to_string(pulse.dir.join("pulse.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        for (from, into, gain) in leaks {
            pulse.set_leak_gain(from, into, *gain);
        }
        pulse
    }

    /// Adds an ALSA device `name` (as `--list-devices` shows it) that is PulseAudio's `device`
    /// (a sink, or a source such as `NAME.monitor`), for clients started after this.
    pub fn alsa_device(&self, name: &str, device: &str, description: &str) {
        use std::io::Write as _;
        let mut conf = std::fs::OpenOptions::new().append(true).open(self.dir.join("alsa.conf")).expect("alsa.conf");
        writeln!(conf, "pcm.{name} {{ type pulse device \"{device}\" hint {{ show on description \"{description}\" }} }}").expect("alsa.conf");
    }

    /// The environment of a client whose microphone is `source` and speaker `sink`.
    pub fn env(&self, source: Option<&str>, sink: Option<&str>) -> Vec<(String, String)> {
        let d = self.dir.display().to_string();
        let mut env = vec![
            ("HOME".to_owned(), d.clone()),
            ("XDG_RUNTIME_DIR".to_owned(), d.clone()),
            ("PULSE_SERVER".to_owned(), format!("unix:{d}/sock")),
            ("ALSA_CONFIG_PATH".to_owned(), format!("{d}/alsa.conf")),
        ];
        if let Some(s) = source {
            env.push(("PULSE_SOURCE".to_owned(), s.to_owned()));
        }
        if let Some(s) = sink {
            env.push(("PULSE_SINK".to_owned(), s.to_owned()));
        }
        env
    }

    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(name);
        c.envs(self.env(None, None)).stdin(Stdio::null()).stderr(Stdio::null());
        c
    }

    /// Plays a 48 kHz mono wav file into `sink`, in real time; returns when it is done.
    pub fn play(&self, sink: &str, wav: &Path) {
        let ok = self.tool("paplay").args(["-d", sink]).arg(wav).status().is_ok_and(|s| s.success());
        assert!(ok, "paplay into {sink} failed");
    }

    /// Starts recording `source` (a sink's monitor: `NAME.monitor`).
    pub fn record(&self, source: &str) -> Recording {
        let path = self.dir.join(format!("{source}.raw"));
        let out = std::fs::File::create(&path).expect("recording file");
        let child = self.tool("parec").args(["-d", source, "--rate=48000", "--channels=1", "--format=s16le", "--raw", "--latency-msec=10"]).stdout(out).spawn().expect("start parec");
        Recording { child, path, started: Instant::now() }
    }

    /// Sets the loopback from `from` into `into` to `gain` (linear).
    fn set_leak_gain(&self, from: &str, into: &str, gain: f64) {
        let text = |args: &[&str]| String::from_utf8_lossy(&self.tool("pactl").args(args).output().expect("pactl").stdout).to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The loopback module loaded with these arguments, and the sink input it owns.
            let modules = text(&["list", "short", "modules"]);
            let module = modules.lines().find(|l| l.contains("module-loopback") && l.contains(&format!("source={from}.monitor sink={into} "))).and_then(|l| l.split('\t').next().map(str::to_owned));
            let inputs = text(&["list", "sink-inputs"]);
            let input = module.and_then(|m| inputs.split("Sink Input #").skip(1).find(|b| b.lines().any(|l| l.trim() == format!("Owner Module: {m}"))).and_then(|b| b.split_whitespace().next().map(str::to_owned)));
            if let Some(idx) = input {
                let ok = self.tool("pactl").args(["set-sink-input-volume", &idx, &format!("{gain}")]).status().is_ok_and(|s| s.success());
                assert!(ok, "pactl could not set the loopback's volume");
                return;
            }
            assert!(Instant::now() < deadline, "no loopback from {from} into {into}:\n{modules}\n{inputs}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Recording {
    /// Waits until parec really records (it takes a moment to connect), and returns when, by
    /// the recording's own clock, it began: its first sample was taken that long before now.
    pub fn running(&mut self) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
            if bytes >= (RATE / 10 * 2) as u64 {
                self.started = Instant::now() - Duration::from_secs_f64(bytes as f64 / 2.0 / RATE as f64);
                return self.started;
            }
            assert!(Instant::now() < deadline, "parec never started recording");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops and returns the samples.
    pub fn stop(mut self) -> Vec<i16> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        samples(&std::fs::read(&self.path).expect("the recording"))
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn samples(raw: &[u8]) -> Vec<i16> {
    raw.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// `text` spoken by espeak-ng, as a 48 kHz mono wav file at `wav`; returns its samples.
pub fn speech(text: &str, wav: &Path) -> Vec<i16> {
    let spoken = wav.with_extension("espeak.wav");
    let ok = Command::new("espeak-ng").arg("-w").arg(&spoken).arg(text).status().is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng failed");
    let ok = Command::new("sox").arg(&spoken).args(["-r", "48000", "-c", "1", "-b", "16", "-e", "signed-integer"]).arg(wav).status().is_ok_and(|s| s.success());
    assert!(ok, "sox failed");
    let raw = std::fs::read(wav).expect("the wav file");
    // A canonical 44-byte header: sox writes one for plain 16-bit PCM.
    samples(&raw[44.min(raw.len())..])
}

/// Finds `original` in `recording`: a coarse search on 10 ms energy envelopes, then sample by
/// sample within 15 ms of it, over the first `window` of the original.
pub fn find(original: &[i16], recording: &[i16], window: Duration) -> Match {
    let n = (window.as_secs_f64() * RATE as f64) as usize;
    let a = &original[..n.min(original.len())];
    let frame = RATE / 100;
    let envelope = |x: &[i16]| -> Vec<f64> { x.chunks(frame).map(|c| c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>().sqrt()).collect() };
    let (ea, er) = (envelope(a), envelope(recording));
    let mut coarse = (f64::MIN, 0usize);
    for lag in 0..er.len().saturating_sub(ea.len()) {
        let c = normalised(&ea, &er[lag..lag + ea.len()]);
        if c > coarse.0 {
            coarse = (c, lag);
        }
    }
    let centre = coarse.1 * frame;
    let best = search(a, recording, centre, RATE * 15 / 1000);
    let seg = &recording[best.1..best.1 + a.len()];
    let energy = |x: &[i16]| x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>().max(1.0);
    Match { correlation: best.0, lag: Duration::from_secs_f64(best.1 as f64 / RATE as f64), level_db: 10.0 * (energy(seg) / energy(a)).log10() }
}

/// The same, piece by piece: each 250 ms of the original that is not silence is aligned on its
/// own (within 25 ms of the piece before), as a listener's ear follows a voice whose delay
/// moves (a speaker that ran dry and waited for its cushion again). Returns the pieces'
/// correlations, weighted by their energy, and how far the delay moved over the sentence.
pub fn follow(original: &[i16], recording: &[i16], whole: &Match) -> (f64, Duration) {
    let piece = RATE / 4;
    let span = RATE * 25 / 1000;
    let mut lag = (whole.lag.as_secs_f64() * RATE as f64) as usize;
    let (first, mut last) = (lag, lag);
    let (mut sum, mut weight) = (0.0, 0.0);
    for (i, p) in original.chunks_exact(piece).enumerate() {
        let energy = p.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        if energy / (piece as f64) < 300.0f64.powi(2) {
            continue; // a pause: nothing to align on
        }
        let at = i * piece;
        let best = search(p, &recording[at.min(recording.len())..], lag, span);
        if best.0 == f64::MIN {
            break; // the recording ends here
        }
        lag = best.1;
        last = lag;
        sum += best.0 * energy;
        weight += energy;
    }
    let moved = Duration::from_secs_f64(last.abs_diff(first) as f64 / RATE as f64);
    (if weight > 0.0 { sum / weight } else { 0.0 }, moved)
}

/// The lag within `span` of `around` where `a` best matches `b`, and the normalised
/// correlation there: every lag on every 4th sample first, then every sample near the best.
fn search(a: &[i16], b: &[i16], around: usize, span: usize) -> (f64, usize) {
    let score = |lag: usize, step: usize| -> Option<f64> {
        let seg = b.get(lag..lag + a.len())?;
        let (mut dot, mut na, mut nb) = (0i64, 0i64, 0i64);
        for i in (0..a.len()).step_by(step) {
            let (x, y) = (i64::from(a[i]), i64::from(seg[i]));
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        Some(if na == 0 || nb == 0 { 0.0 } else { dot as f64 / ((na as f64).sqrt() * (nb as f64).sqrt()) })
    };
    let mut best = (f64::MIN, around);
    for lag in (around.saturating_sub(span)..around + span).step_by(2) {
        match score(lag, 4) {
            Some(c) if c > best.0 => best = (c, lag),
            Some(_) => {}
            None => break,
        }
    }
    let rough = best.1;
    best.0 = f64::MIN;
    for lag in rough.saturating_sub(2)..=rough + 2 {
        if let Some(c) = score(lag, 1).filter(|c| *c > best.0) {
            best = (c, lag);
        }
    }
    best
}

fn normalised(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (a.iter().map(|x| x * x).sum::<f64>().sqrt(), b.iter().map(|x| x * x).sum::<f64>().sqrt());
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}


/// The termcall binary built with `sound` (`scripts/test` builds it into `target/sound`), or
/// `TERMCALL_SOUND_BIN`.
pub fn sound_client() -> PathBuf {
    if let Some(p) = std::env::var_os("TERMCALL_SOUND_BIN") {
        return PathBuf::from(p);
    }
    let plain = crate::bin("termcall");
    // target/debug/termcall -> target/sound/debug/termcall
    let profile = plain.parent().expect("profile dir");
    let target = profile.parent().expect("target dir");
    let path = target.join("sound").join(profile.file_name().expect("profile name")).join("termcall");
    assert!(path.exists(), "{} is missing: build it with `cargo build -p termcall --features sound --target-dir target/sound` (scripts/test does)", path.display());
    path
}

/// Where beeps begin in a recording, as sample indices: the first sample over a thirtieth of
/// full scale after at least 300 ms under it, if a tenth of full scale follows within 10 ms.
pub fn onsets(x: &[i16]) -> Vec<usize> {
    let (mut out, mut quiet_since) = (Vec::new(), 0usize);
    for (i, &s) in x.iter().enumerate() {
        if s.unsigned_abs() <= 1092 {
            continue;
        }
        let loud = x[i..(i + 480).min(x.len())].iter().any(|s| s.unsigned_abs() > 3277);
        if i - quiet_since >= 48_000 * 3 / 10 && loud {
            out.push(i);
        }
        quiet_since = i + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delayed_quieter_copy_is_found_with_its_delay_and_level() {
        // 1 s of a chirp-like signal, then the same 0.25 s later at half the amplitude.
        let original: Vec<i16> = (0..RATE).map(|i| ((i as f64 * i as f64 * 1e-6).sin() * 8000.0) as i16).collect();
        let mut recording = vec![0i16; RATE / 4];
        recording.extend(original.iter().map(|&s| s / 2));
        recording.extend(vec![0i16; RATE / 2]);
        let m = find(&original, &recording, Duration::from_millis(800));
        assert!(m.correlation > 0.99, "{m:?}");
        assert_eq!(m.lag, Duration::from_millis(250));
        assert!((m.level_db + 6.02).abs() < 0.1, "{m:?}");
    }
}
