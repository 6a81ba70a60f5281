//! Images paced to the terminal link: termcall's demo (bob sends the test pattern) with
//! `--graphics kitty` on a pty whose other end, a fake kitty of the test's own, reads at most
//! 60 KB a second (a slow SSH link; a frame of the pattern is about 10 KB). termcall must send
//! fewer frames rather than queue them: no more handed to the terminal than it reads, ticks
//! skipped while the link is busy, and a key still answered at once.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use termcall_tests::{bin, scratch};

/// What the fake terminal reads a second at most.
const LINK: f64 = 60_000.0;

fn num(line: &str, key: &str) -> f64 {
    let v = line.split(&format!(" {key}=")).nth(1).unwrap_or_else(|| panic!("no {key} in {line}"));
    v.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{key} in {line}"))
}

fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn images_slow_down_to_what_a_slow_terminal_link_takes_and_keys_still_answer() {
    let (master, slave) = termcall_tests::pty::open(120, 40, (960, 640));
    let dir = scratch("tui-pacing");
    let mut child = std::process::Command::new(bin("termcall"))
        .args(["demo", "--graphics", "kitty"])
        .env("TERM", "xterm-kitty")
        .env("COLORTERM", "truecolor")
        .env("TMPDIR", &dir)
        .env("RUST_LOG", "warn,termcall=info")
        .env_remove("TMUX")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_TTY")
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("start termcall");
    let mut fake = std::fs::File::from(master);
    termcall_tests::pty::nonblocking(&fake);
    // The fake terminal: answers the query as kitty, then reads at LINK bytes a second.
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (screen, stop, mut fake) = (screen.clone(), stop.clone(), fake.try_clone().expect("dup"));
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut buf = vec![0u8; 4096];
            let (mut answered, mut taken) = (false, 0f64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
                // Bytes the link may carry by now.
                let allowed = if answered { (t0.elapsed().as_secs_f64() * LINK - taken).clamp(0.0, buf.len() as f64) as usize } else { buf.len() };
                if allowed == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                match fake.read(&mut buf[..allowed]) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut s = screen.lock().expect("screen");
                        s.extend_from_slice(&buf[..n]);
                        if !answered && position(&s, b"\x1b[c").is_some() {
                            fake.write_all(b"\x1b_Gi=31;OK\x1b\\\x1b[?62;c").expect("answer");
                            answered = true;
                            taken = t0.elapsed().as_secs_f64() * LINK;
                        } else if answered {
                            taken += n as f64;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    };
    let log = || std::fs::read_to_string(dir.join("termcall.log")).unwrap_or_default();
    let t0 = Instant::now();
    while log().matches("images written").count() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no images written in 60 s:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // A key while images flow: the help appears at once.
    let before = screen.lock().expect("screen").len();
    let pressed = Instant::now();
    fake.write_all(b"?").expect("key");
    let latency = loop {
        if position(&screen.lock().expect("screen")[before..], b"termcall keys").is_some() {
            break pressed.elapsed();
        }
        assert!(pressed.elapsed() < Duration::from_secs(10), "the help never appeared");
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = fake.write_all(b"?q");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let log = log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("images written")).collect();
    let (a, b) = (lines[lines.len() - 2], lines[lines.len() - 1]);
    let fps = (num(b, "sent") - num(a, "sent")) / 5.0;
    let bytes = (num(b, "bytes") - num(a, "bytes")) / 5.0;
    let skipped = num(b, "skipped") - num(a, "skipped");
    let drain = num(b, "drain_kbps") * 1000.0 / 8.0;
    eprintln!(
        "a link of {:.0} KB/s: {fps:.1} frames a second, images {:.1} KB/s ({:.0}% of the link), {skipped} ticks skipped, writes drained at {:.1} KB/s; a key answered in {latency:?}",
        LINK / 1e3,
        bytes / 1e3,
        bytes / LINK * 100.0,
        drain / 1e3
    );
    assert!(fps < 10.0, "{fps} frames a second cannot fit a {LINK} B/s link");
    assert!(fps >= 0.5, "images stopped: {fps} frames a second");
    // Handed to the terminal no faster than it reads: frames were skipped, not queued.
    assert!(bytes <= 1.05 * LINK, "images went at {bytes} B/s into a {LINK} B/s link: a queue");
    assert!(skipped >= 20.0, "no ticks skipped: {skipped}");
    assert!(latency < Duration::from_millis(1000), "a key took {latency:?} to show");
    assert!(!log.contains("panicked"), "{log}");
}
