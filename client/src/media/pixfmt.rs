//! Pixel formats that sources deliver (planar 4:2:0 from .y4m, packed YUYV from cameras),
//! converted to the RGB frames the encoder takes. BT.601, limited range, as cameras and y4m use.

use super::frame::Frame;

pub use termcall_pixels::yuv_to_rgb;

/// Converts planar 4:2:0 (I420) to RGB; `out` takes the given size.
pub fn yuv420_to_rgb(yuv: &[u8], width: u32, height: u32, out: &mut Frame) {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, rest) = yuv.split_at(w * h);
    let (u_plane, v_plane) = rest.split_at(cw * ch);
    i420_to_rgb(y_plane, u_plane, v_plane, [w, cw, cw], width, height, out);
}

/// Converts I420 planes with their strides (bytes per row: Y, U, V) to RGB; `out` takes the
/// given size (see [`termcall_pixels::i420_to_rgb`]).
pub fn i420_to_rgb(y: &[u8], u: &[u8], v: &[u8], strides: [usize; 3], width: u32, height: u32, out: &mut Frame) {
    out.resize(width, height);
    termcall_pixels::i420_to_rgb(y, u, v, strides, width as usize, height as usize, &mut out.rgb);
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
