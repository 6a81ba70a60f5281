//! Real pixels in real terminals: termcall's demo (a call with bob, who sends the test pattern)
//! runs in a real terminal on a virtual X screen, with `--graphics auto`, so the terminal's own
//! answers choose the protocol. Then, from a screenshot: the test pattern's bars where termcall
//! says it placed the picture, in the right colours and order; from termcall's log: frames
//! written at 15 a second, none held back by a busy terminal, no write that blocked long; and a
//! second screenshot that shows a newer frame.
//!
//! - xterm as a VT340 (Debian's xterm): sixel, 256 colour registers; its cell (1,1) is 3 pixels
//!   in from the screen's corner (the window at +1+1, a border of 2).
//! - xterm again, with termcall inside tmux (right of another pane, `allow-passthrough` on,
//!   `--graphics sixel`): the image goes through tmux's passthrough, to the pane's place.
//! - kitty (Debian's 0.26, on Mesa's software OpenGL): the kitty graphics protocol, frames
//!   through shared memory; nothing of ours is left in /dev/shm afterwards.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use termcall_tests::xvfb::{Shot, Xvfb};
use termcall_tests::{bin, scratch};

/// The test pattern's bars, left to right (testsrc's first seven; the eighth is black).
const BARS: [[u8; 3]; 7] = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]];

struct Terminal {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("termcall.log")).unwrap_or_default()
    }

    /// Waits until termcall's log has `n` lines with `what`.
    fn wait_log(&self, what: &str, n: usize, within: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let log = self.log();
            if log.matches(what).count() >= n {
                return log;
            }
            assert!(t0.elapsed() < within, "no {n} × {what:?} in termcall's log within {within:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Starts `terminal` (its arguments before `-e`) running `termcall demo --graphics auto`, a
/// second after the terminal (as a person starts it in a terminal already open: a terminal on
/// a software renderer takes a moment to draw its first frame).
/// With `tmux` (a server name), termcall runs inside tmux, in the right pane of two (the left one
/// 30 columns), with `allow-passthrough` on and `--graphics sixel`.
fn start(x: &Xvfb, terminal: &[&str], label: &str, tmux: Option<&str>) -> Terminal {
    let dir = scratch(label);
    let (prog, args) = terminal.split_first().expect("a terminal");
    let termcall = bin("termcall").display().to_string();
    let inner: Vec<String> = match tmux {
        None => ["sh", "-c", &format!("sleep 1; exec {termcall} demo --graphics auto")].map(String::from).to_vec(),
        Some(server) => {
            let script = format!("tmux -L {server} set -g allow-passthrough on; tmux -L {server} split-window -hb -l 30 'sleep 600'; sleep 1; exec {termcall} demo --graphics sixel");
            ["tmux", "-L", server, "-f", "/dev/null", "new-session", &script].map(String::from).to_vec()
        }
    };
    let child = Command::new(prog)
        .args(args)
        .arg("-e")
        .args(&inner)
        .env("DISPLAY", &x.display)
        .env("TMPDIR", &dir)
        .env("RUST_LOG", "warn,termcall=info")
        .env_remove("TMUX")
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_TTY")
        .env_remove("TERM_PROGRAM")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {prog}: {e}"));
    Terminal { child, dir }
}

/// `key=value` numbers on a log line.
fn num(line: &str, key: &str) -> f64 {
    let v = line.split(&format!(" {key}=")).nth(1).unwrap_or_else(|| panic!("no {key} in {line}"));
    v.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{key} in {line}"))
}

/// The cell size termcall found, from its detection line.
fn cell_px(log: &str) -> (usize, usize) {
    let line = log.lines().find(|l| l.contains("what the terminal can draw")).expect("detection line");
    let v = line.split("cell_px=Some((").nth(1).unwrap_or_else(|| panic!("no cell size: {line}"));
    let mut it = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse::<usize>().expect("number"));
    (it.next().expect("w"), it.next().expect("h"))
}

/// The largest picture placed (the peer's): its cells (x, y, cols, rows).
fn placed(log: &str) -> (usize, usize, usize, usize) {
    log.lines()
        .filter(|l| l.contains("image placed"))
        .map(|l| (num(l, "x") as usize, num(l, "y") as usize, num(l, "cols") as usize, num(l, "rows") as usize))
        .max_by_key(|p| p.2 * p.3)
        .expect("an image placed")
}

fn close(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= tol)
}

/// Checks the bars in `shot` inside the picture at pixel rect (left, top, width, height): at a
/// quarter and at three quarters of each bar's width, a third of the way down.
fn assert_bars(shot: &Shot, (left, top, width, height): (usize, usize, usize, usize), what: &str) {
    let y = top + height / 3;
    for (i, want) in BARS.iter().enumerate() {
        for frac in [0.25, 0.75] {
            let x = left + ((i as f64 + frac) * width as f64 / 8.0) as usize;
            let got = shot.at(x, y);
            assert!(close(got, *want, 48), "{what}: bar {i} at ({x}, {y}) is {got:?}, not {want:?}");
        }
    }
    // Outside the picture, left of it: not a bar's colour (the picture is where it was placed).
    if left > 4 {
        let got = shot.at(left - 4, y);
        assert!(!close(got, BARS[0], 48), "{what}: white left of the picture at ({}, {y}): it is not where termcall placed it", left - 4);
    }
}

