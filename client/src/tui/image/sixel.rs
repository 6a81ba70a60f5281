//! Sixel (xterm as a VT340, foot, mlterm, WezTerm, Windows Terminal, recent VTE): a palette of
//! up to 256 colours chosen for each frame by median cut, then the picture six rows at a time,
//! one run-length-coded line per colour present in those rows. The terminal does not scale a
//! sixel image: it is sent at the tile's own pixel size.
//!
//! The palette: a histogram of the frame's colours at 6 bits a channel, cut into boxes (the box
//! whose colours spread the most is split along the channel it spreads most in, where the two
//! halves' error is least) until there are as many boxes as registers; each box's mean colour
//! is an entry, refined by one k-means step, and each pixel takes its nearest entry. No
//! dithering: it costs bytes and fidelity.

use std::io::Write;

use super::passthrough;

/// 6 bits a channel: 262,144 bins (at 5 bits, noisy camera pictures lost 3 dB).
const BITS: u32 = 6;
const BINS: usize = 1 << (3 * BITS);

/// Reused tables and buffers: nothing is allocated per frame once sizes settle.
pub struct Sixel {
    count: Vec<u32>,
    sum: Vec<[u32; 3]>,
    /// The bins in use, grouped by box.
    bins: Vec<u32>,
    /// Each box: its range in `bins`, and how much its colours spread.
    boxes: Vec<(usize, usize, f64)>,
    box_of: Vec<u8>,
    palette: Vec<[u8; 3]>,
    /// Each entry's colours' sums and pixels, for the k-means step.
    acc: Vec<([u64; 3], u64)>,
    /// Each pixel's palette index.
    index: Vec<u8>,
    /// One band's sixels, per colour: 256 rows of the image's width.
    band: Vec<u8>,
    used: Vec<u8>,
    body: Vec<u8>,
}

impl Default for Sixel {
    fn default() -> Sixel {
        Sixel {
            count: vec![0; BINS],
            sum: vec![[0; 3]; BINS],
            bins: Vec::new(),
            boxes: Vec::new(),
            box_of: vec![0; BINS],
            palette: Vec::new(),
            acc: Vec::new(),
            index: Vec::new(),
            band: Vec::new(),
            used: Vec::new(),
            body: Vec::new(),
        }
    }
}

fn bin(p: &[u8]) -> usize {
    (usize::from(p[0] >> (8 - BITS)) << (2 * BITS)) | (usize::from(p[1] >> (8 - BITS)) << BITS) | usize::from(p[2] >> (8 - BITS))
}

impl Sixel {
    /// Appends to `out` the sixel image of `rgb` (`w`x`h`), drawn at the cursor, with at most
    /// `registers` colours (clamped to 2..=256). `wrap`: inside tmux.
    pub fn frame(&mut self, out: &mut Vec<u8>, rgb: &[u8], (w, h): (u32, u32), registers: u16, wrap: bool) {
        let (w, h) = (w as usize, h as usize);
        if w == 0 || h == 0 || rgb.len() < w * h * 3 {
            return;
        }
        self.quantize(rgb, w * h, usize::from(registers.clamp(2, 256)));
        self.body.clear();
        // P2 = 1: pixels left unset keep what is under them (all are set here); 1:1 aspect.
        let _ = write!(self.body, "\x1bP0;1;0q\"1;1;{w};{h}");
        for (i, c) in self.palette.iter().enumerate() {
            let pct = |v: u8| (u32::from(v) * 100 + 127) / 255;
            let _ = write!(self.body, "#{i};2;{};{};{}", pct(c[0]), pct(c[1]), pct(c[2]));
        }
        self.band.resize(256 * w, 0);
        let mut present = [false; 256];
        for y0 in (0..h).step_by(6) {
            self.used.clear();
            for dy in 0..6.min(h - y0) {
                let row = &self.index[(y0 + dy) * w..(y0 + dy + 1) * w];
                for (x, &c) in row.iter().enumerate() {
                    if !present[usize::from(c)] {
                        present[usize::from(c)] = true;
                        self.used.push(c);
                        self.band[usize::from(c) * w..(usize::from(c) + 1) * w].fill(0);
                    }
                    self.band[usize::from(c) * w + x] |= 1 << dy;
                }
            }
            for (k, &c) in self.used.iter().enumerate() {
                present[usize::from(c)] = false;
                let line = &self.band[usize::from(c) * w..(usize::from(c) + 1) * w];
                let end = line.iter().rposition(|&b| b != 0).map_or(0, |e| e + 1);
                let _ = write!(self.body, "#{c}");
                run_length(&mut self.body, &line[..end]);
                if k + 1 < self.used.len() {
                    self.body.push(b'$');
                }
            }
            self.body.push(b'-');
        }
        self.body.extend_from_slice(b"\x1b\\");
        passthrough(out, &self.body, wrap);
    }

