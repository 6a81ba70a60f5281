//! Cutting text into rows by the columns it takes on screen (wide CJK and emoji take two,
//! combining marks none), never inside a character.

use unicode_width::UnicodeWidthChar;

/// Columns a string takes.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Calls `row` with the byte range of each row of `text`: the first at most `first` columns
/// wide, the rest at most `rest`. Allocates nothing, so rows can be counted on every draw.
fn for_rows(text: &str, first: usize, rest: usize, mut row: impl FnMut(usize, usize)) {
    let (first, rest) = (first.max(1), rest.max(2));
    let (mut start, mut used, mut rows) = (0, 0, 0);
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        let room = if rows == 0 { first } else { rest };
        if used + w > room && used > 0 {
            row(start, i);
            (start, used, rows) = (i, 0, rows + 1);
        }
        used += w;
    }
    row(start, text.len());
}

/// How many rows [`wrap`] makes.
pub fn count(text: &str, first: usize, rest: usize) -> usize {
    let mut n = 0;
    for_rows(text, first, rest, |_, _| n += 1);
    n
}

/// Splits `text` into rows: the first at most `first` columns wide, the rest at most `rest`.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<&str> {
    let mut rows = Vec::new();
    for_rows(text, first, rest, |a, b| rows.push(&text[a..b]));
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
        assert_eq!(count("abcdef", 2, 3), 3);
        assert_eq!(count("", 2, 3), 1);
    }
}
