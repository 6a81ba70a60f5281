//! A UDP socket handed to the `turn` server with a guard in front: the guard decides, packet by
//! packet, what the server gets to see and what goes out, and may answer or rewrite a packet
//! itself. Dropped packets vanish silently, as on a lossy network; the guard counts them.
//!
//! The socket is read a batch at a time (`recvmmsg` on Linux): under a flood, most packets are
//! dropped by the guard, and one system call per packet would make the hub lose the race with
//! the sender, so that the kernel's queue overflowed and dropped legitimate packets with the
//! flood. The guard then runs over the batch; the server gets the packets it lets through, one
//! per `recv_from`, copied out of the batch.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use webrtc_util::Conn;

/// The largest packet kept whole: the `turn` server reads into buffers of this size.
const SLOT: usize = 1500;
/// The most packets one read takes.
pub const MAX_BATCH: usize = 64;

/// Asks the kernel for a receive queue of `bytes` on `socket` (it grants up to
/// `net.core.rmem_max`, or more to a privileged process), so that a moment in which the hub is
/// not scheduled does not overflow the queue under a flood and lose legitimate packets with it.
/// Returns what the queue now is.
#[cfg(target_os = "linux")]
pub fn enlarge_receive_queue(socket: &UdpSocket, bytes: usize) -> usize {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: `want` is a c_int that outlives the call; the length says so.
        if unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, option, (&want as *const libc::c_int).cast(), len) } == 0 {
            break;
        }
    }
    let (mut got, mut got_len): (libc::c_int, libc::socklen_t) = (0, len);
    // SAFETY: `got` and `got_len` are valid for writes of the length given.
    unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut got as *mut libc::c_int).cast(), &mut got_len) };
    usize::try_from(got).unwrap_or(0)
}

#[cfg(not(target_os = "linux"))]
pub fn enlarge_receive_queue(_socket: &UdpSocket, _bytes: usize) -> usize {
    0
}

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

/// A socket and its guard. It only sends to and receives from addresses; it never connects.
pub struct GuardedSocket<G> {
    socket: UdpSocket,
    /// Packets received and not yet judged. Locked only by the socket's one reader (the server
    /// reads each socket from one task), so never contended.
    batch: Mutex<Batch>,
    /// With a reader thread of its own ([`GuardedSocket::with_reader_thread`]): what it let through.
    passed: Option<tokio::sync::Mutex<mpsc::Receiver<(Bytes, SocketAddr)>>>,
    pub guard: Arc<G>,
}

/// Packets a reader thread lets through that the server has not taken yet; past this they are
/// dropped (the server is behind, as a full socket queue would drop them).
const PASSED_QUEUE: usize = 4096;

impl<G: Guard> GuardedSocket<G> {
    /// A socket read `batch` packets at a time at most (one slot of [`SLOT`] bytes each).
    pub fn new(socket: UdpSocket, guard: G, batch: usize) -> Self {
        GuardedSocket { socket, batch: Mutex::new(Batch::new(batch)), passed: None, guard: Arc::new(guard) }
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
        std::thread::Builder::new().name("termcall-turn-rx".into()).spawn(move || reader::run(fd, &*g, tx))?;
        Ok(GuardedSocket { socket, batch: Mutex::new(Batch::new(1)), passed: Some(tokio::sync::Mutex::new(rx)), guard })
    }

