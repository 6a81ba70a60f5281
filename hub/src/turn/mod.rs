//! The hub's embedded STUN/TURN server (the `turn` crate's, on tokio), so that a call whose
//! direct path is blocked falls back to a relay through the hub, with the media still
//! end-to-end encrypted. One UDP port answers STUN Binding requests and TURN allocations; the
//! same port on TCP (and TLS) and the hub's `/turn` WebSocket carry TURN for clients whose
//! UDP is blocked.
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
//! - [`streams`]: TURN clients on streams (TCP, TLS, WebSocket); [`framing`]: TURN messages on a
//!   byte stream; [`tcp`]: the TURN port's TCP and TLS listener.

pub mod auth;
pub mod batch;
pub mod credentials;
pub mod framing;
pub mod guarded;
pub mod listener;
pub mod nonce;
pub mod policy;
pub mod quota;
pub mod relay;
pub mod renewal;
pub mod streams;
pub mod tcp;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use termcall_shared::IceServer;
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use turn::server::config::{ConnConfig, ServerConfig};
use turn::server::Server;

use crate::metrics::Metrics;
use credentials::Credentials;
use listener::{Gate, GuardedListener};
use policy::{OwnAddresses, PeerPolicy};
use quota::{Limits, Quotas};
use streams::Streams;

/// Where termcall clients carry TURN over the hub's own port, as a WebSocket.
pub const STREAM_PATH: &str = "/turn";
/// Tries at a pair of free ports (UDP and TCP alike) when the TURN port is chosen by the system.
const PORT_TRIES: usize = 16;

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
    /// The TURN port's TCP listener.
    tcp: Option<tokio::task::JoinHandle<()>>,
    /// Clients on streams; `None` where the port has no reader thread to join them to.
    streams: Option<Arc<Streams>>,
    /// Whether `turns:` is served (the hub has a certificate).
    tls: bool,
    /// Where clients reach it.
    pub addr: SocketAddr,
    creds: Credentials,
}

impl Turn {
    /// Binds the port (UDP and TCP) and starts serving; `tls` serves `turns:` on the TCP side.
    pub async fn start(s: &TurnSettings, tls: Option<TlsAcceptor>, metrics: Arc<Metrics>) -> anyhow::Result<Turn> {
        let (socket, tcp) = bind_port(s.listen).await?;
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
            GuardedListener::with_reader_thread(socket, Gate::new(creds.clone(), metrics.clone()))
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
        let streams = listener.injector().map(|inject| Streams::new(listener.guard.clone(), inject, metrics.clone()));
        let tcp = streams.as_ref().map(|streams| {
            listener.route_streams(streams.clone() as Arc<dyn guarded::Route>);
            tokio::spawn(tcp::run(tcp, streams.clone(), tls.clone()))
        });
        let renewal = tokio::spawn(renewal::run(listener, bound));
        Ok(Turn { server, renewal, tcp, streams, tls: tls.is_some(), addr: SocketAddr::new(s.public_ip, bound.port()), creds })
    }

    /// Clients on streams (the `/turn` WebSocket joins them), if this platform has them.
    pub fn streams(&self) -> Option<&Arc<Streams>> {
        self.streams.as_ref()
    }

    /// The STUN and TURN entries for `name`'s welcome, with fresh credentials.
    pub fn ice_servers(&self, name: &str, now: SystemTime) -> Vec<IceServer> {
        let (username, credential) = self.creds.issue(name, now);
        vec![
            IceServer { urls: vec![format!("stun:{}", self.addr)], username: None, credential: None },
            IceServer { urls: self.turn_urls(), username: Some(username), credential: Some(credential) },
        ]
    }

    /// UDP first; TCP and TLS for those whose UDP is blocked.
    fn turn_urls(&self) -> Vec<String> {
        let mut urls = vec![format!("turn:{}?transport=udp", self.addr)];
        if self.streams.is_some() {
            urls.push(format!("turn:{}?transport=tcp", self.addr));
            if self.tls {
                urls.push(format!("turns:{}?transport=tcp", self.addr));
            }
        }
        urls
    }

    /// The credentials, for tests and tools that act as a client.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Closes every allocation and the port.
    pub async fn close(&self) {
        self.renewal.abort();
        if let Some(tcp) = &self.tcp {
            tcp.abort();
        }
        let _ = self.server.close().await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Some(tcp) = &self.tcp {
            tcp.abort();
        }
    }
}

/// The TURN port on UDP and on TCP. Port 0 asks the system for one free on both.
async fn bind_port(listen: SocketAddr) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let tries = if listen.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let socket = UdpSocket::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot bind the TURN port {listen} (--turn-port): {e}"))?;
        match TcpListener::bind(socket.local_addr()?).await {
            Ok(tcp) => return Ok((socket, tcp)),
            Err(e) => last = Some((socket.local_addr()?, e)),
        }
    }
    let (at, e) = last.expect("at least one try");
    anyhow::bail!("cannot bind the TURN port on TCP {at} (--turn-port; TURN over TCP and TLS listens beside UDP): {e}")
}
