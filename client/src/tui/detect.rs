//! What the terminal can draw, without I/O: hints from the environment, then its answers to a
//! query, as timg and ratatui-image ask. The query is a kitty graphics query (a 1x1 image the
//! terminal is asked to check, not show) followed by DA1 ("what are you?"), which every
//! terminal answers: once DA1's answer is in, whatever was going to answer has (a terminal that
//! does not know the kitty query ignores it). DA1's parameters say sixel (4). A terminal that
//! answers nothing within the budget is taken as a plain one. The I/O (writing the query, and
//! reading answers in raw mode before the UI starts, so that nothing lands on the screen or in
//! the chat line) is in [`super::terminal`].

/// The bytes to send: the kitty graphics query (id 31, one RGB pixel, "query": checked, not
/// stored or shown), then DA1.
pub const QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[c";
/// How long to wait for the answers on a local terminal.
pub const BUDGET_MS: u64 = 250;

/// What the terminal can draw beyond plain cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    /// It answered the kitty graphics query.
    pub kitty: bool,
    /// Its DA1 answer lists sixel graphics.
    pub sixel: bool,
    /// It answered DA1 at all (a real terminal; `false`: no answer within the budget).
    pub answered: bool,
    /// It draws block characters itself, from the environment: the sextants need no font.
    pub draws_blocks: bool,
}

/// Hints from the environment: `TERM`, `TERM_PROGRAM` and whether we run inside tmux. Terminals
/// that draw block characters themselves (so sextants look right whatever the font) say who
/// they are here.
pub fn from_env(term: Option<&str>, term_program: Option<&str>) -> Caps {
    let term = term.unwrap_or("").to_ascii_lowercase();
    let program = term_program.unwrap_or("").to_ascii_lowercase();
    let draws_blocks = ["kitty", "foot", "wezterm", "ghostty", "alacritty"].iter().any(|t| term.contains(t) || program.contains(t));
    Caps { draws_blocks, ..Caps::default() }
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
        if find(&self.buf, b"\x1b_Gi=31;OK").is_some() {
            self.caps.kitty = true;
        }
        // DA1: ESC [ ? Ps ; Ps ... c
        if let Some(start) = find(&self.buf, b"\x1b[?") {
            let rest = &self.buf[start + 3..];
            if let Some(end) = rest.iter().position(|&b| b == b'c') {
                let params = &rest[..end];
                if params.iter().all(|b| b.is_ascii_digit() || *b == b';') {
                    self.caps.answered = true;
                    self.caps.sixel = params.split(|&b| b == b';').any(|p| p == b"4");
                    self.done = true;
                }
            }
        }
        self.done || self.buf.len() >= MAX_ANSWER
    }

    /// What the answers said (merged into the environment's hints).
    pub fn caps(&self, env: Caps) -> Caps {
        Caps { draws_blocks: env.draws_blocks, ..self.caps }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kitty_answers_its_query_and_da1() {
        let mut a = Answers::default();
        assert!(!a.feed(b"\x1b_Gi=31;OK\x1b\\"));
        assert!(a.feed(b"\x1b[?62;c"));
        let c = a.caps(from_env(Some("xterm-kitty"), None));
        assert!(c.kitty && c.answered && !c.sixel && c.draws_blocks);
    }

    #[test]
    fn xterm_with_sixel_says_so_in_da1_in_pieces() {
        let mut a = Answers::default();
        assert!(!a.feed(b"\x1b[?63;1;2"));
        assert!(a.feed(b";4;6;9;15;22c"));
        let c = a.caps(from_env(Some("xterm-256color"), None));
        assert!(c.sixel && c.answered && !c.kitty && !c.draws_blocks);
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
        assert!(a.feed(&[b'x'; 2000]), "more than an answer can be: stop waiting");
        assert!(!a.caps(Caps::default()).answered);
    }
}
