//! A UDP socket handed to the `turn` server with a guard in front: the guard decides, packet by
//! packet, what the server gets to see and what goes out. Dropped packets vanish silently, as
//! on a lossy network; the guard counts them.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use webrtc_util::Conn;

/// What a [`GuardedSocket`] lets through.
pub trait Guard: Send + Sync + 'static {
    /// Whether a packet received from `from` goes on to the server.
    fn inbound(&self, packet: &[u8], from: SocketAddr) -> bool;
    /// Whether a packet from the server goes out to `to`.
    fn outbound(&self, _packet: &[u8], _to: SocketAddr) -> bool {
        true
    }
}

/// A socket and its guard. It only sends to and receives from addresses; it never connects.
pub struct GuardedSocket<G> {
    socket: UdpSocket,
    pub guard: G,
}

impl<G: Guard> GuardedSocket<G> {
    pub fn new(socket: UdpSocket, guard: G) -> Self {
        GuardedSocket { socket, guard }
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
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if self.guard.inbound(&buf[..n], from) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("a TURN socket sends only to an address".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.guard.outbound(buf, target) {
            return Ok(buf.len());
        }
        Ok(self.socket.send_to(buf, target).await?)
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
