//! The relay sockets of TURN allocations: made in the configured port range, charged to the
//! requesting user's quota, and wrapped so that every packet is checked against the peer
//! policy and the user's bandwidth, and counted.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

use super::guarded::{Guard, GuardedSocket, Inbound, Outbound};
use super::quota::Claim;
use super::Shared;
use crate::metrics::Metrics;

/// How many random ports to try before an allocation is refused for want of one.
const PORT_TRIES: usize = 32;

/// Makes relay sockets for new allocations.
pub struct RelayGen {
    pub shared: Arc<Shared>,
    /// The local address relay sockets bind to.
    pub bind_ip: IpAddr,
    /// The address clients are told to reach their relay at.
    pub public_ip: IpAddr,
    pub ports: RangeInclusive<u16>,
}

impl RelayGen {
    async fn bind(&self, requested_port: u16) -> std::io::Result<UdpSocket> {
        if requested_port != 0 {
            return UdpSocket::bind((self.bind_ip, requested_port)).await;
        }
        let (lo, hi) = (*self.ports.start(), *self.ports.end());
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let port = rand::random_range(lo..=hi);
            match UdpSocket::bind((self.bind_ip, port)).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("empty relay port range")))
    }

    fn refuse(&self, why: String) -> turn::Error {
        Metrics::add(&self.shared.metrics.turn_allocations_refused_total, 1);
        tracing::info!("TURN allocation refused: {why}");
        turn::Error::Other(why)
    }
}

#[async_trait::async_trait]
impl RelayAddressGenerator for RelayGen {
    fn validate(&self) -> Result<(), turn::Error> {
        if self.ports.is_empty() || *self.ports.start() == 0 {
            return Err(turn::Error::Other("the relay port range is empty or starts at 0".into()));
        }
        Ok(())
    }

    async fn allocate_conn(&self, use_ipv4: bool, requested_port: u16) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let Some(user) = self.shared.requester() else {
            return Err(self.refuse("allocation without an authenticated user".into()));
        };
        if use_ipv4 != self.bind_ip.is_ipv4() {
            return Err(self.refuse(format!("{user} asked for an address family this hub does not relay")));
        }
        let claim = self.shared.quotas.claim(&user).map_err(|why| self.refuse(why))?;
        let socket = self.bind(requested_port).await.map_err(|e| self.refuse(format!("no free relay port: {e}")))?;
        let mut relay_addr = socket.local_addr().map_err(|e| self.refuse(e.to_string()))?;
        relay_addr.set_ip(self.public_ip);
        let m = &self.shared.metrics;
        Metrics::add(&m.turn_allocations_total, 1);
        Metrics::add(&m.turn_allocations_active, 1);
        tracing::debug!(%user, %relay_addr, "TURN allocation");
        let port = relay_addr.port();
        self.shared.policy.relays().open(port);
        let guard = RelayGuard { claim, shared: self.shared.clone(), sent_to: RwLock::new(Vec::new()), port };
        // A few packets a read: media comes in bursts of a frame, and each slot is 1.5 KB per allocation.
        Ok((Arc::new(GuardedSocket::new(socket, guard, 4)), relay_addr))
    }
}

/// Peers one allocation remembers having sent to; more are relayed but not remembered.
const MAX_PEERS: usize = 64;

/// What guards a relay socket: the peer policy and the user's bandwidth quota.
struct RelayGuard {
    claim: Claim,
    shared: Arc<Shared>,
    /// The peers this allocation has sent to. Only their packets are charged to the user, so
    /// that a stranger spraying a relay port cannot spend someone's quota (the turn server
    /// drops packets from peers without a permission after `recv_from`). Read on every packet
    /// (an uncontended read lock), written once per new peer.
    sent_to: RwLock<Vec<IpAddr>>,
    /// Its port, open to other relays while it lives.
    port: u16,
}

impl RelayGuard {
    fn has_sent_to(&self, ip: IpAddr) -> bool {
        self.sent_to.read().unwrap_or_else(|p| p.into_inner()).contains(&ip)
    }

    fn remember(&self, ip: IpAddr) {
        if self.has_sent_to(ip) {
            return;
        }
        let mut peers = self.sent_to.write().unwrap_or_else(|p| p.into_inner());
        if peers.len() < MAX_PEERS && !peers.contains(&ip) {
            peers.push(ip);
        }
    }

    /// Whether a packet of `len` bytes to or from `peer` may pass; counts it either way.
    fn admit(&self, peer: SocketAddr, len: usize) -> bool {
        let m = &self.shared.metrics;
        if !self.shared.policy.permits(peer) {
            Metrics::add(&m.turn_refused_peer_packets_total, 1);
            return false;
        }
        if !self.claim.usage().take(len, Instant::now()) {
            Metrics::add(&m.turn_quota_dropped_bytes_total, len as u64);
            return false;
        }
        Metrics::add(&m.turn_relayed_bytes_total, len as u64);
        true
    }
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        self.shared.policy.relays().close(self.port);
        self.shared.metrics.turn_allocations_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Guard for RelayGuard {
    fn inbound(&self, packet: &[u8], from: SocketAddr) -> Inbound {
        let pass = if self.has_sent_to(from.ip()) {
            self.admit(from, packet.len())
        } else if self.shared.policy.permits(from) {
            // Not (yet) a peer of ours: uncharged; turn relays it only with a permission.
            true
        } else {
            Metrics::add(&self.shared.metrics.turn_refused_peer_packets_total, 1);
            false
        };
        if pass { Inbound::Pass } else { Inbound::Drop }
    }

    fn outbound(&self, packet: &[u8], to: SocketAddr) -> Outbound {
        if !self.admit(to, packet.len()) {
            return Outbound::Drop;
        }
        self.remember(to.ip());
        Outbound::Pass
    }
}