    /// The palette and each pixel's index into it: the boxes (see the module's comment), then
    /// each colour in use mapped to its nearest palette entry, the entries moved to the mean
    /// of what they took, and the colours mapped again (one k-means step).
    fn quantize(&mut self, rgb: &[u8], pixels: usize, colours: usize) {
        // Only the bins the last frame used are not zero.
        for &b in &self.bins {
            self.count[b as usize] = 0;
            self.sum[b as usize] = [0; 3];
        }
        self.bins.clear();
        for p in rgb[..pixels * 3].chunks_exact(3) {
            let b = bin(p);
            if self.count[b] == 0 {
                self.bins.push(b as u32);
            }
            self.count[b] += 1;
            let s = &mut self.sum[b];
            s[0] += u32::from(p[0]);
            s[1] += u32::from(p[1]);
            s[2] += u32::from(p[2]);
        }
        self.boxes.clear();
        let whole = self.score(0, self.bins.len());
        self.boxes.push((0, self.bins.len(), whole));
        while self.boxes.len() < colours {
            // The box whose colours spread the most (squared error, weighted by pixels).
            let Some((k, _)) = self.boxes.iter().enumerate().filter(|(_, b)| b.1 - b.0 > 1 && b.2 > 0.0).max_by(|a, b| a.1 .2.total_cmp(&b.1 .2)) else {
                break;
            };
            let (start, end, _) = self.boxes[k];
            let cut = self.split(start, end);
            let (l, r) = (self.score(start, start + cut), self.score(start + cut, end));
            self.boxes[k] = (start, start + cut, l);
            self.boxes.push((start + cut, end, r));
        }
        // Each box's mean colour.
        self.palette.clear();
        for &(start, end, _) in &self.boxes {
            let (mut s, mut n) = ([0u64; 3], 0u64);
            for &b in &self.bins[start..end] {
                n += u64::from(self.count[b as usize]);
                for (acc, v) in s.iter_mut().zip(self.sum[b as usize]) {
                    *acc += u64::from(v);
                }
            }
            let n = n.max(1);
            self.palette.push(s.map(|v| ((v + n / 2) / n) as u8));
        }
        // One k-means step: nearest entries, entries to their colours' means, nearest again.
        self.nearest();
        let mut acc = std::mem::take(&mut self.acc);
        acc.clear();
        acc.resize(self.palette.len(), ([0; 3], 0));
        for &b in &self.bins {
            let e = &mut acc[usize::from(self.box_of[b as usize])];
            e.1 += u64::from(self.count[b as usize]);
            for c in 0..3 {
                e.0[c] += u64::from(self.sum[b as usize][c]);
            }
        }
        for (p, &(s, n)) in self.palette.iter_mut().zip(&acc) {
            if n > 0 {
                *p = s.map(|v| ((v + n / 2) / n) as u8);
            }
        }
        self.acc = acc;
        self.nearest();
        self.index.clear();
        self.index.extend(rgb[..pixels * 3].chunks_exact(3).map(|p| self.box_of[bin(p)]));
    }

    /// A bin's mean colour.
    fn mean(&self, b: u32) -> [f32; 3] {
        let n = self.count[b as usize].max(1) as f32;
        self.sum[b as usize].map(|v| v as f32 / n)
    }

    /// How much the colours of `bins[start..end]` spread: the pixels' squared distance from
    /// their mean (each bin's pixels taken at the bin's mean).
    fn score(&self, start: usize, end: usize) -> f64 {
        let (mut n, mut s, mut sq) = (0f64, [0f64; 3], 0f64);
        for &b in &self.bins[start..end] {
            let (w, m) = (f64::from(self.count[b as usize]), self.mean(b));
            n += w;
            for c in 0..3 {
                s[c] += w * f64::from(m[c]);
                sq += w * f64::from(m[c]) * f64::from(m[c]);
            }
        }
        if n == 0.0 {
            return 0.0;
        }
        sq - s.iter().map(|v| v * v).sum::<f64>() / n
    }

    /// Sorts a box's bins along the channel they spread most in and returns where to cut it
    /// so that the two halves' squared error along it is least (both halves non-empty).
    fn split(&mut self, start: usize, end: usize) -> usize {
        let mut var = [0f64; 3];
        let (mut n, mut s) = (0f64, [0f64; 3]);
        for &b in &self.bins[start..end] {
            let (w, m) = (f64::from(self.count[b as usize]), self.mean(b));
            n += w;
            for c in 0..3 {
                s[c] += w * f64::from(m[c]);
                var[c] += w * f64::from(m[c]) * f64::from(m[c]);
            }
        }
        let axis = (0..3).max_by(|&a, &b| (var[a] - s[a] * s[a] / n).total_cmp(&(var[b] - s[b] * s[b] / n))).unwrap_or(0);
        let mut bins = std::mem::take(&mut self.bins);
        bins[start..end].sort_unstable_by(|&a, &b| self.mean(a)[axis].total_cmp(&self.mean(b)[axis]));
        let (total_n, total_s) = (n, s[axis]);
        let (mut ln, mut ls, mut best, mut cut) = (0f64, 0f64, f64::MIN, 1);
        for (i, &b) in bins[start..end - 1].iter().enumerate() {
            let w = f64::from(self.count[b as usize]);
            ln += w;
            ls += w * f64::from(self.mean(b)[axis]);
            let (rn, rs) = (total_n - ln, total_s - ls);
            // Least error on both sides = most of sum squared over count.
            let gain = ls * ls / ln + if rn > 0.0 { rs * rs / rn } else { 0.0 };
            if gain > best {
                (best, cut) = (gain, i + 1);
            }
        }
        self.bins = bins;
        cut
    }