    /// Elsewhere, read by the server's task like any other.
    #[cfg(not(target_os = "linux"))]
    pub fn with_reader_thread(socket: UdpSocket, guard: G) -> io::Result<Self> {
        Ok(Self::new(socket, guard, MAX_BATCH))
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

/// Received packets: `lens[i]` bytes of slot `i` came from `from[i]`; `next` is the first not
/// yet judged.
struct Batch {
    data: Box<[u8]>,
    lens: Box<[usize]>,
    from: Box<[SocketAddr]>,
    next: usize,
    filled: usize,
    #[cfg(target_os = "linux")]
    kernel: Headers,
}

impl Batch {
    fn new(slots: usize) -> Self {
        let slots = slots.clamp(1, MAX_BATCH);
        let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut data = vec![0; slots * SLOT].into_boxed_slice();
        Batch {
            #[cfg(target_os = "linux")]
            kernel: Headers::new(&mut data),
            data,
            lens: vec![0; slots].into_boxed_slice(),
            from: vec![nowhere; slots].into_boxed_slice(),
            next: 0,
            filled: 0,
        }
    }

    fn next(&mut self) -> Option<(&[u8], SocketAddr)> {
        if self.next >= self.filled {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some((&self.data[i * SLOT..i * SLOT + self.lens[i]], self.from[i]))
    }

    /// Fills the batch from `socket` without waiting: `WouldBlock` when nothing is there.
    #[cfg(target_os = "linux")]
    fn receive(&mut self, socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
        let k = &mut self.kernel;
        // SAFETY: every header points into `k.names` and `k.iovs`, whose entries point into
        // `self.data` (see `Headers::new`); all are heap blocks owned by this batch, alive and
        // unmoved for the call, and the kernel writes within the lengths given.
        let n = unsafe { libc::recvmmsg(socket.as_raw_fd(), k.headers.as_mut_ptr(), k.headers.len() as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            self.lens[i] = (k.headers[i].msg_len as usize).min(SLOT);
            self.from[i] = socket_addr(&k.names[i]).unwrap_or(self.from[i]);
            // The kernel wrote the address's length there: room for any address next time.
            k.headers[i].msg_hdr.msg_namelen = NAME_LEN;
        }
        (self.next, self.filled) = (0, n);
        Ok(())
    }

    /// Elsewhere, one packet at a time.
    #[cfg(not(target_os = "linux"))]
    fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let (n, from) = socket.try_recv_from(&mut self.data[..SLOT])?;
        (self.lens[0], self.from[0], self.next, self.filled) = (n, from, 0, 1);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const NAME_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// What `recvmmsg` reads and writes: one header, buffer and address per slot, set up once.
#[cfg(target_os = "linux")]
struct Headers {
    headers: Box<[libc::mmsghdr]>,
    /// Never read here: the headers point into it.
    _iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_storage]>,
}

// SAFETY: the raw pointers in `Headers` point only into heap blocks owned by the same `Batch`
// (its slots, and `Headers`' own boxes), which move with it; a `Batch` is used by one thread
// at a time (it lives in a mutex).
#[cfg(target_os = "linux")]
unsafe impl Send for Headers {}

#[cfg(target_os = "linux")]
impl Headers {
    /// Headers for the slots of `data`.
    fn new(data: &mut [u8]) -> Self {
        let slots = data.len() / SLOT;
        // SAFETY (the zeroed values): all-zero bytes are valid values of these C structs.
        let mut names: Box<[libc::sockaddr_storage]> = (0..slots).map(|_| unsafe { std::mem::zeroed() }).collect();
        let mut iovs: Box<[libc::iovec]> = data.chunks_exact_mut(SLOT).map(|slot| libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: SLOT }).collect();
        let headers = iovs
            .iter_mut()
            .zip(names.iter_mut())
            .map(|(iov, name)| {
                // SAFETY: as above.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = NAME_LEN;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Headers { headers, _iovs: iovs, names }
    }
}

/// The address the kernel wrote into `name`.
#[cfg(target_os = "linux")]
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and storage is larger.
            let a: &libc::sockaddr_in = unsafe { &*(name as *const libc::sockaddr_storage).cast() };
            Some(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)), u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(name as *const libc::sockaddr_storage).cast() };
            Some(SocketAddrV6::new(Ipv6Addr::from(a.sin6_addr.s6_addr), u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

/// The reader thread of [`GuardedSocket::with_reader_thread`].
#[cfg(target_os = "linux")]
mod reader {
    use std::net::SocketAddr;
    use std::os::fd::{AsRawFd, OwnedFd};

    use bytes::{Bytes, BytesMut};
    use tokio::sync::mpsc;

    use super::{socket_addr_to_c, Batch, Guard, Inbound, MAX_BATCH};

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

/// A socket address as the kernel takes it.
#[cfg(target_os = "linux")]
fn socket_addr_to_c(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: storage is larger than and aligned for sockaddr_in.
            let sin: &mut libc::sockaddr_in = unsafe { &mut *(&mut name as *mut libc::sockaddr_storage).cast() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &mut libc::sockaddr_in6 = unsafe { &mut *(&mut name as *mut libc::sockaddr_storage).cast() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (name, len as libc::socklen_t)
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
            Outbound::Pass => Ok(self.socket.send_to(buf, target).await?),
            Outbound::Drop => Ok(buf.len()),
            Outbound::Rewrite(packet) => {
                self.socket.send_to(&packet, target).await?;
                Ok(buf.len())
            }
        }
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
