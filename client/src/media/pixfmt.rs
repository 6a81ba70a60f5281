//! Pixel formats that sources deliver (planar 4:2:0 from .y4m, packed YUYV from cameras),
//! converted to the RGB frames the encoder takes. BT.601, limited range, as cameras and y4m use.

use super::frame::Frame;

/// One BT.601 limited-range YUV sample as RGB.
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

/// Converts planar 4:2:0 (I420) to RGB; `out` takes the given size.
pub fn yuv420_to_rgb(yuv: &[u8], width: u32, height: u32, out: &mut Frame) {
    out.resize(width, height);
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, rest) = yuv.split_at(w * h);
    let (u_plane, v_plane) = rest.split_at(cw * ch);
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * cw + col / 2;
            let i = (row * w + col) * 3;
            out.rgb[i..i + 3].copy_from_slice(&yuv_to_rgb(y_plane[row * w + col], u_plane[c], v_plane[c]));
        }
    }
}

/// Converts packed YUYV 4:2:2 (`Y0 U Y1 V`, what most USB cameras send) to RGB.
/// `stride` is the bytes per line the driver reported; a short buffer (a truncated capture)
/// is an error, never a panic.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: usize, out: &mut Frame) -> Result<(), String> {
    let (w, h) = (width as usize, height as usize);
    let stride = stride.max(w * 2);
    if w % 2 == 1 {
        return Err(format!("YUYV needs an even width, not {width}"));
    }
    if data.len() < stride * (h.max(1) - 1) + w * 2 {
        return Err(format!("a YUYV frame of {} bytes is too short for {width}x{height}", data.len()));
    }
    out.resize(width, height);
    for row in 0..h {
        let line = &data[row * stride..row * stride + w * 2];
        let dst = &mut out.rgb[row * w * 3..(row + 1) * w * 3];
        for (quad, px) in line.chunks_exact(4).zip(dst.chunks_exact_mut(6)) {
            px[..3].copy_from_slice(&yuv_to_rgb(quad[0], quad[1], quad[3]));
            px[3..].copy_from_slice(&yuv_to_rgb(quad[2], quad[1], quad[3]));
        }
    }
    Ok(())
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
    fn yuyv_two_pixels_share_chroma() {
        // Black then white, grey chroma, with two bytes of padding per line.
        let data = [16, 128, 235, 128, 0, 0, 16, 128, 235, 128, 0, 0];
        let mut f = Frame::new(1, 1);
        yuyv_to_rgb(&data, 2, 2, 6, &mut f).unwrap();
        assert_eq!((f.width, f.height), (2, 2));
        assert_eq!(f.pixel(0, 1), [0, 0, 0]);
        assert_eq!(f.pixel(1, 1), [255, 255, 255]);
    }

    #[test]
    fn truncated_yuyv_is_an_error() {
        let mut f = Frame::new(1, 1);
        assert!(yuyv_to_rgb(&[0; 10], 4, 4, 8, &mut f).is_err());
        assert!(yuyv_to_rgb(&[], 640, 480, 0, &mut f).is_err());
    }
}
