//! What the TUI asks the terminal, and what it makes of the answers. termcall runs on a pty whose
//! other end is a fake terminal of the test's own: it waits for the query (a kitty graphics
//! query and DA1), answers as kitty, as xterm with sixel, as a terminal that answers only DA1,
//! or not at all, and reads everything termcall writes. Each time: the right capabilities in
//! termcall's log, within the budget (250 ms when nothing answers), and no byte of the answers
//! back on the screen.

use std::io::{Read, Write};

use base64::Engine;
use std::process::Stdio;
use std::time::{Duration, Instant};

use termcall_tests::{bin, scratch, Hub};

/// What the fake terminal saw and termcall logged.
struct Seen {
    /// From the query to the answers' end, as termcall measured it.
    log: String,
    /// Everything termcall wrote after the query.
    screen: Vec<u8>,
    /// The query asked for a pixel through shared memory.
    shm: bool,
}

/// How the query starts (the kitty query) and ends (XTSMGRAPHICS, the cell size, DA1).
const QUERY_START: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\";
const QUERY_END: &[u8] = b"\x1b[?1;1;0S\x1b[16t\x1b[c";

fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn run(hub: &Hub, term: &str, answer: Option<&[u8]>) -> Seen {
    let (master, slave) = termcall_tests::pty::open(80, 24, (0, 0));
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
    termcall_tests::pty::nonblocking(&fake);
    let read_for = |fake: &mut std::fs::File,
                    out: &mut Vec<u8>,
                    until: &dyn Fn(&[u8]) -> bool,
                    within: Duration| {
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
    let has_query =
        |b: &[u8]| position(b, QUERY_START).is_some_and(|s| position(&b[s..], QUERY_END).is_some());
    read_for(&mut fake, &mut before, &has_query, Duration::from_secs(10));
    assert!(
        has_query(&before),
        "termcall never asked the terminal; it wrote {:?}",
        String::from_utf8_lossy(&before)
    );
    // On a local terminal the second kitty query's pixel is in shared memory, under a name of
    // termcall's own: it must be there while the terminal may read it.
    let text = String::from_utf8_lossy(&before).into_owned();
    let shm = text
        .split("\x1b_Gi=32,")
        .nth(1)
        .and_then(|q| q.split(';').nth(1))
        .and_then(|b| b.split('\x1b').next())
        .map(str::to_owned);
    let shm_name = shm.as_deref().map(|b64| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
        )
        .expect("a name")
    });
    if let Some(name) = &shm_name {
        assert!(
            std::path::Path::new(&format!("/dev/shm{name}")).exists(),
            "{name} is not in /dev/shm while the terminal is asked"
        );
    }
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
    if let Some(name) = &shm_name {
        assert!(
            !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
            "{name} left behind in /dev/shm"
        );
    }
    Seen {
        log,
        screen,
        shm: shm_name.is_some(),
    }
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
    // Answers, and what termcall must make of them: answered, kitty, sixel, cell size, video.
    let cases: [(&str, &str, Option<&[u8]>, [&str; 5]); 4] = [
        (
            "kitty",
            "xterm-kitty",
            Some(b"\x1b_Gi=31;OK\x1b\\\x1b_Gi=32;OK\x1b\\\x1b[6;18;9t\x1b[?62;c"),
            ["true", "true", "false", "Some((9,", "\"kitty\""],
        ),
        (
            "xterm with sixel",
            "xterm-256color",
            Some(b"\x1b[?1;0;1024S\x1b[?63;1;2;4;6;9;15;22c"),
            ["true", "false", "true", "None", "\"sixel\""],
        ),
        (
            "DA1 only",
            "xterm-256color",
            Some(b"\x1b[?1;2c"),
            ["true", "false", "false", "None", "\"halfblock\""],
        ),
        (
            "silent",
            "xterm-256color",
            None,
            ["false", "false", "false", "None", "\"halfblock\""],
        ),
    ];
    for (what, term, answer, want) in cases {
        let seen = run(&hub, term, answer);
        let got = [
            field(&seen.log, "answered"),
            field(&seen.log, "kitty"),
            field(&seen.log, "sixel"),
            field(&seen.log, "cell_px"),
            field(&seen.log, "video"),
        ];
        let took = took_ms(&seen.log);
        eprintln!(
            "{what}: answered {}, kitty {}, sixel {}, cell {}, video {} ({took} ms)",
            got[0], got[1], got[2], got[3], got[4]
        );
        assert_eq!(got, want, "{what}");
        assert!(
            seen.shm,
            "{what}: a local terminal is asked for a pixel through shared memory"
        );
        if what == "kitty" {
            assert_eq!(field(&seen.log, "kitty_shm"), "true");
        }
        if what == "xterm with sixel" {
            assert_eq!(field(&seen.log, "registers"), "1024");
        }
        if answer.is_some() {
            assert!(took < 250, "{what}: answered, yet termcall waited {took} ms");
        } else {
            assert!((240..=400).contains(&took), "silent: termcall waited {took} ms, the budget is 250");
        }
        // The UI was drawn, and nothing of the answers came back on the screen.
        let text = String::from_utf8_lossy(&seen.screen);
        assert!(text.contains("carol"), "{what}: no UI drawn: {text:?}");
        for piece in ["Gi=31", "Gi=32", "62;c", ";4;6", "?1;2c", "18;9t", "1024S"] {
            assert!(!text.contains(piece), "{what}: {piece:?} on the screen");
        }
    }
}
