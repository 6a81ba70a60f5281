//! A UDP socket handed to the `turn` server with a guard in front: the guard decides, packet by
//! packet, what the server gets to see and what goes out, and may answer or rewrite a packet
//! itself. Dropped packets vanish silently, as on a lossy network; the guard counts them.
//!
//! The socket is read a batch at a time ([`super::batch`]): under a flood, most packets are
//! dropped by the guard, and one system call per packet would make the hub lose the race with
//! the sender, so that the kernel's queue overflowed and dropped legitimate packets with the
//! flood. The guard then runs over the batch; the server gets the packets it lets through, one
//! per `recv_from`, copied out of the batch. A port that may be flooded gets a reader thread
//! of its own ([`GuardedSocket::with_reader_thread`]).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use webrtc_util::Conn;

use super::batch::Batch;
#[cfg(test)]
use super::batch::SLOT;
#[cfg(any(test, not(target_os = "linux")))]
use super::batch::MAX_BATCH;


/// What becomes of a packet received from the network.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// On to the server as it is.
    Pass,
    Drop,
    /// Not to the server: this answer goes back to the sender.
    Reply(Vec<u8>),
    /// On to the server, as these bytes instead.
    Rewrite(Vec<u8>),
}

/// What becomes of a packet the server sends.
#[derive(Debug, PartialEq, Eq)]
pub enum Outbound {
    Pass,
    Drop,
    /// Out as these bytes instead.
    Rewrite(Vec<u8>),
}

/// What a [`GuardedSocket`] lets through. Called for every packet: relayed media too.
pub trait Guard: Send + Sync + 'static {
    fn inbound(&self, packet: &[u8], from: SocketAddr) -> Inbound;
    fn outbound(&self, _packet: &[u8], _to: SocketAddr) -> Outbound {
        Outbound::Pass
    }
}

/// Where packets to some addresses go instead of the socket (clients on streams: see
/// [`super::streams`]).
pub trait Route: Send + Sync {
    /// Takes `packet` if `to` is one of its addresses (sent or dropped); false if it is not.
    fn send(&self, packet: &[u8], to: SocketAddr) -> bool;
}

/// A socket and its guard. It only sends to and receives from addresses; it never connects.
pub struct GuardedSocket<G> {
    socket: UdpSocket,
    /// Packets received and not yet judged. Locked only by the socket's one reader (the server
    /// reads each socket from one task), so never contended.
    batch: Mutex<Batch>,
    /// With a reader thread of its own ([`GuardedSocket::with_reader_thread`]): what it let through.
    passed: Option<tokio::sync::Mutex<mpsc::Receiver<(Bytes, SocketAddr)>>>,
    /// Into that channel, for clients on streams ([`super::streams`]).
    inject: Option<mpsc::Sender<(Bytes, SocketAddr)>>,
    /// Where packets to stream clients go instead of the socket.
    streams: OnceLock<Arc<dyn Route>>,
    pub guard: Arc<G>,
}

/// Packets a reader thread lets through that the server has not taken yet; past this they are
/// dropped (the server is behind, as a full socket queue would drop them).
const PASSED_QUEUE: usize = 4096;

impl<G: Guard> GuardedSocket<G> {
    /// A socket read `batch` packets at a time at most (one slot of [`super::batch::SLOT`] bytes each).
    pub fn new(socket: UdpSocket, guard: G, batch: usize) -> Self {
        GuardedSocket { socket, batch: Mutex::new(Batch::new(batch)), passed: None, inject: None, streams: OnceLock::new(), guard: Arc::new(guard) }
    }

