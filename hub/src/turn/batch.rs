//! Reading a UDP socket a batch at a time: `recvmmsg` on Linux into preallocated slots, with
//! the kernel's headers set up once (a refill allocates nothing); one packet a call elsewhere.
//! And a receive queue large enough that a moment without the CPU loses nothing under a flood.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// The largest packet kept whole: the `turn` server reads into buffers of this size.
pub const SLOT: usize = 1500;
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

/// Received packets: `lens[i]` bytes of slot `i` came from `from[i]`; `next` is the first not
/// yet judged.
pub struct Batch {
    data: Box<[u8]>,
    lens: Box<[usize]>,
    from: Box<[SocketAddr]>,
    next: usize,
    filled: usize,
    #[cfg(target_os = "linux")]
    kernel: Headers,
}

impl Batch {
    pub fn new(slots: usize) -> Self {
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

    pub fn next(&mut self) -> Option<(&[u8], SocketAddr)> {
        if self.next >= self.filled {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some((&self.data[i * SLOT..i * SLOT + self.lens[i]], self.from[i]))
    }

    /// Fills the batch from `socket` without waiting: `WouldBlock` when nothing is there.
    #[cfg(target_os = "linux")]
    pub fn receive(&mut self, socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
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
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
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


/// A socket address as the kernel takes it.
#[cfg(target_os = "linux")]
pub fn socket_addr_to_c(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
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

