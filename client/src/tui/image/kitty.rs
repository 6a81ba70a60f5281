//! The kitty graphics protocol (kitty, Ghostty, WezTerm, Konsole): each frame is sent with the
//! pane's image id and placement id, so the terminal replaces the picture in place, with no
//! flicker and nothing left behind. The pixels go zlib-compressed as base64 in chunks of 4096,
//! or, on a local terminal that proved it can read them, through a shared-memory object the
//! terminal reads and removes (no compression, a few dozen bytes on the pty). The image is at
//! most the source's size and the terminal scales it to the cells it covers (`c`, `r`).

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress};

use super::{base64_into, passthrough};

/// How the pixels travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// zlib-compressed, in the escape sequence.
    Direct,
    /// Through a POSIX shared-memory object of ours, named in the escape sequence.
    SharedMemory,
}

/// One image's placement: its id, the cells it covers, its layer.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub id: u32,
    pub cols: u16,
    pub rows: u16,
    /// Above the text: the picture covers the cells under it.
    pub z: i32,
}

/// Base64 bytes a chunk carries at most (the protocol's limit).
const CHUNK: usize = 4096;

/// Shared-memory objects kept for the terminal to read: older ones are removed (read by then,
/// or never to be: a newer frame replaced them), the rest when we are done.
const UNREAD: usize = 4;

/// Reused buffers: compressed pixels, base64 text; and the shared-memory objects the terminal
/// may not have read yet.
pub struct Kitty {
    zlib: Compress,
    packed: Vec<u8>,
    text: Vec<u8>,
    seq: u64,
    unread: std::collections::VecDeque<String>,
}

impl Default for Kitty {
    fn default() -> Kitty {
        Kitty { zlib: Compress::new(Compression::fast(), true), packed: Vec::new(), text: Vec::new(), seq: 0, unread: Default::default() }
    }
}

impl Drop for Kitty {
    /// A terminal that went away (or never read them) leaves nothing behind in /dev/shm.
    fn drop(&mut self) {
        for name in self.unread.drain(..) {
            unlink_shm(&name);
        }
    }
}

impl Kitty {
    /// Appends to `out` the escapes that show `rgb` (`w`x`h`) at the cursor, replacing the
    /// image `place.id` had. `wrap`: inside tmux (each escape goes through its passthrough).
    pub fn frame(&mut self, out: &mut Vec<u8>, rgb: &[u8], (w, h): (u32, u32), place: Place, transfer: Transfer, wrap: bool) {
        let keys = format!("a=T,f=24,s={w},v={h},i={},p=1,c={},r={},z={},C=1,q=2", place.id, place.cols, place.rows, place.z);
        if transfer == Transfer::SharedMemory {
            self.seq += 1;
            let name = format!("/termcall-{}-{}-{}", std::process::id(), place.id, self.seq);
            if write_shm(&name, rgb).is_ok() {
                if self.unread.len() >= UNREAD {
                    if let Some(old) = self.unread.pop_front() {
                        unlink_shm(&old);
                    }
                }
                self.unread.push_back(name.clone());
                self.text.clear();
                base64_into(name.as_bytes(), &mut self.text);
                let mut esc = Vec::with_capacity(keys.len() + self.text.len() + 32);
                let _ = write!(esc, "\x1b_G{keys},t=s,S={};", rgb.len());
                esc.extend_from_slice(&self.text);
                esc.extend_from_slice(b"\x1b\\");
                passthrough(out, &esc, wrap);
                return;
            }
            // No shared memory after all: the pixels go in the escape.
        }
        self.zlib.reset();
        self.packed.clear();
        self.packed.reserve(rgb.len() / 2 + 1024);
        loop {
            let before = self.zlib.total_in() as usize;
            let status = self.zlib.compress_vec(&rgb[before..], &mut self.packed, FlushCompress::Finish);
            match status {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => self.packed.reserve(self.packed.capacity().max(4096)),
                Err(_) => return,
            }
        }
        self.text.clear();
        base64_into(&self.packed, &mut self.text);
        let chunks = self.text.len().div_ceil(CHUNK).max(1);
        let mut esc = Vec::with_capacity(CHUNK + 128);
        for (i, chunk) in self.text.chunks(CHUNK).enumerate() {
            esc.clear();
            let more = u8::from(i + 1 < chunks);
            if i == 0 {
                let _ = write!(esc, "\x1b_G{keys},o=z,m={more};");
            } else {
                let _ = write!(esc, "\x1b_Gm={more};");
            }
            esc.extend_from_slice(chunk);
            esc.extend_from_slice(b"\x1b\\");
            passthrough(out, &esc, wrap);
        }
    }

