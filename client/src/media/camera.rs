//! A V4L2 camera (`--video /dev/videoN`) as a video source; built with the `camera` feature.
//!
//! A capture thread owns the device: it dequeues every buffer the driver fills, converts it to
//! RGB and leaves it in a newest-only slot. The encoder takes whatever is newest at its own
//! pace, so a camera faster than `--fps` is thinned out, never queued.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};

use linuxvideo::format::{PixFormat, PixelFormat};
use linuxvideo::{BufType, Device, Fract};

use super::frame::Frame;
use super::pixfmt::yuyv_to_rgb;
use super::scale::scale_into;

/// Formats we can convert, best first: raw YUYV costs no decoding.
const PREFERRED: [PixelFormat; 3] = [PixelFormat::YUYV, PixelFormat::MJPG, PixelFormat::RGB3];

/// The newest captured picture, at the camera's own size, and whether the encoder has seen it;
/// and why capture stopped, if it did.
struct Slot {
    frame: Mutex<(Frame, bool)>,
    failed: Mutex<Option<String>>,
    stop: AtomicBool,
}

/// An open camera; capture stops when it drops.
pub struct Camera {
    slot: Arc<Slot>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The newest picture taken from the slot, kept so a slow camera repeats its last frame.
    latest: Frame,
}

impl Camera {
    /// Opens `path` asking for `width`x`height` at `fps`; the driver may pick a nearby size,
    /// which is scaled. Errors name the device and what went wrong.
    pub fn open(path: &Path, width: u32, height: u32, fps: u32) -> Result<Camera, String> {
        let slot = Arc::new(Slot { frame: Mutex::new((Frame::new(width, height), false)), failed: Mutex::new(None), stop: AtomicBool::new(false) });
        let (ready_tx, ready_rx) = mpsc::channel();
        let (s, p) = (slot.clone(), path.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("termcall-camera".into())
            .spawn(move || capture(&p, width, height, fps, &s, ready_tx))
            .map_err(|e| format!("cannot start camera thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Camera { slot, thread: Some(thread), latest: Frame::new(width, height) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("camera {} stopped while opening", path.display())),
        }
    }

    /// Scales the newest captured picture into `out`; an error once the camera has stopped
    /// (unplugged, say), rather than a frozen picture.
    pub fn next_into(&mut self, out: &mut Frame) -> Result<(), String> {
        if let Some(why) = self.slot.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(why);
        }
        if let Ok(mut g) = self.slot.frame.lock() {
            if g.1 {
                std::mem::swap(&mut self.latest, &mut g.0);
                g.1 = false;
            }
        }
        scale_into(&self.latest, out);
        Ok(())
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.slot.stop.store(true, Relaxed);
        // Wait (at most a frame interval) for the device to close, so that it can be opened
        // again at once: the start-up check opens it, then the call does.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn capture(path: &PathBuf, width: u32, height: u32, fps: u32, slot: &Slot, ready: mpsc::Sender<Result<(), String>>) {
    let name = path.display();
    let opened = (|| {
        let dev = Device::open(path).map_err(|e| format!("cannot open camera {name}: {e}"))?;
        let offered: Vec<PixelFormat> = dev.formats(BufType::VIDEO_CAPTURE).filter_map(|f| f.ok().map(|f| f.pixel_format())).collect();
        let fmt = PREFERRED
            .into_iter()
            .find(|f| offered.contains(f))
            .ok_or_else(|| format!("camera {name} offers {offered:?}; termcall reads YUYV, MJPG or RGB3"))?;
        let cap = dev.video_capture(PixFormat::new(width, height, fmt)).map_err(|e| format!("camera {name} refused {width}x{height}: {e}"))?;
        let _ = cap.set_frame_interval(Fract::new(1, fps.max(1)));
        let f = cap.format();
        let got = (f.pixel_format(), f.width(), f.height(), f.bytes_per_line() as usize);
        let stream = cap.into_stream().map_err(|e| format!("cannot stream from camera {name}: {e}"))?;
        Ok((stream, got))
    })();
    let (mut stream, got) = match opened {
        Ok(x) => {
            let _ = ready.send(Ok(()));
            x
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let (fmt, w, h, stride) = got;
    let mut rgb = Frame::new(w, h);
    while !slot.stop.load(Relaxed) {
        let converted = stream.dequeue(|buf| {
            if buf.is_error() {
                return Ok(Err("the driver flagged a corrupt buffer".to_string()));
            }
            Ok(convert(fmt, &buf, w, h, stride, &mut rgb))
        });
        match converted {
            Ok(Ok(())) => {
                if let Ok(mut g) = slot.frame.lock() {
                    std::mem::swap(&mut g.0, &mut rgb);
                    g.1 = true;
                }
            }
            Ok(Err(e)) => tracing::debug!("camera frame dropped: {e}"),
            Err(e) => {
                tracing::warn!("camera {name} stopped: {e}");
                if let Ok(mut f) = slot.failed.lock() {
                    *f = Some(format!("camera {name} stopped: {e}"));
                }
                return;
            }
        }
    }
}

fn convert(fmt: PixelFormat, data: &[u8], w: u32, h: u32, stride: usize, out: &mut Frame) -> Result<(), String> {
    if fmt == PixelFormat::YUYV {
        return yuyv_to_rgb(data, w, h, stride, out);
    }
    if fmt == PixelFormat::MJPG {
        let img = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg).map_err(|e| format!("bad MJPEG frame: {e}"))?.to_rgb8();
        *out = Frame { width: img.width(), height: img.height(), rgb: img.into_raw() };
        return Ok(());
    }
    // RGB3: packed RGB rows, possibly padded.
    let row = w as usize * 3;
    let stride = stride.max(row);
    if data.len() < stride * (h as usize).saturating_sub(1) + row {
        return Err("a truncated RGB frame".into());
    }
    out.resize(w, h);
    for y in 0..h as usize {
        out.rgb[y * row..(y + 1) * row].copy_from_slice(&data[y * stride..y * stride + row]);
    }
    Ok(())
}
