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

    /// Fills a rectangle, clipped to the frame.
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, c: [u8; 3]) {
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        for row in y.min(self.height)..y1 {
            let start = (row as usize * self.width as usize + x as usize) * 3;
            let end = (row as usize * self.width as usize + x1 as usize) * 3;
            if start >= end {
                continue;
            }
            for px in self.rgb[start..end].chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
    }
}

/// Peak signal-to-noise ratio between two frames of the same size, in dB (infinite when equal).
pub fn psnr(a: &Frame, b: &Frame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "PSNR needs frames of one size");
    let mse = a.rgb.iter().zip(&b.rgb).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.rgb.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}
