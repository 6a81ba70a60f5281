//! A call through the hub as a grid of tiles: one per other participant (and one for us when a
//! cell is free), each with a name bar whose dot lights up while that participant speaks.
//! The grid picks the number of columns that gives each 4:3 picture the most room.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};
use ratatui::Frame;

use crate::media::Tile;
use crate::tui::video::VideoView;

/// Louder than this (dBov, over the newest 20 ms) counts as speaking.
pub const SPEAKING_DBOV: f64 = -50.0;

/// One tile as the loop keeps it: whose, where its pictures come from, and the sampled picture.
pub struct TileView {
    pub tile: Tile,
    pub view: VideoView,
}

/// The cells of a grid of `n` tiles in `area`, row by row. Each tile keeps a row for its
/// border's title; the column count is the one whose tiles hold the widest 4:3 picture.
pub fn cells(area: Rect, n: usize) -> Vec<Rect> {
    if n == 0 || area.width == 0 || area.height == 0 {
        return Vec::new();
    }
    let n16 = n.min(64) as u16;
    // On a tie the fewer columns win (max_by_key keeps the last maximum).
    let best_cols = (1..=n16)
        .rev()
        .max_by_key(|&cols| {
            let rows = n16.div_ceil(cols);
            let (w, h) = (area.width / cols, area.height / rows);
            // A 4:3 picture in half-block cells is as wide as 8/3 of its height in rows.
            let inner = (w.saturating_sub(2), h.saturating_sub(2));
            (inner.0).min(inner.1 * 8 / 3)
        })
        .unwrap_or(1);
    let rows = n16.div_ceil(best_cols);
    let (w, h) = (area.width / best_cols, area.height / rows);
    (0..n16)
        .map(|i| {
            let (col, row) = (i % best_cols, i / best_cols);
            // The last column and row take what division left over.
            let width = if col + 1 == best_cols { area.width - col * w } else { w };
            let height = if row + 1 == rows { area.height - row * h } else { h };
            Rect::new(area.x + col * w, area.y + row * h, width, height)
        })
        .collect()
}

/// Where each tile's picture goes: inside its border.
pub fn picture_areas(area: Rect, n: usize) -> Vec<Rect> {
    cells(area, n).into_iter().map(|r| Block::bordered().inner(r)).collect()
}

/// Draws the tiles, and our own picture in the first free cell if there is one.
pub fn draw(f: &mut Frame, area: Rect, tiles: &[TileView], local: Option<&VideoView>) {
    let with_self = local.is_some() && fits_self(area, tiles.len());
    let n = tiles.len() + usize::from(with_self);
    let rects = cells(area, n);
    for (t, r) in tiles.iter().zip(&rects) {
        let speaking = t.tile.counters.recent_level_dbov() > SPEAKING_DBOV;
        let dot = if speaking { Span::styled(" ● ", Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)) } else { Span::styled(" ○ ", Style::new().fg(Color::DarkGray)) };
        let title = Line::from(vec![dot, Span::styled(format!("{} ", t.tile.name), Style::new().add_modifier(Modifier::BOLD))]);
        let border = if speaking { Style::new().fg(Color::Green) } else { Style::new() };
        let block = Block::bordered().border_type(BorderType::Rounded).border_style(border).title(title);
        let inner = block.inner(*r);
        f.render_widget(block, *r);
        t.view.draw(inner, f.buffer_mut());
    }
    if let (true, Some(local), Some(r)) = (with_self, local, rects.last()) {
        let block = Block::bordered().border_type(BorderType::Rounded).border_style(Style::new().fg(Color::DarkGray)).title(" you ");
        let inner = block.inner(*r);
        f.render_widget(block, *r);
        local.draw(inner, f.buffer_mut());
    }
}

/// Our own tile goes in only when the grid for the others has a free cell: it never shrinks theirs.
pub fn fits_self(area: Rect, others: usize) -> bool {
    let with = cells(area, others + 1);
    let without = cells(area, others);
    match (with.first(), without.first()) {
        (Some(a), Some(b)) => a.width == b.width && a.height == b.height,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_area_without_overlapping() {
        let area = Rect::new(3, 2, 101, 37);
        for n in 1..=8 {
            let cells = cells(area, n);
            assert_eq!(cells.len(), n);
            for (i, a) in cells.iter().enumerate() {
                assert!(a.x >= area.x && a.right() <= area.right() && a.y >= area.y && a.bottom() <= area.bottom(), "{n}: {a:?}");
                for b in &cells[i + 1..] {
                    assert!(a.intersection(*b).is_empty(), "{n}: {a:?} and {b:?} overlap");
                }
            }
        }
    }

    #[test]
    fn the_layout_follows_the_count_and_the_shape() {
        let wide = Rect::new(0, 0, 120, 30);
        // Three on a wide pane: side by side.
        assert!(cells(wide, 3).iter().all(|r| r.y == 0));
        // Four: two by two.
        let four = cells(wide, 4);
        assert_eq!(four.iter().filter(|r| r.y == 0).count(), 2);
        // On a tall narrow pane: stacked.
        let tall = Rect::new(0, 0, 40, 60);
        assert!(cells(tall, 3).iter().all(|r| r.x == 0));
        assert!(cells(Rect::new(0, 0, 0, 10), 3).is_empty());
        assert!(cells(wide, 0).is_empty());
    }
}
