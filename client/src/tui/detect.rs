//! What the terminal can draw, without I/O: hints from the environment, then its answers to a
//! query, as timg and ratatui-image ask. The query is, in order:
//! - a kitty graphics query (a 1x1 image the terminal is asked to check, not show); on a local
//!   terminal a second one whose pixel comes through shared memory (whether frames can);
//! - XTSMGRAPHICS for the number of sixel colour registers (xterm, foot, mlterm answer it);
//! - `CSI 16 t`, the size of a cell in pixels (when the pty does not say: inside tmux, over some
//!   SSH links);
//! - DA1 ("what are you?"), which every terminal answers, and answers last: once it is in,
//!   whatever was going to answer has (a terminal that does not know a query ignores it). DA1's
//!   parameters say sixel (4).
//!
//! A terminal that answers nothing within the budget is taken as a plain one. The I/O (writing
//! the query, and reading answers in raw mode before the UI starts, so that nothing lands on the
//! screen or in the chat line) is in [`super::terminal`].

/// The kitty graphics query: id 31, one RGB pixel, "query" (checked, not stored or shown).
const KITTY_QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\";
/// The other queries, DA1 last.
const TAIL: &[u8] = b"\x1b[?1;1;0S\x1b[16t\x1b[c";
/// How long to wait for the answers on a local terminal.
pub const BUDGET_MS: u64 = 250;

/// The bytes to send: the kitty query; with `shm` (the name of a shared-memory object holding
/// one RGB pixel) the same through shared memory (id 32); then the rest, DA1 last.
pub fn query(shm: Option<&str>) -> Vec<u8> {
    let mut q = KITTY_QUERY.to_vec();
    if let Some(name) = shm {
        q.extend_from_slice(b"\x1b_Gi=32,s=1,v=1,a=q,t=s,f=24,S=3;");
        q.extend_from_slice(super::image::base64(name.as_bytes()).as_bytes());
        q.extend_from_slice(b"\x1b\\");
    }
    q.extend_from_slice(TAIL);
    q
}

/// Who the terminal says it is in the environment, and where we run.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub term: String,
    pub term_program: String,
    /// iTerm2 sets `LC_TERMINAL` (it survives SSH, where `TERM_PROGRAM` does not).
    pub lc_terminal: String,
    /// Inside tmux (`TMUX` set): the terminal outside, as tmux knows it (`client_termname`).
    pub tmux: Option<Tmux>,
    /// Over SSH (`SSH_CONNECTION` or `SSH_TTY`).
    pub ssh: bool,
}

/// tmux, between us and the terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tmux {
    /// The outer terminal's `TERM`, as tmux has it.
    pub outer_term: String,
    /// `allow-passthrough` is on: escape sequences wrapped for it reach the outer terminal.
    pub passthrough: bool,
    /// Where our pane's top left is in the outer terminal (cells across, down).
    pub pane: (u16, u16),
}

impl Env {
    /// From this process's environment (tmux's own answers are read by the caller).
    pub fn from_process(tmux: Option<Tmux>) -> Env {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Env { term: var("TERM"), term_program: var("TERM_PROGRAM"), lc_terminal: var("LC_TERMINAL"), tmux, ssh: std::env::var_os("SSH_CONNECTION").is_some() || std::env::var_os("SSH_TTY").is_some() }
    }
}

/// What the terminal can draw beyond plain cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    /// It answered the kitty graphics query.
    pub kitty: bool,
    /// It read the kitty query's pixel from shared memory: frames can go that way.
    pub kitty_shm: bool,
    /// Its DA1 answer lists sixel graphics.
    pub sixel: bool,
    /// Its sixel colour registers, as XTSMGRAPHICS answered.
    pub color_registers: Option<u16>,
    /// A cell's size in pixels (across, down), as `CSI 16 t` answered.
    pub cell_px: Option<(u16, u16)>,
    /// It answered DA1 at all (a real terminal; `false`: no answer within the budget).
    pub answered: bool,
    /// It draws block characters itself, from the environment: the sextants need no font.
    pub draws_blocks: bool,
    /// It shows iTerm2's inline images, from the environment (iTerm2, WezTerm, mintty, Konsole).
    pub iterm: bool,
}

