//! What the TUI asks the terminal, and what it makes of the answers. termcall runs on a pty whose
//! other end is a fake terminal of the test's own: it waits for the query (a kitty graphics
//! query and DA1), answers as kitty, as xterm with sixel, as a terminal that answers only DA1,
//! or not at all, and reads everything termcall writes. Each time: the right capabilities in
//! termcall's log, within the budget (250 ms when nothing answers), and no byte of the answers
//! back on the screen.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use termcall_tests::{bin, scratch, Hub};

/// What the fake terminal saw and termcall logged.
struct Seen {
    /// From the query to the answers' end, as termcall measured it.
    log: String,
    /// Everything termcall wrote after the query.
    screen: Vec<u8>,
}

/// A pty of 80x24: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let mut size = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes the two descriptors it opens; no name, default termios.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &mut size) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened and are owned here alone.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

const QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[c";

fn run(hub: &Hub, term: &str, answer: Option<&[u8]>) -> Seen {
    let (master, slave) = pty();
    let dir = scratch("tui-detect");
    let mut child = std::process::Command::new(bin("termcall"))
        .args(["--hub", &hub.url, "--name", "carol", "--video", "none", "--audio", "none"])
        .env("TERM", term)
        .env("COLORTERM", "truecolor")
        .env("TMPDIR", &dir)
        .env("RUST_LOG", "warn,termcall=info")
        .env_remove("TERM_PROGRAM")
        .env_remove("TMUX")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_TTY")
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("start termcall");
    let mut fake = std::fs::File::from(master);
    // Non-blocking reads, so that the fake terminal can wait with a deadline.
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&fake);
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
    }
    let read_for = |fake: &mut std::fs::File, out: &mut Vec<u8>, until: &dyn Fn(&[u8]) -> bool, within: Duration| {
        let t0 = Instant::now();
        let mut buf = [0u8; 4096];
        while t0.elapsed() < within && !until(out) {
            match fake.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    };
    let mut before = Vec::new();
    let has_query = |b: &[u8]| b.windows(QUERY.len()).any(|w| w == QUERY);
    read_for(&mut fake, &mut before, &has_query, Duration::from_secs(10));
    assert!(has_query(&before), "termcall never asked the terminal; it wrote {:?}", String::from_utf8_lossy(&before));
    if let Some(a) = answer {
        fake.write_all(a).expect("answer");
    }
    // The screen it then draws: the sign-in line at least.
    let mut screen = Vec::new();
    read_for(&mut fake, &mut screen, &|b| b.windows(5).any(|w| w == b"carol"), Duration::from_secs(5));
    read_for(&mut fake, &mut screen, &|_| false, Duration::from_millis(300));
    // Quit as a person would.
    fake.write_all(b"q").expect("q");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) && child.try_wait().ok().flatten().is_none() {
        let mut sink = Vec::new();
        read_for(&mut fake, &mut sink, &|_| false, Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("termcall.log")).unwrap_or_default();
    Seen { log, screen }
}

/// The value of `key=` on the log's "what the terminal can draw" line.
fn field<'a>(log: &'a str, key: &str) -> &'a str {
    let line = log.lines().find(|l| l.contains("what the terminal can draw")).unwrap_or_else(|| panic!("no detection line in the log:\n{log}"));
    let plain = line.split(&format!("{key}=")).nth(1).unwrap_or_else(|| panic!("no {key} in {line}"));
    let end = plain.find(|c: char| c.is_whitespace() || c == '\u{1b}').unwrap_or(plain.len());
    &plain[..end]
}

fn took_ms(log: &str) -> u64 {
    field(log, "took_ms").parse().expect("took_ms")
}

#[test]
fn the_tui_asks_the_terminal_and_reads_its_answers_right_within_the_budget() {
    let hub = Hub::start();
    let cases: [(&str, &str, Option<&[u8]>, [&str; 4]); 4] = [
        ("kitty", "xterm-kitty", Some(b"\x1b_Gi=31;OK\x1b\\\x1b[?62;c"), ["true", "true", "false", "Sextant"]),
        ("xterm with sixel", "xterm-256color", Some(b"\x1b[?63;1;2;4;6;9;15;22c"), ["true", "false", "true", "HalfBlock"]),
        ("DA1 only", "xterm-256color", Some(b"\x1b[?1;2c"), ["true", "false", "false", "HalfBlock"]),
        ("silent", "xterm-256color", None, ["false", "false", "false", "HalfBlock"]),
    ];
    for (what, term, answer, [answered, kitty, sixel, glyphs]) in cases {
        let seen = run(&hub, term, answer);
        let got = [field(&seen.log, "answered"), field(&seen.log, "kitty"), field(&seen.log, "sixel"), field(&seen.log, "glyphs")];
        let took = took_ms(&seen.log);
        eprintln!("{what}: answered {}, kitty {}, sixel {}, video in {} ({took} ms)", got[0], got[1], got[2], got[3]);
        assert_eq!(got, [answered, kitty, sixel, glyphs], "{what}");
        if answer.is_some() {
            assert!(took < 250, "{what}: answered, yet termcall waited {took} ms");
        } else {
            assert!((240..=400).contains(&took), "silent: termcall waited {took} ms, the budget is 250");
        }
        // The UI was drawn, and nothing of the answers came back on the screen.
        let text = String::from_utf8_lossy(&seen.screen);
        assert!(text.contains("carol"), "{what}: no UI drawn: {text:?}");
        for piece in ["Gi=31", "62;c", ";4;6", "?1;2c"] {
            assert!(!text.contains(piece), "{what}: {piece:?} on the screen");
        }
    }
}