    /// Bytes the last frame's pixels took in the escapes (compressed, as base64).
    pub fn payload_len(&self) -> usize {
        self.text.len()
    }
}

/// The escape that removes image `id` and frees its pixels.
pub fn delete(out: &mut Vec<u8>, id: u32, wrap: bool) {
    passthrough(out, format!("\x1b_Ga=d,d=I,i={id},q=2\x1b\\").as_bytes(), wrap);
}

/// Creates the shared-memory object `name` holding `data`, for the terminal to read and remove.
pub fn write_shm(name: &str, data: &[u8]) -> std::io::Result<()> {
    let cname = std::ffi::CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated name; the descriptor is owned by the File below at once.
    let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned here alone.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let written = f.write_all(data);
    if written.is_err() {
        unlink_shm(name);
    }
    written
}

/// Removes a shared-memory object (the terminal does, once it has read it; this is for one it
/// never read).
pub fn unlink_shm(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: a NUL-terminated name.
        unsafe { libc::shm_unlink(c.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::image::readback;

    #[test]
    fn a_frame_comes_back_from_its_escapes_in_chunks() {
        // Noise, so that it compresses badly and takes several chunks.
        let (w, h) = (64u32, 48u32);
        let mut seed = 1u32;
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        let mut k = Kitty::default();
        let mut out = Vec::new();
        k.frame(&mut out, &rgb, (w, h), Place { id: 7, cols: 8, rows: 3, z: 1 }, Transfer::Direct, false);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("\x1b_Ga=T,f=24,s=64,v=48,i=7,p=1,c=8,r=3,z=1,C=1,q=2,o=z,m=1;"));
        assert!(text.matches("\x1b_G").count() >= 3, "several chunks");
        assert!(text.contains("\x1b_Gm=0;"));
        let back = readback::kitty(&out).expect("decodes");
        assert_eq!((back.0, back.1), (w, h));
        assert_eq!(back.2, rgb);
        // Through tmux: the same, wrapped, and it still decodes.
        let mut wrapped = Vec::new();
        k.frame(&mut wrapped, &rgb, (w, h), Place { id: 7, cols: 8, rows: 3, z: 1 }, Transfer::Direct, true);
        assert!(wrapped.starts_with(b"\x1bPtmux;\x1b\x1b_G"));
        assert_eq!(readback::kitty(&wrapped).expect("decodes").2, rgb);
    }

    #[test]
    fn shared_memory_carries_the_pixels_and_the_escape_only_their_name() {
        let rgb = vec![200u8; 30 * 20 * 3];
        let mut k = Kitty::default();
        let mut out = Vec::new();
        k.frame(&mut out, &rgb, (30, 20), Place { id: 3, cols: 4, rows: 2, z: 1 }, Transfer::SharedMemory, false);
        assert!(out.len() < 200, "{} bytes", out.len());
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.contains(",t=s,S=1800;"));
        let b64 = text.split(';').nth(1).and_then(|s| s.strip_suffix("\x1b\\")).expect("a name");
        let name = String::from_utf8(readback::unbase64(b64.as_bytes()).expect("base64")).expect("utf8");
        let held = std::fs::read(format!("/dev/shm{name}")).expect("the object is there for the terminal");
        unlink_shm(&name);
        assert_eq!(held, rgb);
    }
}