/// Hints from the environment. Terminals that draw block characters themselves (so sextants
/// look right whatever the font) and those that show iTerm2 images say who they are here;
/// inside tmux, tmux knows the terminal outside.
pub fn from_env(env: &Env) -> Caps {
    let mut names = vec![env.term.to_ascii_lowercase(), env.term_program.to_ascii_lowercase(), env.lc_terminal.to_ascii_lowercase()];
    if let Some(t) = &env.tmux {
        names.push(t.outer_term.to_ascii_lowercase());
    }
    let any = |list: &[&str]| names.iter().any(|n| list.iter().any(|t| n.contains(t)));
    Caps {
        draws_blocks: any(&["kitty", "foot", "wezterm", "ghostty", "alacritty"]),
        iterm: any(&["iterm", "wezterm", "mintty", "konsole"]),
        // Inside tmux, the kitty query does not come back (tmux keeps its outer terminal's
        // answers): the outer terminal's name is what there is.
        kitty: env.tmux.as_ref().is_some_and(|t| t.outer_term.contains("kitty") || t.outer_term.contains("ghostty")),
        ..Caps::default()
    }
}

/// Answers as they come in from the terminal, until DA1's.
#[derive(Debug, Default)]
pub struct Answers {
    /// What came in (the answers are short: a few dozen bytes; more is not an answer).
    buf: Vec<u8>,
    caps: Caps,
    done: bool,
}

/// Bytes kept at most while answers come in.
const MAX_ANSWER: usize = 512;