    /// A socket read and judged by a thread of its own, a batch at a time: a port that may be
    /// flooded (the TURN port) is drained at the rate the kernel delivers, whatever else the
    /// runtime's workers are doing, so that the flood does not fill the socket's queue and
    /// drop legitimate packets with it. The server gets what passes through a channel.
    #[cfg(target_os = "linux")]
    pub fn with_reader_thread(socket: UdpSocket, guard: G) -> io::Result<Self> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: dup returns a new descriptor (or -1) that nothing else owns.
        let fd = unsafe { libc::dup(socket.as_raw_fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a valid descriptor we own, just made.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let guard = Arc::new(guard);
        let (tx, rx) = mpsc::channel(PASSED_QUEUE);
        let g = guard.clone();
        let inject = Some(tx.clone());
        std::thread::Builder::new().name("termcall-turn-rx".into()).spawn(move || reader::run(fd, &*g, tx))?;
        let passed = Some(tokio::sync::Mutex::new(rx));
        Ok(GuardedSocket { socket, batch: Mutex::new(Batch::new(1)), passed, inject, streams: OnceLock::new(), guard })
    }

    /// Elsewhere, read by the server's task like any other.
    #[cfg(not(target_os = "linux"))]
    pub fn with_reader_thread(socket: UdpSocket, guard: G) -> io::Result<Self> {
        Ok(Self::new(socket, guard, MAX_BATCH))
    }

    /// Where packets for the server can be put besides the socket (with a reader thread only).
    pub fn injector(&self) -> Option<mpsc::Sender<(Bytes, SocketAddr)>> {
        self.inject.clone()
    }

    /// Packets to stream clients' addresses go to `streams` from now on.
    pub fn route_streams(&self, streams: Arc<dyn Route>) {
        let _ = self.streams.set(streams);
    }

    /// Sends to a stream client if `to` is one's, else to the socket.
    async fn deliver(&self, packet: &[u8], to: SocketAddr) -> io::Result<()> {
        if let Some(streams) = self.streams.get() {
            if streams.send(packet, to) {
                return Ok(());
            }
        }
        self.socket.send_to(packet, to).await.map(|_| ())
    }

    /// The next packet of the batch that the guard lets through, copied into `buf`; answers
    /// the guard makes go out on the way. None when the batch is used up.
    fn next_passed(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((packet, from)) = batch.next() {
            let give = |bytes: &[u8], buf: &mut [u8]| {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Some((n, from))
            };
            match self.guard.inbound(packet, from) {
                Inbound::Pass => return give(packet, buf),
                Inbound::Drop => {}
                Inbound::Reply(answer) => {
                    // A full send buffer loses the answer, as the network might: the sender retries.
                    let _ = self.socket.try_send_to(&answer, from);
                }
                Inbound::Rewrite(packet) if packet.len() <= buf.len() => return give(&packet, buf),
                Inbound::Rewrite(_) => {}
            }
        }
        None
    }

    /// Reads what the socket holds into the batch, without waiting.
    fn refill(&self) -> io::Result<()> {
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        batch.receive(&self.socket)
    }
}

/// The reader thread of [`GuardedSocket::with_reader_thread`].
#[cfg(target_os = "linux")]
mod reader {
    use std::net::SocketAddr;
    use std::os::fd::{AsRawFd, OwnedFd};

    use bytes::{Bytes, BytesMut};
    use tokio::sync::mpsc;

    use super::{Guard, Inbound};
    use crate::turn::batch::{socket_addr_to_c, Batch, MAX_BATCH};

    /// How long one wait for packets lasts before the thread looks whether to stop.
    const POLL_MS: libc::c_int = 200;

    /// Reads `fd` a batch at a time, judges each packet, answers what the guard answers and
    /// sends on what passes, until the server's side of the channel is gone.
    pub fn run<G: Guard>(fd: OwnedFd, guard: &G, tx: mpsc::Sender<(Bytes, SocketAddr)>) {
        let mut batch = Batch::new(MAX_BATCH);
        // Passed packets are cut from one growing buffer: an allocation per 64 KiB, not per packet.
        let mut store = BytesMut::with_capacity(64 * 1024);
        while !tx.is_closed() {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } <= 0 {
                continue;
            }
            if batch.receive(&fd).is_err() {
                continue; // WouldBlock (another reader took it) or an ICMP error: read again
            }
            while let Some((packet, from)) = batch.next() {
                let pass = |bytes: &[u8], store: &mut BytesMut| {
                    if store.capacity() - store.len() < bytes.len() {
                        *store = BytesMut::with_capacity(64 * 1024);
                    }
                    store.extend_from_slice(bytes);
                    // A full channel loses the packet, as a full socket queue would.
                    let _ = tx.try_send((store.split().freeze(), from));
                };
                match guard.inbound(packet, from) {
                    Inbound::Pass => pass(packet, &mut store),
                    Inbound::Drop => {}
                    Inbound::Reply(answer) => send_to(&fd, &answer, from),
                    Inbound::Rewrite(rewritten) => pass(&rewritten, &mut store),
                }
            }
        }
    }

