//! Everything the TUI writes to the terminal goes through one writer thread, in order: the UI
//! loop hands over each frame's bytes and goes on, so keys and engine events are never held up
//! by a slow terminal or link. What the UI draws is always written (it is small and ratatui's
//! next diff assumes it); an image frame is handed over only while the writer is idle, so a
//! slow terminal makes images skip frames, never queue them ([`super::image::pace`]).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One image frame's write: bytes, when it started, when it returned.
pub type Written = (usize, Instant, Instant);

struct Chunk {
    bytes: Vec<u8>,
    image: bool,
}

#[derive(Default)]
struct Shared {
    /// Chunks handed over and not yet written; of them, image frames.
    queued: AtomicUsize,
    images: AtomicUsize,
    failed: AtomicBool,
    /// The last image frame's write, until taken.
    image: Mutex<Option<Written>>,
    /// Emptied buffers, back from the writer for reuse (a few at most).
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Emptied buffers kept for reuse at most.
const SPARE: usize = 4;

/// The terminal's writer, as ratatui's backend writes to it: the UI's bytes gather here and
/// are handed over on flush.
pub struct Output {
    buf: Vec<u8>,
    writer: Writer,
}

/// The writer thread as seen from the UI loop, beside ratatui's backend: image frames, whether
/// the writer is idle, and the end.
#[derive(Clone)]
pub struct Writer {
    tx: Sender<Chunk>,
    shared: Arc<Shared>,
}

impl Output {
    /// A writer thread for `out` (stdout).
    pub fn new<W: Write + Send + 'static>(mut out: W) -> Output {
        let (tx, rx) = channel::<Chunk>();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let spawned = std::thread::Builder::new().name("terminal-writer".into()).spawn(move || {
            for mut chunk in rx {
                let start = Instant::now();
                let ok = out.write_all(&chunk.bytes).and_then(|()| out.flush()).is_ok();
                if chunk.image {
                    *s.image.lock().unwrap_or_else(|e| e.into_inner()) = Some((chunk.bytes.len(), start, Instant::now()));
                    s.images.fetch_sub(1, Ordering::SeqCst);
                }
                if !ok {
                    s.failed.store(true, Ordering::SeqCst);
                }
                s.queued.fetch_sub(1, Ordering::SeqCst);
                chunk.bytes.clear();
                let mut spare = s.spare.lock().unwrap_or_else(|e| e.into_inner());
                if spare.len() < SPARE {
                    spare.push(chunk.bytes);
                }
            }
        });
        // No thread: every write fails, as for a terminal that is gone. The thread, once
        // started, ends when the last sender is dropped.
        shared.failed.store(spawned.is_err(), Ordering::SeqCst);
        Output { buf: Vec::with_capacity(1 << 16), writer: Writer { tx, shared } }
    }

    /// The writer, for the UI loop.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }
}

impl Writer {
    /// Whether an image frame handed over is still being written.
    pub fn busy(&self) -> bool {
        self.shared.images.load(Ordering::SeqCst) > 0
    }

    /// Whether anything handed over is still being written.
    pub fn pending(&self) -> bool {
        self.shared.queued.load(Ordering::SeqCst) > 0
    }

    /// An empty buffer, one the writer is done with if there is one.
    pub fn buffer(&self) -> Vec<u8> {
        self.shared.spare.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// The last image frame's write, once it is done (taken: reported once).
    pub fn image_written(&self) -> Option<Written> {
        self.shared.image.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Hands over `bytes` (an image frame's escapes, or `image: false` other escapes), to be
    /// written after everything the UI flushed before.
    pub fn send(&self, bytes: Vec<u8>, image: bool) -> io::Result<()> {
        if self.shared.failed.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the terminal is gone"));
        }
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if image {
            self.shared.images.fetch_add(1, Ordering::SeqCst);
        }
        self.tx.send(Chunk { bytes, image }).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            if image {
                self.shared.images.fetch_sub(1, Ordering::SeqCst);
            }
            io::Error::new(io::ErrorKind::BrokenPipe, "the terminal writer stopped")
        })
    }

    /// Waits (up to `within`) for the writer to finish what it has: the terminal may then be
    /// restored with nothing of ours still to come.
    pub fn finish(&self, within: Duration) {
        let t0 = Instant::now();
        while self.pending() && t0.elapsed() < within {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Write for Output {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self.writer.buffer();
        let bytes = std::mem::replace(&mut self.buf, next);
        self.writer.send(bytes, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes `delay` for each write and keeps what it got.
    #[derive(Clone)]
    struct Slow(Arc<Mutex<Vec<u8>>>, Duration);

    impl Write for Slow {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.1);
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn everything_arrives_in_order_without_the_caller_waiting() {
        let sink = Slow(Arc::default(), Duration::from_millis(30));
        let mut out = Output::new(sink.clone());
        let w = out.writer();
        let t0 = Instant::now();
        out.write_all(b"ui-1 ").unwrap();
        out.flush().unwrap();
        w.send(b"image ".to_vec(), true).unwrap();
        out.write_all(b"ui-2").unwrap();
        out.flush().unwrap();
        assert!(t0.elapsed() < Duration::from_millis(20), "the caller waited {:?}", t0.elapsed());
        assert!(w.pending());
        w.finish(Duration::from_secs(2));
        assert!(!w.pending() && !w.busy());
        assert_eq!(&*sink.0.lock().unwrap(), b"ui-1 image ui-2");
        let (n, start, end) = w.image_written().expect("the image's write was timed");
        assert_eq!(n, 6);
        assert!(end - start >= Duration::from_millis(25));
        assert!(w.image_written().is_none(), "reported once");
    }

    #[test]
    fn a_gone_terminal_is_an_error_not_a_hang() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Output::new(Gone);
        let w = out.writer();
        out.write_all(b"x").unwrap();
        out.flush().unwrap();
        let t0 = Instant::now();
        while w.pending() && t0.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        out.write_all(b"y").unwrap();
        assert!(out.flush().is_err());
    }
}
