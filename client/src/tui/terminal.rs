//! Taking over the terminal and always giving it back: on return, on SIGTERM, SIGINT, SIGQUIT
//! and SIGHUP (the loop stops and the guard drops), and on a panic in any thread (the hook
//! restores the terminal, prints the panic and exits: a UI half torn down is worse than none).

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::detect::{self, Answers};

/// The terminal as the TUI draws on it. Output is buffered and flushed once per frame.
pub type Term = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Whether the TUI holds the terminal now.
static ACTIVE: AtomicBool = AtomicBool::new(false);

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
/// ([`detect`]), and how long it took.
pub fn enter() -> io::Result<(Term, Guard, Answers, Duration)> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Guard;
    // Asked in raw mode (no echo: an answer never shows) before anything else reads stdin.
    let asked = Instant::now();
    let answers = ask(budget());
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
    let term = Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(1 << 16, io::stdout())))?;
    Ok((term, guard, answers, took))
}

/// How long the terminal has to answer: longer over SSH, where a round trip may take a while.
fn budget() -> Duration {
    let remote = std::env::var_os("SSH_CONNECTION").is_some() || std::env::var_os("SSH_TTY").is_some();
    Duration::from_millis(if remote { 4 * detect::BUDGET_MS } else { detect::BUDGET_MS })
}

/// Sends the query and reads the answers straight from stdin until DA1's is in or `budget`
/// has passed. Not a terminal on both ends: nothing asked.
fn ask(budget: Duration) -> Answers {
    let mut answers = Answers::default();
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return answers;
    }
    let mut out = io::stdout();
    if out.write_all(detect::QUERY).and_then(|()| out.flush()).is_err() {
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

/// Puts the terminal back as the shell had it. Safe to call more than once.
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(out, DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Rings the bell.
pub fn bell(term: &mut Term) {
    let w = term.backend_mut();
    let _ = w.write_all(b"\x07");
    let _ = w.flush();
}