/// The picture's pixel rect: the cells termcall placed it in, from cell (1,1)'s pixel `origin`
/// on the screen; sixel at its own size, kitty over its cells.
fn picture_rect(log: &str, origin: (usize, usize)) -> (usize, usize, usize, usize) {
    let (cw, ch) = cell_px(log);
    let (x, y, cols, rows) = placed(log);
    let line = log.lines().filter(|l| l.contains("image placed")).max_by_key(|l| (num(l, "cols") * num(l, "rows")) as u64).expect("placed");
    let (pw, ph) = if line.contains("Sixel") { (num(line, "width") as usize, num(line, "height") as usize) } else { (cols * cw, rows * ch) };
    (origin.0 + x * cw, origin.1 + y * ch, pw, ph)
}

/// `origin`: where the terminal's cell (1,1) is on the screen, in pixels.
fn check(terminal: &[&str], label: &str, protocol: &str, origin: (usize, usize), tmux: Option<&str>) {
    let x = Xvfb::start(1024, 700);
    let t = start(&x, terminal, label, tmux);
    // Two of the 5 s lines about images written: at least 5 s of video.
    let log = t.wait_log("images written", 2, Duration::from_secs(60));
    let detect = log.lines().find(|l| l.contains("what the terminal can draw")).expect("detection");
    assert!(detect.contains(&format!("video=\"{protocol}\"")), "{label}: auto did not choose {protocol}: {detect}");
    let shot = x.screenshot();
    shot.save(&t.dir.join("screen.ppm"));
    let rect = picture_rect(&log, origin);
    eprintln!("{label}: {detect}\n{label}: the peer's picture at {rect:?} (pixels: left, top, width, height); screenshots in {}", t.dir.display());
    assert_bars(&shot, rect, label);
    // The frame rate, and no write that waited for the terminal.
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("images written")).collect();
    let (a, b) = (lines[lines.len() - 2], lines[lines.len() - 1]);
    let fps = (num(b, "sent") - num(a, "sent")) / 5.0;
    let skipped = num(b, "skipped") - num(a, "skipped");
    let longest = num(b, "longest_write_ms");
    eprintln!("{label}: {fps:.1} image writes a second over the last 5 s, {skipped} ticks skipped (link busy), longest write {longest:.1} ms");
    assert!(fps >= 13.5, "{label}: only {fps} frames a second reached the terminal");
    assert!(skipped <= 5.0, "{label}: the terminal fell behind: {skipped} frames held back in 5 s");
    assert!(longest < 60.0, "{label}: a write waited {longest} ms for the terminal");
    // A newer frame a moment later: the picture moves (the pattern's box and counter).
    std::thread::sleep(Duration::from_millis(700));
    let later = x.screenshot();
    later.save(&t.dir.join("screen-later.ppm"));
    let (l, tp, w, h) = rect;
    let changed = (tp + h * 2 / 3..tp + h).step_by(2).flat_map(|y| (l..l + w).step_by(2).map(move |x| (x, y))).filter(|&(x, y)| !close(shot.at(x, y), later.at(x, y), 24)).count();
    assert!(changed > 20, "{label}: the picture did not change in 0.7 s ({changed} pixels moved)");
    assert_bars(&later, rect, label);
    // No panic.
    assert!(!t.log().contains("panicked"), "{label}: {}", t.log());
}

/// Our shared-memory objects now in /dev/shm.
fn ours_in_shm() -> Vec<String> {
    std::fs::read_dir("/dev/shm").map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("termcall-")).collect()).unwrap_or_default()
}

#[test]
fn kitty_shows_the_call_in_kitty_graphics_through_shared_memory() {
    let before = ours_in_shm();
    check(
        &[
            "env",
            "LIBGL_ALWAYS_SOFTWARE=1",
            "kitty",
            "--config",
            "NONE",
            "-o",
            "font_size=10",
            "-o",
            "window_padding_width=0",
            "-o",
            "initial_window_width=900",
            "-o",
            "initial_window_height=600",
            "-o",
            "remember_window_size=no",
            "-o",
            "linux_display_server=x11",
        ],
        "kitty",
        "kitty",
        (0, 0),
        None,
    );
    // termcall quits on the terminal's hangup and removes what kitty did not read.
    let t0 = Instant::now();
    let left = loop {
        let left: Vec<String> = ours_in_shm().into_iter().filter(|n| !before.contains(n)).collect();
        if left.is_empty() || t0.elapsed() > Duration::from_secs(5) {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

#[test]
fn xterm_shows_the_call_in_sixel() {
    check(&["xterm", "-ti", "vt340", "-xrm", "XTerm*numColorRegisters: 256", "-fn", "fixed", "-geometry", "120x40+0+0"], "xterm-sixel", "sixel", (3, 3), None);
}

/// Stops a tmux server of the test's own.
struct TmuxServer(String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).stderr(Stdio::null()).status();
    }
}

#[test]
fn inside_tmux_sixel_goes_through_its_passthrough_to_the_pane() {
    let server = TmuxServer(format!("termcall-graphics-{}", std::process::id()));
    // termcall's pane starts at column 31 (30 columns, then the border): 3 + 31 * 6 pixels in.
    check(&["xterm", "-ti", "vt340", "-xrm", "XTerm*numColorRegisters: 256", "-fn", "fixed", "-geometry", "120x40+0+0"], "tmux-xterm-sixel", "sixel", (3 + 31 * 6, 3), Some(&server.0));
}
