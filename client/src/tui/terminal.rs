//! Taking over the terminal and always giving it back: on return, on SIGTERM, SIGINT, SIGQUIT
//! and SIGHUP (the loop stops and the guard drops), and on a panic in any thread (the hook
//! restores the terminal, prints the panic and exits: a UI half torn down is worse than none).

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

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
/// before its message is printed.
pub fn enter() -> io::Result<(Term, Guard)> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Guard;
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
    Ok((term, guard))
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
