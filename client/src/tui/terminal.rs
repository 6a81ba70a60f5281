//! Taking over the terminal and always giving it back: on return, on SIGTERM, SIGINT, SIGQUIT
//! and SIGHUP (the loop stops and the guard drops), and on a panic in any thread (the hook
//! restores the terminal, prints the panic and exits: a UI half torn down is worse than none).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::detect::{self, Answers};
use super::output::{Output, Writer};

/// The terminal as the TUI draws on it. Output is buffered, handed to the writer thread once per
/// frame ([`super::output`]).
pub type Term = Terminal<CrosstermBackend<Output>>;

/// Whether the TUI holds the terminal now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether kitty images were shown (they are removed when the terminal is given back).
static KITTY: AtomicBool = AtomicBool::new(false);

/// Video goes as kitty images: remove them all when the terminal is given back.
pub fn uses_kitty_images() {
    KITTY.store(true, Ordering::SeqCst);
}

/// Inside tmux (`TMUX` set): the outer terminal's name and whether passthrough is on, from tmux
/// itself (a second at most).
pub fn tmux() -> Option<detect::Tmux> {
    std::env::var_os("TMUX")?;
    let ask = |args: &[&str]| -> String {
        let child = std::process::Command::new("tmux")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output();
        child
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let outer_term = ask(&["display-message", "-p", "#{client_termname}"]);
    let passthrough = matches!(
        ask(&["show-options", "-gv", "allow-passthrough"]).as_str(),
        "on" | "all"
    );
    // The pane's place in the window, below a status line at the top.
    // Of our pane (`TMUX_PANE`), not whichever is active.
    let pane_id = std::env::var("TMUX_PANE").unwrap_or_default();
    let mut args = vec!["display-message", "-p"];
    if !pane_id.is_empty() {
        args.extend(["-t", pane_id.as_str()]);
    }
    args.push("#{pane_left} #{pane_top} #{status} #{status-position}");
    let place = ask(&args);
    let mut it = place.split_whitespace();
    let mut num = || it.next().and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
    let (left, top) = (num(), num());
    let status_on_top = place.ends_with(" top") && !place.contains(" off ");
    let pane = (left, top + u16::from(status_on_top));
    Some(detect::Tmux { outer_term, passthrough, pane })
}

/// Restores the terminal when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if ACTIVE.swap(false, Ordering::SeqCst) {
            restore();
        }
    }
}

/// Raw mode, the alternate screen, mouse and paste reporting; a panic restores the terminal
/// before its message is printed. Also what the terminal answered when asked what it can draw
/// ([`detect`]), how long it took, and the thread that writes to it.
pub fn enter(env: &detect::Env) -> io::Result<(Term, Guard, Answers, Duration, Writer)> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Guard;
    // Asked in raw mode (no echo: an answer never shows) before anything else reads stdin.
    let asked = Instant::now();
    let answers = ask(env, budget(env));
    let took = asked.elapsed();
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste, cursor::Hide)?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if ACTIVE.swap(false, Ordering::SeqCst) {
            restore();
            previous(info);
            std::process::exit(101);
        }
        previous(info);
    }));
    let output = Output::new(BufWriter::with_capacity(1 << 16, io::stdout()));
    let writer = output.writer();
    let term = Terminal::new(CrosstermBackend::new(output))?;
    Ok((term, guard, answers, took, writer))
}

/// How long the terminal has to answer: longer over SSH, where a round trip may take a while.
fn budget(env: &detect::Env) -> Duration {
    Duration::from_millis(if env.ssh {
        4 * detect::BUDGET_MS
    } else {
        detect::BUDGET_MS
    })
}

/// Sends the query and reads the answers straight from stdin until DA1's is in or `budget`
/// has passed. Not a terminal on both ends: nothing asked. On a local terminal outside tmux,
/// one query's pixel goes through shared memory (removed afterwards, read or not).
fn ask(env: &detect::Env, budget: Duration) -> Answers {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Answers::default();
    }
    let shm =
        (!env.ssh && env.tmux.is_none()).then(|| format!("/termcall-{}-query", std::process::id()));
    let shm = shm.filter(|name| super::image::kitty::write_shm(name, &[0, 0, 0]).is_ok());
    let answers = read_answers(&detect::query(shm.as_deref()), budget);
    if let Some(name) = shm {
        super::image::kitty::unlink_shm(&name);
    }
    answers
}

fn read_answers(query: &[u8], budget: Duration) -> Answers {
    let mut answers = Answers::default();
    let mut out = io::stdout();
    if out.write_all(query).and_then(|()| out.flush()).is_err() {
        return answers;
    }
    let deadline = Instant::now() + budget;
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd, on the stack for the whole call.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().clamp(1, 10_000) as libc::c_int) };
        if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if ready <= 0 {
            break;
        }
        // SAFETY: reads at most the buffer's length into it.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 || answers.feed(&buf[..n as usize]) {
            break;
        }
    }
    answers
}

/// A cell's size in pixels from the pty's window size (`TIOCGWINSZ`), when it says (xterm,
/// kitty, foot and most local terminals fill in the pixels; tmux and some SSH links do not).
pub fn cell_px_from_pty() -> Option<(u16, u16)> {
    let ws = crossterm::terminal::window_size().ok()?;
    if ws.width == 0 || ws.height == 0 || ws.columns == 0 || ws.rows == 0 {
        return None;
    }
    let (w, h) = (ws.width / ws.columns, ws.height / ws.rows);
    ((1..=512).contains(&w) && (1..=512).contains(&h)).then_some((w, h))
}

/// Puts the terminal back as the shell had it. Safe to call more than once.
pub fn restore() {
    let mut out = io::stdout();
    if KITTY.load(Ordering::SeqCst) {
        let _ = out.write_all(b"\x1b_Ga=d,d=A,q=2\x1b\\");
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Rings the bell.
pub fn bell(term: &mut Term) {
    let w = term.backend_mut();
    let _ = w.write_all(b"\x07");
    let _ = w.flush();
}
