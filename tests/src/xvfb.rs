//! A virtual X screen (Debian's `xvfb`) for real terminals, and screenshots of it (`xwd`, from
//! x11-apps, read here: 24-bit TrueColor XWD). The server is killed when dropped.

use std::os::fd::FromRawFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Xvfb {
    pub display: String,
    child: Child,
}

/// A screenshot: width, height, RGB row by row.
pub struct Shot {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Shot {
    /// Writes it as a PPM (for a look after a failure).
    pub fn save(&self, path: &std::path::Path) {
        let mut out = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        out.extend_from_slice(&self.rgb);
        let _ = std::fs::write(path, out);
    }

    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

impl Xvfb {
    /// A screen of `w`x`h` at 24 bits on a display number Xvfb picks itself (`-displayfd`:
    /// it writes the number once it accepts clients, so tests in parallel never race for one);
    /// fails loudly without Xvfb.
    pub fn start(w: u32, h: u32) -> Xvfb {
        let which = Command::new("sh").args(["-c", "command -v Xvfb && command -v xwd"]).output().expect("sh");
        assert!(which.status.success(), "Xvfb and xwd are needed (scripts/setup installs xvfb and x11-apps)");
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors; the write end is inherited by Xvfb (no CLOEXEC).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
        // SAFETY: both were just opened and are owned here alone.
        let (read, write) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) };
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", &fds[1].to_string(), "-screen", "0", &format!("{w}x{h}x24"), "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        drop(write);
        // The number, then a newline, once the server is ready (EOF if it died).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(read), &mut text);
            let _ = tx.send(text);
        });
        match rx.recv_timeout(Duration::from_secs(15)).ok().and_then(|t| t.trim().parse::<u32>().ok()) {
            Some(n) => Xvfb { display: format!(":{n}"), child },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Xvfb did not start within 15 s");
            }
        }
    }

    /// The whole screen now.
    pub fn screenshot(&self) -> Shot {
        let out = Command::new("xwd").args(["-root", "-silent", "-display", &self.display]).output().expect("run xwd");
        assert!(out.status.success(), "xwd failed: {}", String::from_utf8_lossy(&out.stderr));
        parse_xwd(&out.stdout).expect("a 24-bit XWD screenshot")
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TrueColor XWD of 24 or 32 bits a pixel (xwd writes either of a 24-bit screen, as the
/// server's pixmap format says), red in the high byte.
fn parse_xwd(d: &[u8]) -> Option<Shot> {
    let field = |i: usize| -> Option<u32> { Some(u32::from_be_bytes(d.get(i * 4..i * 4 + 4)?.try_into().ok()?)) };
    let (header, w, h, order, bpp, bpl, ncolors) = (field(0)?, field(4)?, field(5)?, field(7)?, field(11)?, field(12)?, field(19)?);
    if bpp != 24 && bpp != 32 {
        return None;
    }
    let (w, h, bpl, px) = (w as usize, h as usize, bpl as usize, bpp as usize / 8);
    let start = header as usize + ncolors as usize * 12;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = d.get(start + y * bpl..start + y * bpl + w * px)?;
        for p in row.chunks_exact(px) {
            if order == 0 {
                rgb.extend_from_slice(&[p[2], p[1], p[0]]);
            } else {
                rgb.extend_from_slice(&[p[px - 3], p[px - 2], p[px - 1]]);
            }
        }
    }
    Some(Shot { width: w, height: h, rgb })
}
