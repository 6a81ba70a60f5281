//! The pool nonce's renewal (see [`super::listener`]): the hub sends the TURN port a request of
//! its own, from a socket of its own, at start and whenever the pool nonce is 45 minutes old (or
//! a client found none), and the server answers with a fresh nonce, which the gate keeps.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tracing::{debug, warn};

use super::listener::GuardedListener;

/// How often the pool nonce's age is looked at, and the least time between two renewals.
const CHECK_EVERY: Duration = Duration::from_secs(60);
const AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// How long to wait for the server's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// Runs for the life of the TURN server.
pub async fn run(listener: Arc<GuardedListener>, turn_addr: SocketAddr) {
    let ip = match turn_addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(ip, turn_addr.port());
    let socket = match UdpSocket::bind((ip, 0)).await.and_then(|s| Ok((s.local_addr()?, s))) {
        Ok((me, socket)) => {
            listener.guard.set_prober(me);
            socket
        }
        Err(e) => {
            warn!("cannot bind the TURN nonce renewal socket on {ip}: {e}; TURN allocations will fail");
            return;
        }
    };
    let mut buf = vec![0u8; 1500];
    loop {
        if listener.guard.needs_renewal(Instant::now()) {
            match listener.guard.renewal_request(SystemTime::now()) {
                Some(request) => {
                    if let Err(e) = socket.send_to(&request, target).await {
                        debug!("TURN nonce renewal not sent: {e}");
                    }
                    // The answer went through the gate, which took the nonce; read it off the socket.
                    let _ = tokio::time::timeout(ANSWER_WITHIN, socket.recv_from(&mut buf)).await;
                }
                None => warn!("TURN nonce renewal request could not be built"),
            }
        }
        tokio::select! {
            () = listener.guard.renewal_wanted() => {}
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
        tokio::time::sleep(AT_MOST_EVERY).await;
    }
}
