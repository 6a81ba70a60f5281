//! The chat input line: editing keys as in a shell (readline's common ones) and a history.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Lines kept in the history.
const HISTORY: usize = 100;

/// A one-line editor. The cursor is a char index (not a byte index) into `text`.
#[derive(Debug, Default)]
pub struct LineEditor {
    text: String,
    cursor: usize,
    history: Vec<String>,
    /// While browsing history: which entry, and the line being typed before browsing.
    browsing: Option<(usize, String)>,
}

/// What a key did to the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    /// The key was used (the line may have changed).
    Handled,
    /// Enter on a non-empty line: here it is; the line is now empty.
    Submit(String),
    /// Not an editing key.
    Ignored,
}

impl LineEditor {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Cursor position in chars.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.text.char_indices().nth(char_idx).map_or(self.text.len(), |(i, _)| i)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Inserts pasted text at the cursor in one go (control characters such as newlines become
    /// spaces), keeping the line within `max_bytes`; false when some of it had to be cut.
    pub fn insert_str(&mut self, text: &str, max_bytes: usize) -> bool {
        let room = max_bytes.saturating_sub(self.text.len());
        let mut add = String::with_capacity(text.len().min(room));
        for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
            if add.len() + c.len_utf8() > room {
                break;
            }
            add.push(c);
        }
        let all = add.chars().count() == text.chars().count();
        let b = self.byte_at(self.cursor);
        self.cursor += add.chars().count();
        self.text.insert_str(b, &add);
        self.browsing = None;
        all
    }

    pub fn handle(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => {
                let line = std::mem::take(&mut self.text);
                self.cursor = 0;
                self.browsing = None;
                if line.trim().is_empty() {
                    return Edit::Handled;
                }
                if self.history.last() != Some(&line) {
                    self.history.push(line.clone());
                    if self.history.len() > HISTORY {
                        self.history.remove(0);
                    }
                }
                return Edit::Submit(line);
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.len(),
            KeyCode::Char('u') if ctrl => {
                let b = self.byte_at(self.cursor);
                self.text.drain(..b);
                self.cursor = 0;
            }
            KeyCode::Char('k') if ctrl => {
                let b = self.byte_at(self.cursor);
                self.text.truncate(b);
            }
            KeyCode::Char('w') if ctrl => {
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && chars[start - 1] != ' ' {
                    start -= 1;
                }
                let (a, b) = (self.byte_at(start), self.byte_at(self.cursor));
                self.text.drain(a..b);
                self.cursor = start;
            }
            KeyCode::Char(c) if !ctrl => {
                let b = self.byte_at(self.cursor);
                self.text.insert(b, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let b = self.byte_at(self.cursor);
                self.text.remove(b);
            }
            KeyCode::Delete if self.cursor < self.len() => {
                let b = self.byte_at(self.cursor);
                self.text.remove(b);
            }
            KeyCode::Backspace | KeyCode::Delete => {}
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            KeyCode::Up => self.older(),
            KeyCode::Down => self.newer(),
            _ => return Edit::Ignored,
        }
        Edit::Handled
    }

    fn older(&mut self) {
        let next = match &self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some((self.history.len() - 1, self.text.clone()));
                self.history.len() - 1
            }
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
        };
        if let Some((i, _)) = &mut self.browsing {
            *i = next;
        }
        self.text = self.history[next].clone();
        self.cursor = self.len();
    }

    fn newer(&mut self) {
        let Some((i, typed)) = self.browsing.take() else { return };
        if i + 1 < self.history.len() {
            self.text = self.history[i + 1].clone();
            self.browsing = Some((i + 1, typed));
        } else {
            self.text = typed;
        }
        self.cursor = self.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }
    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }
    fn typed(e: &mut LineEditor, s: &str) {
        for c in s.chars() {
            e.handle(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn editing_in_the_middle_with_multibyte_text() {
        let mut e = LineEditor::default();
        typed(&mut e, "héllo wörld");
        e.handle(key(KeyCode::Home));
        e.handle(key(KeyCode::Right));
        e.handle(key(KeyCode::Delete));
        typed(&mut e, "e");
        assert_eq!(e.text(), "hello wörld");
        e.handle(key(KeyCode::End));
        e.handle(ctrl('w'));
        assert_eq!(e.text(), "hello ");
        e.handle(key(KeyCode::Backspace));
        e.handle(ctrl('a'));
        e.handle(ctrl('k'));
        assert_eq!(e.text(), "");
        e.handle(key(KeyCode::Backspace)); // nothing to delete: no panic
    }

    #[test]
    fn enter_submits_and_history_recalls() {
        let mut e = LineEditor::default();
        typed(&mut e, "one");
        assert_eq!(e.handle(key(KeyCode::Enter)), Edit::Submit("one".into()));
        typed(&mut e, "two");
        e.handle(key(KeyCode::Enter));
        assert_eq!(e.handle(key(KeyCode::Enter)), Edit::Handled, "an empty line is not sent");
        typed(&mut e, "dra");
        e.handle(key(KeyCode::Up));
        assert_eq!(e.text(), "two");
        e.handle(key(KeyCode::Up));
        e.handle(key(KeyCode::Up));
        assert_eq!(e.text(), "one");
        e.handle(key(KeyCode::Down));
        e.handle(key(KeyCode::Down));
        assert_eq!(e.text(), "dra", "coming back down restores what was typed");
        assert_eq!(e.handle(key(KeyCode::F(5))), Edit::Ignored);
    }

    #[test]
    fn a_paste_goes_in_at_once_and_is_capped() {
        let mut e = LineEditor::default();
        typed(&mut e, "[]");
        e.handle(key(KeyCode::Left));
        assert!(e.insert_str("a\nb", 100));
        assert_eq!((e.text(), e.cursor()), ("[a b]", 4));
        assert!(!e.insert_str(&"x".repeat(1 << 20), 16));
        assert_eq!(e.text().len(), 16);
    }
}
