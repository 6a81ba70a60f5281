//! The TURN port on TCP, for browsers behind a firewall that blocks UDP: `turn:HOST:PORT?transport=tcp`,
//! and `turns:` (TLS with the hub's certificate) on the same port. The first byte tells the two
//! apart: 22 starts a TLS handshake and never a TURN message.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::streams::Streams;

/// How long a new connection may take to send its first byte, and then its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(5);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 22;

/// Accepts TURN clients on `listener` for the life of the server.
pub async fn run(listener: TcpListener, streams: Arc<Streams>, tls: Option<TlsAcceptor>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                debug!("TURN TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the limits, the connection is closed at once.
        let Some(admission) = streams.admit(peer.ip()) else { continue };
        let _ = stream.set_nodelay(true);
        let (streams, tls) = (streams.clone(), tls.clone());
        tokio::spawn(async move {
            let fd = fd_of(&stream);
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(HANDSHAKE, stream.peek(&mut first)).await, Ok(Ok(1))) {
                return;
            }
            if first[0] != TLS_HANDSHAKE {
                return streams.serve_framed(admission, stream, peer, fd).await;
            }
            let Some(tls) = tls else {
                return debug!(%peer, "TLS on the TURN port, but the hub has no certificate (--tls-cert)");
            };
            match tokio::time::timeout(HANDSHAKE, tls.accept(stream)).await {
                Ok(Ok(stream)) => streams.serve_framed(admission, stream, peer, fd).await,
                Ok(Err(e)) => debug!(%peer, "TURN TLS handshake failed: {e}"),
                Err(_) => debug!(%peer, "TURN TLS handshake timed out"),
            }
        });
    }
}

/// The socket's descriptor, for its unsent backlog.
pub fn fd_of(stream: &TcpStream) -> Option<i32> {
    #[cfg(unix)]
    return Some(std::os::fd::AsRawFd::as_raw_fd(stream));
    #[cfg(not(unix))]
    None
}
