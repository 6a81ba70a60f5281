//! Cutting text into rows by the columns it takes on screen (wide CJK and emoji take two,
//! combining marks none), never inside a character.

use unicode_width::UnicodeWidthChar;

/// Columns a string takes.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Splits `text` into rows: the first at most `first` columns wide, the rest at most `rest`.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let (first, rest) = (first.max(1), rest.max(2));
    let mut rows = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        let room = if rows.len() == 1 { first } else { rest };
        if used + w > room && used > 0 {
            rows.push(String::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
        used += w;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("a漢字"), 5);
        assert_eq!(wrap("漢字漢字", 5, 4), vec!["漢字", "漢字"]);
        assert_eq!(wrap("abcdef", 2, 3), vec!["ab", "cde", "f"]);
        assert_eq!(wrap("", 3, 3), vec![""]);
        // A combining accent stays with its letter.
        assert_eq!(wrap("ae\u{301}b", 2, 2), vec!["ae\u{301}", "b"]);
        // Too narrow for a wide character: it still goes somewhere, one per row.
        assert_eq!(wrap("漢漢", 1, 1), vec!["漢", "漢"]);
    }
}
