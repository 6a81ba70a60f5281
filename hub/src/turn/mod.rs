//! The hub's embedded STUN/TURN server (the `turn` crate's, on tokio), so that a call whose
//! direct path is blocked falls back to a relay through the hub, with the media still
//! end-to-end encrypted. One UDP port answers STUN Binding requests and TURN allocations.
//!
//! - [`credentials`]: time-limited TURN REST credentials, signed by a hub secret.
//! - [`auth`]: the server's credential check.
//! - [`guarded`]: a UDP socket with a guard that filters, answers, rewrites and counts its packets.
//! - [`listener`]: the TURN port's gate: nothing unauthenticated reaches the server or leaves state.
//! - [`nonce`]: stateless nonces, an HMAC of the client's address and the minute.
//! - [`renewal`]: the hub's own request that gets the server's nonce the gate hands requests over with.
//! - [`wire`]: the STUN message surgery the gate does.
//! - [`relay`]: relay sockets, in a port range, guarded by the peer policy and the quotas.
//! - [`policy`]: which peer addresses may be relayed to.
//! - [`quota`]: allocations and bandwidth per user.

pub mod auth;
pub mod batch;
pub mod credentials;
pub mod guarded;
pub mod listener;
pub mod nonce;
pub mod policy;
pub mod quota;
pub mod relay;
pub mod renewal;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use termcall_shared::IceServer;
use tokio::net::UdpSocket;
use turn::server::config::{ConnConfig, ServerConfig};
use turn::server::Server;

use crate::metrics::Metrics;
use credentials::Credentials;
use listener::{Gate, GuardedListener};
use policy::{OwnAddresses, PeerPolicy};
use quota::{Limits, Quotas};

/// The realm in TURN's long-term credential mechanism.
pub const REALM: &str = "termcall";
/// The TURN port's receive queue: 8 MiB holds about 35 ms of a one-socket flood on loopback
/// (or of a gigabit link full of small requests), so that a moment in which the hub is not
/// scheduled loses no one's media with the flood.
const LISTENER_QUEUE: usize = 8 << 20;

/// What the TURN server needs to start.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    /// The UDP address it listens on.
    pub listen: SocketAddr,
    /// The address handed to clients, for the server and for relays.
    pub public_ip: IpAddr,
    /// Ports relay sockets are made in.
    pub relay_ports: RangeInclusive<u16>,
    pub policy: PeerPolicy,
    /// The hub's other ports on its addresses (the WebSocket), which relays must never reach.
    pub service_ports: Vec<u16>,
    pub limits: Limits,
    /// How long issued credentials last.
    pub ttl: Duration,
    /// The signing secret; `None` picks a random one for this process.
    pub secret: Option<String>,
}

/// State the credential check and the relays share.
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub quotas: Quotas,
    pub policy: PeerPolicy,
    /// The user whose request the server is serving now (set by [`auth::Auth`], read by
    /// [`relay::RelayGen`] when that request makes an allocation).
    requester: Mutex<Option<String>>,
}

impl Shared {
    fn set_requester(&self, name: &str) {
        *self.requester.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_owned());
    }
    /// Read, not taken: turn may probe a port (EVEN-PORT) before the real allocation.
    fn requester(&self) -> Option<String> {
        self.requester.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The running server, and the URLs and credentials to give clients.
pub struct Turn {
    server: Server,
    renewal: tokio::task::JoinHandle<()>,
    /// Where clients reach it.
    pub addr: SocketAddr,
    creds: Credentials,
}

impl Turn {
    /// Binds the UDP port and starts serving.
    pub async fn start(s: &TurnSettings, metrics: Arc<Metrics>) -> anyhow::Result<Turn> {
        let socket = UdpSocket::bind(s.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind the TURN port {} (--turn-port): {e}", s.listen))?;
        let bound = socket.local_addr()?;
        let queue = batch::enlarge_receive_queue(&socket, LISTENER_QUEUE);
        tracing::debug!(bytes = queue, "TURN port receive queue");
        let mut service_ports = s.service_ports.clone();
        service_ports.push(bound.port());
        let own = OwnAddresses { ips: vec![s.public_ip, s.listen.ip()], relays: Default::default(), service_ports };
        let shared = Arc::new(Shared {
            metrics: metrics.clone(),
            quotas: Quotas::new(s.limits),
            policy: s.policy.clone().with_own(own),
            requester: Mutex::new(None),
        });
        let creds = match &s.secret {
            Some(secret) => Credentials::new(secret.as_bytes().to_vec(), s.ttl),
            None => Credentials::random(s.ttl),
        };
        let relays = relay::RelayGen {
            shared: shared.clone(),
            bind_ip: s.listen.ip(),
            public_ip: s.public_ip,
            ports: s.relay_ports.clone(),
        };
        let listener = Arc::new(
            GuardedListener::with_reader_thread(socket, Gate::new(creds.clone(), metrics))
                .map_err(|e| anyhow::anyhow!("cannot start the TURN port's reader: {e}"))?,
        );
        let server = Server::new(ServerConfig {
            // One socket: the server handles its requests one at a time, which `Shared::requester` relies on.
            conn_configs: vec![ConnConfig { conn: listener.clone(), relay_addr_generator: Box::new(relays) }],
            realm: REALM.to_owned(),
            auth_handler: Arc::new(auth::Auth { creds: creds.clone(), shared }),
            channel_bind_timeout: Duration::ZERO,
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the TURN server: {e}"))?;
        let renewal = tokio::spawn(renewal::run(listener, bound));
        Ok(Turn { server, renewal, addr: SocketAddr::new(s.public_ip, bound.port()), creds })
    }

    /// The STUN and TURN entries for `name`'s welcome, with fresh credentials.
    pub fn ice_servers(&self, name: &str, now: SystemTime) -> Vec<IceServer> {
        let (username, credential) = self.creds.issue(name, now);
        vec![
            IceServer { urls: vec![format!("stun:{}", self.addr)], username: None, credential: None },
            IceServer {
                urls: vec![format!("turn:{}?transport=udp", self.addr)],
                username: Some(username),
                credential: Some(credential),
            },
        ]
    }

    /// The credentials, for tests and tools that act as a client.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Closes every allocation and the port.
    pub async fn close(&self) {
        self.renewal.abort();
        let _ = self.server.close().await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}
