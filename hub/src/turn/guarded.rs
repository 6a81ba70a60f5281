//! A UDP socket handed to the `turn` server with a guard in front: the guard decides, packet by
//! packet, what the server gets to see and what goes out, and may answer or rewrite a packet
//! itself. Dropped packets vanish silently, as on a lossy network; the guard counts them.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use webrtc_util::Conn;

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
            match self.guard.inbound(&buf[..n], from) {
                Inbound::Pass => return Ok((n, from)),
                Inbound::Drop => {}
                Inbound::Reply(answer) => {
                    // A full send buffer loses the answer, as the network might: the sender retries.
                    let _ = self.socket.try_send_to(&answer, from);
                }
                Inbound::Rewrite(packet) if packet.len() <= buf.len() => {
                    buf[..packet.len()].copy_from_slice(&packet);
                    return Ok((packet.len(), from));
                }
                Inbound::Rewrite(_) => {}
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