    /// Sends `bytes` to `to` without waiting; a full send buffer loses it, as the network might.
    fn send_to(fd: &OwnedFd, bytes: &[u8], to: SocketAddr) {
        let (name, len) = socket_addr_to_c(to);
        // SAFETY: `bytes` and `name` are valid for the lengths given for the call.
        unsafe { libc::sendto(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT, (&name as *const libc::sockaddr_storage).cast(), len) };
    }
}


#[async_trait::async_trait]
impl<G: Guard> Conn for GuardedSocket<G> {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other("a TURN socket is never connected".into()))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        if let Some(passed) = &self.passed {
            let Some((packet, from)) = passed.lock().await.recv().await else {
                return Err(webrtc_util::Error::Other("the TURN port's reader stopped".into()));
            };
            let n = packet.len().min(buf.len());
            buf[..n].copy_from_slice(&packet[..n]);
            return Ok((n, from));
        }
        loop {
            if let Some(got) = self.next_passed(buf) {
                return Ok(got);
            }
            match self.socket.async_io(Interest::READABLE, || self.refill()).await {
                Ok(()) => {}
                // An ICMP error from an earlier send surfaces here on Linux: not this socket's fault.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("a TURN socket sends only to an address".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        match self.guard.outbound(buf, target) {
            Outbound::Pass => self.deliver(buf, target).await?,
            Outbound::Drop => {}
            Outbound::Rewrite(packet) => self.deliver(&packet, target).await?,
        }
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Drops packets starting with 0, answers those starting with 1 itself, and rewrites
    /// those starting with 2; the rest pass.
    struct ByFirstByte;

    impl Guard for ByFirstByte {
        fn inbound(&self, packet: &[u8], _from: SocketAddr) -> Inbound {
            match packet.first() {
                Some(0) => Inbound::Drop,
                Some(1) => Inbound::Reply(b"answer".to_vec()),
                Some(2) => Inbound::Rewrite(vec![2, 2, 2]),
                _ => Inbound::Pass,
            }
        }
    }

    #[tokio::test]
    async fn batches_are_judged_packet_by_packet_and_only_what_passes_reaches_the_server() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = socket.local_addr().unwrap();
        // Three slots: the ten packets below take several reads.
        let guarded = GuardedSocket::new(socket, ByFirstByte, 3);
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sent: [&[u8]; 10] = [&[0, 9], &[7, 1], &[1], &[0], &[0], &[2, 5], &[8; 1400], &[1], &[0], &[9]];
        for p in sent {
            peer.send_to(p, to).await.unwrap();
        }
        let mut buf = [0u8; SLOT];
        let mut got = Vec::new();
        for _ in 0..4 {
            let (n, from) = tokio::time::timeout(Duration::from_secs(2), guarded.recv_from(&mut buf)).await.expect("a packet").unwrap();
            assert_eq!(from, peer.local_addr().unwrap());
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, vec![vec![7, 1], vec![2, 2, 2], vec![8; 1400], vec![9]]);
        for _ in 0..2 {
            let (n, _) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf)).await.expect("an answer").unwrap();
            assert_eq!(&buf[..n], b"answer");
        }
        // Nothing else passes; a later packet is still received.
        peer.send_to(&[0], to).await.unwrap();
        peer.send_to(&[5, 5], to).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), guarded.recv_from(&mut buf)).await.expect("a packet").unwrap();
        assert_eq!(&buf[..n], &[5, 5]);
    }

    #[tokio::test]
    async fn a_packet_longer_than_a_slot_is_cut_to_it_as_the_server_would_read_it() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = socket.local_addr().unwrap();
        let guarded = GuardedSocket::new(socket, ByFirstByte, MAX_BATCH);
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(&[4; 3000], to).await.unwrap();
        let mut buf = [0u8; 4000];
        let (n, _) = guarded.recv_from(&mut buf).await.unwrap();
        assert_eq!(n, SLOT);
    }
}
