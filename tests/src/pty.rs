//! A pty whose other end the test holds: a fake terminal of its own.

use std::os::fd::{FromRawFd, OwnedFd};

/// A pty of `cols`x`rows` cells (and `px` pixels, 0x0 when the terminal does not say):
/// (master, slave).
pub fn open(cols: u16, rows: u16, px: (u16, u16)) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let mut size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: px.0, ws_ypixel: px.1 };
    // SAFETY: openpty writes the two descriptors it opens; no name, default termios.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &mut size) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened and are owned here alone.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Makes reads of `fd` return at once when nothing is there.
pub fn nonblocking(fd: &impl std::os::fd::AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller owns.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
    }
}
