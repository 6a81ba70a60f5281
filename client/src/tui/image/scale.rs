//! A frame scaled to the pixels an image shows: each output pixel the mean of the source box
//! under it (a box filter when shrinking, the nearest pixel when growing). The boxes are worked
//! out once per size; scaling a frame allocates nothing once the output buffer has its size.

use crate::media::Frame;

/// Maps a source size onto an output size.
#[derive(Debug, Default)]
pub struct Scaler {
    src: (u32, u32),
    dst: (u32, u32),
    /// For each output column / row: the source span [start, end) it averages.
    xs: Vec<(u32, u32)>,
    ys: Vec<(u32, u32)>,
}

impl Scaler {
    /// Whether this scaler maps `src` onto `dst` already.
    pub fn is(&self, src: (u32, u32), dst: (u32, u32)) -> bool {
        self.src == src && self.dst == dst
    }

    pub fn new(src: (u32, u32), dst: (u32, u32)) -> Scaler {
        Scaler { src, dst, xs: spans(src.0, dst.0), ys: spans(src.1, dst.1) }
    }

    /// The output size.
    pub fn size(&self) -> (u32, u32) {
        self.dst
    }

    /// Writes `frame` scaled into `out` (RGB, row by row); `frame` must be the source size.
    pub fn scale(&self, frame: &Frame, out: &mut Vec<u8>) {
        let (w, h) = self.dst;
        out.resize((w * h * 3) as usize, 0);
        if (frame.width, frame.height) != self.src || frame.rgb.len() < (frame.width * frame.height * 3) as usize {
            out.fill(0);
            return;
        }
        let stride = frame.width as usize * 3;
        let mut o = 0;
        for &(y0, y1) in &self.ys {
            for &(x0, x1) in &self.xs {
                let mut sum = [0u32; 3];
                for y in y0..y1 {
                    let row = &frame.rgb[y as usize * stride + x0 as usize * 3..y as usize * stride + x1 as usize * 3];
                    for p in row.chunks_exact(3) {
                        sum[0] += u32::from(p[0]);
                        sum[1] += u32::from(p[1]);
                        sum[2] += u32::from(p[2]);
                    }
                }
                let n = (x1 - x0) * (y1 - y0);
                for c in 0..3 {
                    out[o + c] = ((sum[c] + n / 2) / n) as u8;
                }
                o += 3;
            }
        }
    }
}

/// Source spans for `n` outputs over `src` inputs: never empty, at most 4 source pixels long
/// (a shrink of more than 4x takes the 4 in the box's middle: 16 reads a pixel at most).
fn spans(src: u32, n: u32) -> Vec<(u32, u32)> {
    let (src, n) = (u64::from(src.max(1)), u64::from(n.max(1)));
    (0..n)
        .map(|i| {
            let mut a = i * src / n;
            let mut b = ((i + 1) * src / n).max(a + 1).min(src);
            if b - a > 4 {
                let mid = (a + b) / 2;
                (a, b) = (mid - 2, mid + 2);
            }
            (a as u32, b as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_and_doubling_repeats() {
        let mut f = Frame::new(4, 2);
        for (i, p) in f.rgb.chunks_exact_mut(3).enumerate() {
            p.copy_from_slice(&[(i * 10) as u8, 0, 200]);
        }
        let mut out = Vec::new();
        Scaler::new((4, 2), (2, 1)).scale(&f, &mut out);
        // (0 + 10 + 40 + 50) / 4 = 25, (20 + 30 + 60 + 70) / 4 = 45
        assert_eq!(out, vec![25, 0, 200, 45, 0, 200]);
        Scaler::new((4, 2), (8, 4)).scale(&f, &mut out);
        assert_eq!(out.len(), 8 * 4 * 3);
        assert_eq!(&out[..6], &[0, 0, 200, 0, 0, 200]);
    }

    #[test]
    fn a_frame_of_another_size_comes_out_black_not_a_panic() {
        let s = Scaler::new((640, 480), (10, 10));
        let mut out = vec![9; 3];
        s.scale(&Frame::new(2, 2), &mut out);
        assert!(out.len() == 300 && out.iter().all(|&b| b == 0));
        assert!(spans(3, 1000).iter().all(|&(a, b)| b > a && b <= 3));
        assert!(spans(1000, 3).iter().all(|&(a, b)| b - a <= 4));
    }
}
