//! A terminal for the TUI tests: a tmux server of our own (its own socket, no user config),
//! driven with `send-keys` and read with `capture-pane -e`, as a person at a terminal would.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::scratch;

/// A tmux server with one window running a shell; killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `bash` in a `w`x`h` window, with `env` set for it.
    pub fn start(w: u16, h: u16, env: &[(&str, &str)]) -> Tmux {
        let dir = scratch("tmux");
        let socket = dir.join("sock").display().to_string();
        let t = Tmux { socket };
        let mut cmd = vec!["-f".to_string(), "/dev/null".into(), "new-session".into(), "-d".into(), "-x".into(), w.to_string(), "-y".into(), h.to_string()];
        for (k, v) in env {
            cmd.extend(["-e".into(), format!("{k}={v}")]);
        }
        cmd.extend(["bash --norc --noprofile".into()]);
        t.run(&cmd.iter().map(String::as_str).collect::<Vec<_>>()).expect("start tmux (is it installed? scripts/setup installs it)");
        // A plain prompt, so captures are predictable.
        t.type_line("PS1='$ '; clear");
        t
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().map_err(|e| format!("tmux: {e}"))?;
        if !out.status.success() {
            return Err(format!("tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Types text literally, then Enter.
    /// Opens termcall's TUI as `name` against `hub` in a shell in a 120x40 truecolor tmux;
    /// the shell prints `EXITED <status>` when it ends.
    pub fn termcall(hub: &crate::Hub, name: &str) -> Tmux {
        Tmux::termcall_in(hub, name, (120, 40), &[])
    }

    /// The same in a `size` terminal, with more arguments for termcall.
    pub fn termcall_in(hub: &crate::Hub, name: &str, size: (u16, u16), args: &[&str]) -> Tmux {
        let t = Tmux::start(size.0, size.1, &[("COLORTERM", "truecolor"), ("TMPDIR", &crate::scratch("tui-log").display().to_string())]);
        t.type_line(&format!("{} --hub {} --name {name} {}; echo EXITED $?", crate::bin("termcall").display(), hub.url, args.join(" ")));
        t
    }

    pub fn type_line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    /// Types text literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]).unwrap();
    }

    /// Presses keys by tmux name: `Enter`, `Escape`, `Down`, `q`, `C-c`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        self.run(&args).unwrap();
    }

    /// The screen as plain text.
    pub fn text(&self) -> String {
        self.run(&["capture-pane", "-p"]).unwrap()
    }

    /// The screen with its colours.
    pub fn screen(&self) -> Screen {
        Screen::parse(&self.run(&["capture-pane", "-p", "-e"]).unwrap())
    }

    /// A tmux format about the pane, like `#{alternate_on}`.
    pub fn query(&self, format: &str) -> String {
        self.run(&["display-message", "-p", format]).unwrap().trim().to_owned()
    }

    pub fn resize(&self, w: u16, h: u16) {
        self.run(&["resize-window", "-x", &w.to_string(), "-y", &h.to_string()]).unwrap();
    }

    /// Waits until the plain screen satisfies `pred`; panics with the screen if it does not.
    pub fn wait_text(&self, what: &str, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.wait(what, within, Tmux::text, |t| pred(t))
    }

    /// Waits until the coloured screen satisfies `pred`.
    pub fn wait_screen(&self, what: &str, within: Duration, pred: impl Fn(&Screen) -> bool) -> Screen {
        self.wait(what, within, Tmux::screen, pred)
    }

    fn wait<T>(&self, what: &str, within: Duration, capture: impl Fn(&Tmux) -> T, pred: impl Fn(&T) -> bool) -> T {
        let deadline = Instant::now() + within;
        loop {
            let got = capture(self);
            if pred(&got) {
                return got;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// A colour as a terminal cell has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// One cell of a captured screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub ch: char,
    pub fg: Colour,
    pub bg: Colour,
}

/// A captured screen: rows of cells, colours read from the SGR sequences of `capture-pane -e`.
#[derive(Debug, Clone)]
pub struct Screen {
    pub rows: Vec<Vec<Cell>>,
}

impl Screen {
    pub fn parse(captured: &str) -> Screen {
        let mut rows = Vec::new();
        let (mut fg, mut bg) = (Colour::Default, Colour::Default);
        for line in captured.lines() {
            let mut row = Vec::new();
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                if c != '\x1b' {
                    row.push(Cell { ch: c, fg, bg });
                    continue;
                }
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_digit() || c == ';' || c == ':' {
                        params.push(c);
                    } else {
                        end = c;
                        break;
                    }
                }
                if end == 'm' {
                    apply_sgr(&params, &mut fg, &mut bg);
                }
            }
            rows.push(row);
        }
        Screen { rows }
    }

    /// The characters, row by row, without colours.
    pub fn text(&self) -> String {
        self.rows.iter().map(|r| r.iter().map(|c| c.ch).collect::<String>()).collect::<Vec<_>>().join("\n")
    }

    /// Cells drawn as the upper half block.
    pub fn half_blocks(&self) -> usize {
        self.rows.iter().flatten().filter(|c| c.ch == '▀').count()
    }
}

fn apply_sgr(params: &str, fg: &mut Colour, bg: &mut Colour) {
    let p: Vec<u16> = params.split([';', ':']).map(|s| s.parse().unwrap_or(0)).collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            0 => (*fg, *bg) = (Colour::Default, Colour::Default),
            39 => *fg = Colour::Default,
            49 => *bg = Colour::Default,
            n @ 30..=37 => *fg = Colour::Indexed((n - 30) as u8),
            n @ 40..=47 => *bg = Colour::Indexed((n - 40) as u8),
            n @ 90..=97 => *fg = Colour::Indexed((n - 90 + 8) as u8),
            n @ 100..=107 => *bg = Colour::Indexed((n - 100 + 8) as u8),
            n @ (38 | 48) => {
                let target = if n == 38 { &mut *fg } else { &mut *bg };
                match p.get(i + 1) {
                    Some(5) => {
                        *target = Colour::Indexed(*p.get(i + 2).unwrap_or(&0) as u8);
                        i += 2;
                    }
                    Some(2) => {
                        let c = |k: usize| *p.get(i + k).unwrap_or(&0) as u8;
                        *target = Colour::Rgb(c(2), c(3), c(4));
                        i += 4;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgr_colours_are_read() {
        let s = Screen::parse("a\x1b[38;2;1;2;3m\x1b[48;5;196m▀\x1b[0mb\n\x1b[1;31mc");
        assert_eq!(s.rows[0][0], Cell { ch: 'a', fg: Colour::Default, bg: Colour::Default });
        assert_eq!(s.rows[0][1], Cell { ch: '▀', fg: Colour::Rgb(1, 2, 3), bg: Colour::Indexed(196) });
        assert_eq!(s.rows[0][2].fg, Colour::Default);
        assert_eq!(s.rows[1][0].fg, Colour::Indexed(1));
        assert_eq!(s.half_blocks(), 1);
    }
}