    /// Maps each colour in use to its nearest palette entry (in `box_of`).
    fn nearest(&mut self) {
        for &b in &self.bins {
            let m = self.mean(b);
            let mut best = (f32::MAX, 0u8);
            for (i, p) in self.palette.iter().enumerate() {
                let d = (0..3).map(|c| (m[c] - f32::from(p[c])).powi(2)).sum::<f32>();
                if d < best.0 {
                    best = (d, i as u8);
                }
            }
            self.box_of[b as usize] = best.1;
        }
    }
}

/// Sixel characters for `line`, runs of four or more as `!n` and the character.
fn run_length(out: &mut Vec<u8>, line: &[u8]) {
    let mut i = 0;
    while i < line.len() {
        let v = line[i];
        let mut n = 1;
        while i + n < line.len() && line[i + n] == v {
            n += 1;
        }
        let ch = v + 63;
        if n >= 4 {
            let _ = write!(out, "!{n}");
            out.push(ch);
        } else {
            out.extend(std::iter::repeat_n(ch, n));
        }
        i += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::image::readback;

    fn bars(w: usize, h: usize) -> Vec<u8> {
        const COLOURS: [[u8; 3]; 4] = [[255, 255, 255], [255, 255, 0], [0, 0, 255], [200, 30, 30]];
        (0..w * h).flat_map(|i| COLOURS[(i % w) * 4 / w]).collect()
    }

    #[test]
    fn four_bars_come_back_exactly_in_four_registers() {
        let (w, h) = (40usize, 13usize);
        let rgb = bars(w, h);
        let mut s = Sixel::default();
        let mut out = Vec::new();
        s.frame(&mut out, &rgb, (w as u32, h as u32), 256, false);
        assert_eq!(s.palette.len(), 4, "one box per colour present");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("\x1bP0;1;0q\"1;1;40;13#"), "{text:.40}");
        assert!(text.ends_with("-\x1b\\"));
        assert!(text.contains("!10~"), "runs are coded: {text}");
        let (bw, bh, back) = readback::sixel(&out).expect("decodes");
        assert_eq!((bw, bh), (40, 13));
        // The percent palette is within 2 levels of the colour.
        for (a, b) in back.iter().zip(&rgb) {
            assert!(a.abs_diff(*b) <= 2, "{a} vs {b}");
        }
    }

    #[test]
    fn many_colours_fit_the_registers_and_stay_close() {
        // A smooth gradient of 64x64 colours into 16 registers, then 256.
        let (w, h) = (64usize, 64usize);
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 4) as u8, (i / w * 4) as u8, 128]).collect();
        let mut s = Sixel::default();
        let mut err = Vec::new();
        for regs in [16u16, 256] {
            let mut out = Vec::new();
            s.frame(&mut out, &rgb, (w as u32, h as u32), regs, false);
            assert!(s.palette.len() <= usize::from(regs));
            let (_, _, back) = readback::sixel(&out).expect("decodes");
            let mse = back.iter().zip(&rgb).map(|(a, b)| f64::from(a.abs_diff(*b)).powi(2)).sum::<f64>() / back.len() as f64;
            err.push(mse);
        }
        assert!(err[1] < err[0] / 4.0, "more registers, less error: {err:?}");
        // 4,096 colours in 256 boxes: 16 levels a step, +-8 at worst on two channels of three.
        assert!(err[1] < 25.0, "{err:?}");
    }

    #[test]
    fn degenerate_sizes_write_nothing_or_one_band() {
        let mut s = Sixel::default();
        let mut out = Vec::new();
        s.frame(&mut out, &[], (0, 0), 256, false);
        s.frame(&mut out, &[1, 2], (5, 5), 256, false);
        assert!(out.is_empty());
        s.frame(&mut out, &[9, 9, 9], (1, 1), 1, false);
        let (_, _, px) = readback::sixel(&out).expect("decodes");
        assert!(px.len() == 3 && px.iter().all(|v| v.abs_diff(9) <= 3), "{px:?}");
    }
}
