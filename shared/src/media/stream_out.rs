//! The sending side of a stream transport (TURN over TCP, TLS or a WebSocket): packets wait in
//! a [`StreamQueue`] (late video dropped there), and the writer takes the next one only when
//! the socket's unsent backlog is small. Without that, the kernel's send buffer (megabytes,
//! autotuned) would become a standing queue of seconds behind a slow or retransmitting link,
//! which no congestion controller could see until too late; with it, what waits, waits where
//! it can still be dropped.
//!
//! One `StreamOut` per stream: any task pushes, the stream's writer task takes.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use termcall_congestion::stream_queue::StreamQueue;
use tokio::sync::Notify;

/// Unsent bytes in the socket above which the writer waits: about 65 ms at 1 Mbit/s.
pub const LOW_WATER: usize = 8 * 1024;
/// How often a writer looks at the backlog while it is above [`LOW_WATER`]: at once again
/// after 1 ms, then less and less often, so that a peer that stops reading (its window
/// full, the backlog stuck) costs a wakeup every 32 ms, not every millisecond.
const BACKLOG_POLL: Duration = Duration::from_millis(1);
const BACKLOG_POLL_MAX: Duration = Duration::from_millis(32);

/// A stream's outbound queue.
pub struct StreamOut {
    queue: Mutex<StreamQueue>,
    ready: Notify,
    /// The stream's TCP socket, for its backlog (-1: none whose backlog we can read).
    fd: AtomicI32,
    closed: AtomicBool,
}

impl StreamOut {
    /// For a stream on the TCP socket `fd`, which must stay open as long as the writer calls
    /// [`StreamOut::next`] (the writer owns the stream).
    pub fn new(fd: Option<i32>) -> Self {
        Self::with_limit(fd, termcall_congestion::stream_queue::MAX_BYTES)
    }

    /// The same, holding at most `max_bytes`.
    pub fn with_limit(fd: Option<i32>, max_bytes: usize) -> Self {
        let queue = StreamQueue::new(termcall_congestion::stream_queue::PATIENCE, max_bytes);
        StreamOut { queue: Mutex::new(queue), ready: Notify::new(), fd: AtomicI32::new(fd.unwrap_or(-1)), closed: AtomicBool::new(false) }
    }

    /// The stream's socket, once it is open (packets may be queued before).
    pub fn set_fd(&self, fd: Option<i32>) {
        self.fd.store(fd.unwrap_or(-1), Ordering::Release);
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, StreamQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a copy of `packet` for the writer; false if it was dropped.
    pub fn push(&self, packet: &[u8]) -> bool {
        let queued = self.queue().push(packet, Instant::now());
        self.ready.notify_one();
        queued
    }

    /// The next packet to write, once the socket can take it without queueing; `None` once closed.
    pub async fn next(&self) -> Option<Vec<u8>> {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            let fd = self.fd.load(Ordering::Acquire);
            if fd >= 0 {
                let mut wait = BACKLOG_POLL;
                while unsent_bytes(fd) > LOW_WATER {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(BACKLOG_POLL_MAX);
                    if self.closed.load(Ordering::Acquire) {
                        return None;
                    }
                }
            }
            if let Some(p) = self.queue().pop(Instant::now()) {
                return Some(p);
            }
            self.ready.notified().await;
        }
    }

    /// A written packet's buffer, for reuse.
    pub fn recycle(&self, buf: Vec<u8>) {
        self.queue().recycle(buf);
    }

    /// Wakes the writer to stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// Whether the writer was told to stop.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Packets dropped rather than sent late.
    pub fn dropped(&self) -> u64 {
        self.queue().dropped()
    }
}

/// Bytes written to a TCP socket that it has not sent yet (Linux's `SIOCOUTQNSD`); 0 where it
/// cannot be read.
pub fn unsent_bytes(fd: i32) -> usize {
    #[cfg(target_os = "linux")]
    {
        /// From linux/sockios.h: the bytes in the send queue not yet sent.
        const SIOCOUTQNSD: libc::c_ulong = 0x894B;
        let mut n: libc::c_int = 0;
        // SAFETY: the ioctl writes one int to `n`; a bad fd makes it fail, which reads as 0.
        if unsafe { libc::ioctl(fd, SIOCOUTQNSD as _, &mut n) } == 0 {
            return usize::try_from(n).unwrap_or(0);
        }
    }
    let _ = fd;
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_backlog_of_a_socket_nobody_reads_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut receiver, _) = listener.accept().unwrap();
        assert_eq!(unsent_bytes(sender.as_raw_fd()), 0);
        sender.set_nonblocking(true).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        // Fill the receiver's window and then the sender's buffer.
        let mut written = 0;
        while let Ok(n) = std::io::Write::write(&mut sender, &chunk) {
            written += n;
            if written > 64 << 20 {
                break;
            }
        }
        assert!(unsent_bytes(sender.as_raw_fd()) > LOW_WATER, "a full send buffer is unsent");
        let mut buf = vec![0u8; 1 << 20];
        let _ = receiver.read(&mut buf);
        assert_eq!(unsent_bytes(-1), 0, "a bad descriptor reads as nothing");
    }

    #[tokio::test]
    async fn the_writer_gets_packets_in_order_and_stops_when_closed() {
        let out = std::sync::Arc::new(StreamOut::new(None));
        assert!(out.push(b"one"));
        assert!(out.push(b"two"));
        assert_eq!(out.next().await.as_deref(), Some(&b"one"[..]));
        assert_eq!(out.next().await.as_deref(), Some(&b"two"[..]));
        let waiting = tokio::spawn({
            let out = out.clone();
            async move { out.next().await }
        });
        tokio::task::yield_now().await;
        out.push(b"three");
        assert_eq!(waiting.await.unwrap().as_deref(), Some(&b"three"[..]));
        out.close();
        assert_eq!(out.next().await, None);
    }
}
