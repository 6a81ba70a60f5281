//! A decoded or captured picture: packed RGB, 8 bits a channel.

/// One video frame, RGB24, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A black frame.
    pub fn new(width: u32, height: u32) -> Frame {
        Frame { width, height, rgb: vec![0; width as usize * height as usize * 3] }
    }

    /// Reshapes in place, reusing the buffer when it is large enough.
    pub fn resize(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.rgb.resize(width as usize * height as usize * 3, 0);
    }

    /// The colour at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Fills a rectangle, clipped to the frame: its first row pixel by pixel, the others copied
    /// from it (the test pattern is drawn this way every frame).
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, c: [u8; 3]) {
        let (x1, y1) = (x.saturating_add(w).min(self.width), y.saturating_add(h).min(self.height));
        if x >= x1 || y >= y1 {
            return;
        }
        let stride = self.width as usize * 3;
        let (a, b) = (x as usize * 3, x1 as usize * 3);
        let first = y as usize * stride;
        for px in self.rgb[first + a..first + b].chunks_exact_mut(3) {
            px.copy_from_slice(&c);
        }
        for row in y as usize + 1..y1 as usize {
            self.rgb.copy_within(first + a..first + b, row * stride + a);
        }
    }
}

/// Peak signal-to-noise ratio between two frames of the same size, in dB (infinite when equal).
pub fn psnr(a: &Frame, b: &Frame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "PSNR needs frames of one size");
    let mse = a.rgb.iter().zip(&b.rgb).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.rgb.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

#[cfg(test)]
mod tests {
    use super::Frame;

    #[test]
    fn fill_clips_to_the_frame_and_touches_nothing_else() {
        let mut f = Frame::new(5, 4);
        f.fill(3, 1, 10, 10, [9, 8, 7]);
        for y in 0..4 {
            for x in 0..5 {
                let want = if x >= 3 && y >= 1 { [9, 8, 7] } else { [0, 0, 0] };
                assert_eq!(f.pixel(x, y), want, "({x},{y})");
            }
        }
        f.fill(5, 0, 2, 2, [1, 1, 1]);
        f.fill(0, 4, 2, 2, [1, 1, 1]);
        f.fill(u32::MAX, u32::MAX, u32::MAX, 1, [1, 1, 1]);
        assert!(!f.rgb.contains(&1), "outside the frame: nothing drawn");
    }
}
