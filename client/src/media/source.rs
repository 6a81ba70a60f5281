//! Choosing and opening a video source: `--video testsrc|none|FILE.y4m|FILE.png|FILE.jpg|/dev/videoN`.

use std::path::{Path, PathBuf};

use super::frame::Frame;
use super::scale::scale_into;
use super::testsrc;
use super::y4m::Y4m;

/// What the user asked to send as video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSpec {
    TestSrc,
    /// The sync test pattern's flashes ([`super::syncpattern`]).
    Sync,
    None,
    Y4m(PathBuf),
    Image(PathBuf),
    Camera(PathBuf),
}

impl VideoSpec {
    /// Parses the `--video` value; the error says what is accepted.
    pub fn parse(s: &str) -> Result<VideoSpec, String> {
        let lower = s.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "testsrc" | "" => VideoSpec::TestSrc,
            "sync" => VideoSpec::Sync,
            "none" | "off" => VideoSpec::None,
            _ if lower.ends_with(".y4m") => VideoSpec::Y4m(s.into()),
            _ if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) => VideoSpec::Image(s.into()),
            _ if lower.starts_with("/dev/video") => VideoSpec::Camera(s.into()),
            _ => return Err(format!("unsupported --video {s:?}: use testsrc, sync, none, a .y4m file, a .png/.jpg image, or /dev/videoN")),
        })
    }
}

/// A source of frames at the video size.
pub enum VideoSource {
    TestSrc { n: u64 },
    /// The sync test pattern, sampled on a grid of `tick_ms`.
    Sync { tick_ms: u64 },
    Still(Frame),
    Y4m(Box<Y4m>),
    #[cfg(feature = "camera")]
    Camera(Box<super::camera::Camera>),
}

impl VideoSource {
    /// Opens the source for `width`x`height` output at `fps`; `Ok(None)` for `none`.
    pub fn open(spec: &VideoSpec, width: u32, height: u32, fps: u32) -> Result<Option<VideoSource>, String> {
        Ok(Some(match spec {
            VideoSpec::None => return Ok(None),
            VideoSpec::TestSrc => VideoSource::TestSrc { n: 0 },
            VideoSpec::Sync => VideoSource::Sync { tick_ms: 1000 / u64::from(fps.max(1)) },
            VideoSpec::Image(p) => VideoSource::Still(load_image(p, width, height)?),
            VideoSpec::Y4m(p) => VideoSource::Y4m(Box::new(Y4m::open(p)?)),
            #[cfg(feature = "camera")]
            VideoSpec::Camera(p) => VideoSource::Camera(Box::new(super::camera::Camera::open(p, width, height, fps)?)),
            #[cfg(not(feature = "camera"))]
            VideoSpec::Camera(p) => {
                let _ = fps;
                return Err(format!(
                    "cannot open camera {}: this termcall was built without camera support; \
                     rebuild with `cargo build --release --features camera`, or use testsrc, a .y4m file or an image",
                    p.display()
                ));
            }
        }))
    }

    /// Writes the next frame into `out` (already at the video size).
    pub fn next_into(&mut self, out: &mut Frame) -> Result<(), String> {
        match self {
            VideoSource::TestSrc { n } => {
                testsrc::draw(out, *n);
                *n += 1;
                Ok(())
            }
            VideoSource::Still(f) => {
                out.rgb.copy_from_slice(&f.rgb);
                Ok(())
            }
            VideoSource::Sync { tick_ms } => {
                super::syncpattern::draw(out, std::time::SystemTime::now(), *tick_ms);
                Ok(())
            }
            VideoSource::Y4m(y) => y.next_into(out),
            #[cfg(feature = "camera")]
            VideoSource::Camera(c) => c.next_into(out),
        }
    }
}

/// Loads a still image and scales it to the video size.
pub fn load_image(path: &Path, width: u32, height: u32) -> Result<Frame, String> {
    let img = image::open(path).map_err(|e| format!("cannot read image {}: {e}", path.display()))?.to_rgb8();
    let src = Frame { width: img.width(), height: img.height(), rgb: img.into_raw() };
    let mut out = Frame::new(width, height);
    scale_into(&src, &mut out);
    Ok(out)
}

/// Parses `--video-size WxH`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad --video-size {s:?}: give WIDTHxHEIGHT with even numbers from 16 to 3840, like 640x480");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if !(16..=3840).contains(&w) || !(16..=3840).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(bad());
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(VideoSpec::parse("testsrc").unwrap(), VideoSpec::TestSrc);
        assert_eq!(VideoSpec::parse("none").unwrap(), VideoSpec::None);
        assert!(matches!(VideoSpec::parse("a.Y4M").unwrap(), VideoSpec::Y4m(_)));
        assert!(matches!(VideoSpec::parse("x.jpeg").unwrap(), VideoSpec::Image(_)));
        assert!(matches!(VideoSpec::parse("/dev/video0").unwrap(), VideoSpec::Camera(_)));
        assert!(VideoSpec::parse("movie.mkv").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("640x480").unwrap(), (640, 480));
        for bad in ["640", "0x0", "641x480", "axb", "99999x2"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_files_name_themselves() {
        let e = VideoSource::open(&VideoSpec::Image("/nonexistent/cat.png".into()), 64, 48, 15).err().unwrap();
        assert!(e.contains("/nonexistent/cat.png"), "{e}");
        let e = VideoSource::open(&VideoSpec::Y4m("/nonexistent/a.y4m".into()), 64, 48, 15).err().unwrap();
        assert!(e.contains("/nonexistent/a.y4m"), "{e}");
        let e = VideoSource::open(&VideoSpec::Camera("/dev/video77".into()), 64, 48, 15).err().unwrap();
        assert!(e.contains("/dev/video77"), "{e}");
    }
}