impl Answers {
    /// Takes bytes read from the terminal; returns whether DA1's answer is in (nothing more
    /// will come).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return true;
        }
        let room = MAX_ANSWER.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.caps = Caps::default();
        let buf = std::mem::take(&mut self.buf);
        let mut rest = &buf[..];
        while let Some(start) = rest.iter().position(|&b| b == 0x1b) {
            rest = &rest[start..];
            match rest.get(1) {
                Some(b'_') => {
                    // APC: ESC _ G ... ESC \
                    let Some(end) = find(rest, b"\x1b\\") else {
                        break;
                    };
                    let body = &rest[2..end];
                    if body.starts_with(b"Gi=31;OK") {
                        self.caps.kitty = true;
                    } else if body.starts_with(b"Gi=32;OK") {
                        self.caps.kitty_shm = true;
                    }
                    rest = &rest[end + 2..];
                }
                Some(b'[') => {
                    // CSI: parameters, then a final byte in @..~
                    let Some(end) = rest[2..].iter().position(|b| (0x40..=0x7e).contains(b)) else {
                        break;
                    };
                    let (params, fin) = (&rest[2..2 + end], rest[2 + end]);
                    self.csi(params, fin);
                    rest = &rest[3 + end..];
                }
                Some(_) => rest = &rest[1..],
                None => break,
            }
        }
        self.buf = buf;
        self.done || self.buf.len() >= MAX_ANSWER
    }

    /// One CSI answer: DA1 (`? … c`), XTSMGRAPHICS (`? 1 ; 0 ; N S`) or the cell size (`6 ; h ; w t`).
    fn csi(&mut self, params: &[u8], fin: u8) {
        let private = params.first() == Some(&b'?');
        let body = if private { &params[1..] } else { params };
        if !body.iter().all(|b| b.is_ascii_digit() || *b == b';') {
            return;
        }
        let nums: Vec<Option<u32>> = body.split(|&b| b == b';').map(|p| std::str::from_utf8(p).ok().and_then(|s| s.parse().ok())).collect();
        match (private, fin) {
            (true, b'c') => {
                self.caps.answered = true;
                self.caps.sixel = nums.iter().skip(1).any(|n| *n == Some(4));
                self.done = true;
            }
            (true, b'S') => {
                if let [Some(1), Some(0), Some(n)] = nums[..] {
                    self.caps.color_registers = u16::try_from(n).ok();
                }
            }
            (false, b't') => {
                if let [Some(6), Some(h), Some(w)] = nums[..] {
                    if (1..=512).contains(&h) && (1..=512).contains(&w) {
                        self.caps.cell_px = Some((w as u16, h as u16));
                    }
                }
            }
            _ => {}
        }
    }

    /// What the answers said, merged with the environment's hints.
    pub fn caps(&self, env: Caps) -> Caps {
        Caps { draws_blocks: env.draws_blocks, iterm: env.iterm, kitty: self.caps.kitty || env.kitty, ..self.caps }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(term: &str) -> Env {
        Env { term: term.into(), ..Env::default() }
    }

    #[test]
    fn kitty_answers_its_queries_and_da1() {
        let mut a = Answers::default();
        assert!(!a.feed(b"\x1b_Gi=31;OK\x1b\\\x1b_Gi=32;OK\x1b\\"));
        assert!(!a.feed(b"\x1b[6;17;8t"));
        assert!(a.feed(b"\x1b[?62;c"));
        let c = a.caps(from_env(&env("xterm-kitty")));
        assert!(c.kitty && c.kitty_shm && c.answered && !c.sixel && c.draws_blocks);
        assert_eq!(c.cell_px, Some((8, 17)));
    }

    #[test]
    fn a_failed_shared_memory_read_is_not_taken_for_yes() {
        let mut a = Answers::default();
        assert!(a.feed(b"\x1b_Gi=31;OK\x1b\\\x1b_Gi=32;EBADF:could not open\x1b\\\x1b[?62;c"));
        let c = a.caps(Caps::default());
        assert!(c.kitty && !c.kitty_shm);
    }

    #[test]
    fn xterm_with_sixel_says_so_in_da1_in_pieces_and_its_registers() {
        let mut a = Answers::default();
        assert!(!a.feed(b"\x1b[?1;0;1024S\x1b[?63;1;2"));
        assert!(a.feed(b";4;6;9;15;22c"));
        let c = a.caps(from_env(&env("xterm-256color")));
        assert!(c.sixel && c.answered && !c.kitty && !c.draws_blocks);
        assert_eq!(c.color_registers, Some(1024));
        // "4" as the class (the first parameter) is not sixel.
        let mut a = Answers::default();
        assert!(a.feed(b"\x1b[?4;2c"));
        assert!(!a.caps(Caps::default()).sixel);
    }

    #[test]
    fn a_plain_terminal_answers_only_da1_and_a_silent_one_nothing() {
        let mut a = Answers::default();
        assert!(a.feed(b"\x1b[?1;2c"));
        assert_eq!(a.caps(Caps::default()), Caps { answered: true, ..Caps::default() });
        let silent = Answers::default();
        assert_eq!(silent.caps(Caps::default()), Caps::default());
    }

    #[test]
    fn garbage_and_floods_end_the_wait_without_a_panic() {
        let mut a = Answers::default();
        assert!(!a.feed(b"\x1b[?62;junk c"));
        assert!(!a.feed(b"\x1b[6;99999999999;8t\x1b_Gi=31;OK"));
        assert!(a.feed(&[b'x'; 2000]), "more than an answer can be: stop waiting");
        let c = a.caps(Caps::default());
        assert!(!c.answered && c.cell_px.is_none() && !c.kitty);
    }

    #[test]
    fn the_environment_names_iterm_and_tmux_names_the_outer_terminal() {
        assert!(from_env(&Env { term_program: "iTerm.app".into(), ..Env::default() }).iterm);
        assert!(from_env(&Env { lc_terminal: "iTerm2".into(), ssh: true, ..Env::default() }).iterm);
        let inside = Env { term: "tmux-256color".into(), tmux: Some(Tmux { outer_term: "xterm-kitty".into(), passthrough: true, pane: (0, 0) }), ..Env::default() };
        let c = from_env(&inside);
        assert!(c.kitty && c.draws_blocks);
        assert!(!from_env(&env("tmux-256color")).kitty);
    }

    #[test]
    fn the_query_ends_with_da1_and_carries_the_shared_memory_name() {
        let q = query(None);
        assert!(q.starts_with(KITTY_QUERY) && q.ends_with(b"\x1b[c"));
        let q = query(Some("/termcall-1"));
        let text = String::from_utf8_lossy(&q);
        assert!(text.contains("i=32,") && text.contains(&super::super::image::base64(b"/termcall-1")));
    }
}
