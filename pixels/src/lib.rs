//! Per-pixel conversions on every frame's path: planar YUV 4:2:0 to RGB (BT.601, limited range,
//! as cameras, y4m files and browsers' VP8 use). A crate of its own so that debug and test
//! builds compile it optimized (see the workspace's `[profile.dev.package.termcall-pixels]`): at
//! opt-level 1 a 640x480 picture took 7 ms, a tenth of a core at 15 fps for each stream.

/// One BT.601 limited-range YUV sample as RGB (floating point: the reference the fast path is
/// tested against, and the per-sample path of packed formats).
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let y = 1.164 * (f32::from(y) - 16.0) + 0.5; // + 0.5: round, not truncate
    let (u, v) = (f32::from(u) - 128.0, f32::from(v) - 128.0);
    [
        (y + 1.596 * v).clamp(0.0, 255.0) as u8,
        (y - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) as u8,
        (y + 2.017 * u).clamp(0.0, 255.0) as u8,
    ]
}

/// Converts I420 planes with their strides (bytes per row: Y, U, V) to packed RGB in `rgb`
/// (`width * height * 3` bytes). Fixed point, 16 fractional bits; within 1 of [`yuv_to_rgb`].
///
/// # Panics
/// If a plane is shorter than its stride and size say, or `rgb` is not the picture's size.
pub fn i420_to_rgb(y: &[u8], u: &[u8], v: &[u8], strides: [usize; 3], width: usize, height: usize, rgb: &mut [u8]) {
    assert_eq!(rgb.len(), width * height * 3, "the RGB buffer must be the picture's size");
    if width == 0 || height == 0 {
        return;
    }
    const ONE: i32 = 1 << 16;
    let k = |f: f32| (f * ONE as f32) as i32;
    let (ky, krv, kgu, kgv, kbu) = (k(1.164), k(1.596), k(0.392), k(0.813), k(2.017));
    let clamp = |x: i32| (x >> 16).clamp(0, 255) as u8;
    let cw = width.div_ceil(2);
    for (row, dst) in rgb.chunks_exact_mut(width * 3).enumerate() {
        let (yr, cr) = (&y[row * strides[0]..][..width], row / 2);
        let (ur, vr) = (&u[cr * strides[1]..][..cw], &v[cr * strides[2]..][..cw]);
        // Two pixels share a chroma sample: its terms are worked out once for both.
        let put = |px: &mut [u8], yv: u8, (r, g, b): (i32, i32, i32)| {
            let yy = ky * (i32::from(yv) - 16) + ONE / 2;
            px[0] = clamp(yy + r);
            px[1] = clamp(yy + g);
            px[2] = clamp(yy + b);
        };
        let chroma = |cu: u8, cv: u8| {
            let (cu, cv) = (i32::from(cu) - 128, i32::from(cv) - 128);
            (krv * cv, -kgu * cu - kgv * cv, kbu * cu)
        };
        for ((px, ys), (&cu, &cv)) in dst.chunks_exact_mut(6).zip(yr.chunks_exact(2)).zip(ur.iter().zip(vr)) {
            let c = chroma(cu, cv);
            put(&mut px[..3], ys[0], c);
            put(&mut px[3..], ys[1], c);
        }
        if width % 2 == 1 {
            put(&mut dst[(width - 1) * 3..], yr[width - 1], chroma(ur[cw - 1], vr[cw - 1]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_range_extremes() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        let red = yuv_to_rgb(81, 90, 240);
        assert!(red[0] > 240 && red[1] < 10 && red[2] < 10, "{red:?}");
    }

    #[test]
    fn the_fixed_point_planes_match_the_per_sample_conversion_with_strides_and_odd_sizes() {
        // 5x3 with padded rows: Y stride 8, chroma 3 wide (stride 4), 2 high.
        let (w, h) = (5usize, 3usize);
        let y: Vec<u8> = (0..8 * h).map(|i| (i * 37 % 256) as u8).collect();
        let u: Vec<u8> = (0..4 * 2).map(|i| (40 + i * 29 % 200) as u8).collect();
        let v: Vec<u8> = (0..4 * 2).map(|i| (230 - i * 23 % 200) as u8).collect();
        let mut rgb = vec![0; w * h * 3];
        i420_to_rgb(&y, &u, &v, [8, 4, 4], w, h, &mut rgb);
        for row in 0..h {
            for col in 0..w {
                let want = yuv_to_rgb(y[row * 8 + col], u[row / 2 * 4 + col / 2], v[row / 2 * 4 + col / 2]);
                let got = &rgb[(row * w + col) * 3..][..3];
                for c in 0..3 {
                    assert!(want[c].abs_diff(got[c]) <= 1, "({col},{row}): {want:?} vs {got:?}");
                }
            }
        }
    }
}
