//! TURN through the hub's WebSocket, for a client whose UDP is blocked (a firewall that lets
//! only TCP out). webrtc-rs's ICE agent speaks TURN over UDP only, so a local shim carries it:
//!
//! - The agent is given `turn:ADDR?transport=udp`, where ADDR is a UDP socket of the shim's on
//!   this machine, with the hub's TURN credentials.
//! - Each local socket that sends there is one TURN client: the shim opens a WebSocket of its
//!   own to the hub's `/turn` (the port, TLS and certificate the signaling uses) and sends each
//!   datagram as one binary message; each message back becomes a datagram to that socket.
//! - The hub serves these streams with the same TURN server, credentials, quotas and relays
//!   as UDP; the media inside stays DTLS-SRTP, end to end between the peers.
//! - What waits to go to the hub waits in a [`StreamOut`]: video that cannot leave within
//!   100 ms is dropped, never queued behind a slow or retransmitting TCP connection.
//!
//! Whether UDP works is found before any call: [`probe_udp`] asks the hub's STUN server and
//! calls UDP blocked if no answer comes within [`PROBE_WITHIN`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use termcall_shared::media::stream_out::StreamOut;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use super::connect::{self, ConnectError};

/// How long the UDP probe waits for the hub's STUN answer: a few round trips of any real
/// path. A call placed before it is done waits for it.
pub const PROBE_WITHIN: Duration = Duration::from_millis(600);
/// The probe's request is sent again this often until then.
const PROBE_RESEND: Duration = Duration::from_millis(150);
/// Local sockets (TURN clients) one shim carries at most.
const MAX_CLIENTS: usize = 8;
/// How long a stream to the hub may take to open.
const OPEN_WITHIN: Duration = Duration::from_secs(5);

/// What the UDP probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp {
    /// Not probed yet (or probing).
    Unknown,
    Reachable,
    Blocked,
}

/// Where a call may carry TURN over a stream: the hub's `/turn` URL and its TLS settings.
#[derive(Clone)]
pub struct StreamRelay {
    pub url: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// What the probe found, updated after each welcome.
    pub udp: tokio::sync::watch::Receiver<Udp>,
}

impl std::fmt::Debug for StreamRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRelay").field("url", &self.url).field("udp", &*self.udp.borrow()).finish()
    }
}

impl StreamRelay {
    /// Whether UDP is blocked, waiting for the probe (at most [`PROBE_WITHIN`] and a little).
    pub async fn udp_blocked(&self) -> bool {
        let mut udp = self.udp.clone();
        let found = tokio::time::timeout(PROBE_WITHIN + Duration::from_millis(500), udp.wait_for(|u| *u != Udp::Unknown)).await;
        matches!(found, Ok(Ok(u)) if *u == Udp::Blocked)
    }
}

/// The engine's side: what the hub offers, and the UDP probe made after each welcome.
pub struct RelayRoutes {
    /// The hub's `/turn` URL, if it offers one.
    url: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    udp: tokio::sync::watch::Sender<Udp>,
    probe: Option<JoinHandle<()>>,
}

impl Drop for RelayRoutes {
    fn drop(&mut self) {
        if let Some(p) = &self.probe {
            p.abort();
        }
    }
}

impl RelayRoutes {
    /// For the hub at `login`'s URL.
    pub fn new(login: &super::signaling::Login) -> Self {
        let tls = login.url.starts_with("wss://").then(|| connect::tls_config(login.ca.as_deref()).ok()).flatten();
        RelayRoutes { url: None, tls, udp: tokio::sync::watch::channel(Udp::Unknown).0, probe: None }
    }

    /// A welcome came: note where the hub takes TURN over its WebSocket, and (in `auto`) probe
    /// whether UDP reaches its STUN server from `bind`, the address ICE gathers on.
    pub fn on_welcome(&mut self, hub_url: &str, turn_stream: Option<&str>, ice_servers: &[termcall_shared::IceServer], mode: super::peer::RelayMode, bind: &[String]) {
        self.url = turn_stream.and_then(|path| stream_url(hub_url, path));
        if let Some(p) = self.probe.take() {
            p.abort();
        }
        let target = ice_servers.iter().flat_map(|s| &s.urls).find_map(|u| stun_target(u));
        let (Some(_), Some(target), super::peer::RelayMode::Auto) = (&self.url, target, mode) else {
            self.udp.send_replace(Udp::Reachable);
            return;
        };
        self.udp.send_replace(Udp::Unknown);
        let udp = self.udp.clone();
        let ip = bind_ip(bind);
        self.probe = Some(tokio::spawn(async move {
            let found = if probe_udp(&target, ip).await { Udp::Reachable } else { Udp::Blocked };
            if found == Udp::Blocked {
                warn!("no answer over UDP from the hub's STUN server {target}: calls will carry media over the hub's WebSocket (TCP)");
            }
            udp.send_replace(found);
        }));
    }

    /// What a call needs to carry TURN over a stream, if the hub offers it.
    pub fn for_call(&self) -> Option<StreamRelay> {
        Some(StreamRelay { url: self.url.clone()?, tls: self.tls.clone(), udp: self.udp.subscribe() })
    }
}

/// The address ICE gathers on (the first of `bind`), for the probe and the shim: an unspecified
/// or unreadable one means loopback.
pub fn bind_ip(bind: &[String]) -> IpAddr {
    bind.first()
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// The `/turn` URL on the hub of `hub_url` (`ws://host:port/ws`), or `None` if it is not one.
pub fn stream_url(hub_url: &str, path: &str) -> Option<String> {
    let (scheme, rest) = hub_url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && path.starts_with('/')).then(|| format!("{scheme}://{authority}{path}"))
}

/// The address of a `stun:HOST:PORT` URL.
pub fn stun_target(url: &str) -> Option<String> {
    let rest = url.strip_prefix("stun:")?;
    let target = rest.split('?').next()?;
    target.contains(':').then(|| target.to_owned())
}

/// A STUN Binding request with transaction id `id`.
fn binding_request(id: [u8; 12]) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[..2].copy_from_slice(&[0x00, 0x01]);
    m[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    m[8..].copy_from_slice(&id);
    m
}

/// Whether `reply` is the success answer to the request with `id`.
fn answers(reply: &[u8], id: [u8; 12]) -> bool {
    reply.len() >= 20 && reply[..2] == [0x01, 0x01] && reply[8..20] == id
}

/// Whether the STUN server at `target` answers over UDP from `bind_ip` within [`PROBE_WITHIN`].
pub async fn probe_udp(target: &str, bind_ip: IpAddr) -> bool {
    let Ok(socket) = UdpSocket::bind((bind_ip, 0)).await else { return false };
    let Some(to) = tokio::net::lookup_host(target).await.ok().and_then(|mut a| a.find(|a| a.is_ipv4() == bind_ip.is_ipv4())) else {
        return false;
    };
    let id: [u8; 12] = rand::random();
    let request = binding_request(id);
    let mut buf = [0u8; 576];
    let deadline = tokio::time::Instant::now() + PROBE_WITHIN;
    while tokio::time::Instant::now() < deadline {
        let _ = socket.send_to(&request, to).await;
        let wait = (tokio::time::Instant::now() + PROBE_RESEND).min(deadline);
        while let Ok(Ok((n, from))) = tokio::time::timeout_at(wait, socket.recv_from(&mut buf)).await {
            if from == to && answers(&buf[..n], id) {
                return true;
            }
        }
    }
    false
}

/// The shim that carries a call's TURN over the hub's WebSocket, when the call needs one:
/// `--relay tcp`, or `auto` with UDP to the hub blocked. `bind` is where ICE gathers.
pub async fn shim_for(relay: Option<&StreamRelay>, mode: super::peer::RelayMode, bind: &[String]) -> anyhow::Result<Option<Shim>> {
    use super::peer::RelayMode;
    let Some(relay) = relay else {
        if mode == RelayMode::Tcp {
            anyhow::bail!("--relay tcp needs a hub that carries TURN over its WebSocket, and this one does not (is it running with --no-turn?)");
        }
        return Ok(None);
    };
    let wanted = match mode {
        RelayMode::Tcp => true,
        RelayMode::Auto => relay.udp_blocked().await,
        RelayMode::Always | RelayMode::Never => false,
    };
    if !wanted {
        return Ok(None);
    }
    Ok(Some(Shim::start(relay, bind_ip(bind)).await?))
}

/// The shim: a local UDP address for the agent's TURN client, carried to the hub over streams.
pub struct Shim {
    /// Where the agent sends TURN (`turn:ADDR?transport=udp`).
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shim {
    /// Binds the local socket on `bind_ip` and opens the first stream to `relay`'s hub, so that
    /// a hub that cannot be reached is an error now, not a silent call.
    pub async fn start(relay: &StreamRelay, bind_ip: IpAddr) -> anyhow::Result<Shim> {
        let first = open(relay).await?;
        let socket = Arc::new(UdpSocket::bind((bind_ip, 0)).await?);
        let addr = socket.local_addr()?;
        let local_ip = if bind_ip.is_unspecified() { None } else { Some(bind_ip) };
        let task = tokio::spawn(run(socket, relay.clone(), local_ip, first));
        debug!(%addr, url = %relay.url, "TURN over the hub's WebSocket");
        Ok(Shim { addr, task })
    }
}

/// A stream to the hub, and its socket's descriptor.
type Opened = (connect::HubSocket, Option<i32>);

async fn open(relay: &StreamRelay) -> anyhow::Result<Opened> {
    match tokio::time::timeout(OPEN_WITHIN, connect::connect_with_fd(&relay.url, relay.tls.as_ref())).await {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(ConnectError::Retry(e) | ConnectError::Fatal { message: e, .. })) => anyhow::bail!("TURN over the hub's WebSocket: {e}"),
        Err(_) => anyhow::bail!("TURN over the hub's WebSocket: {} did not answer within {OPEN_WITHIN:?}", relay.url),
    }
}

/// Reads the agent's datagrams and hands each to its client's stream, opened on first use.
async fn run(socket: Arc<UdpSocket>, relay: StreamRelay, local_ip: Option<IpAddr>, first: Opened) {
    let mut clients: HashMap<SocketAddr, Arc<StreamOut>> = HashMap::new();
    let mut spare = Some(first);
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            // An ICMP error from an earlier send: not ours to fix; never a busy loop.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Only this machine's sockets: the agent's.
        if !(from.ip().is_loopback() || Some(from.ip()) == local_ip) {
            continue;
        }
        clients.retain(|_, out| !out.is_closed());
        if let Some(out) = clients.get(&from) {
            out.push(&buf[..n]);
            continue;
        }
        if clients.len() >= MAX_CLIENTS {
            continue;
        }
        let out = Arc::new(StreamOut::new(None));
        out.push(&buf[..n]);
        clients.insert(from, out.clone());
        tokio::spawn(carry(socket.clone(), from, out, relay.clone(), spare.take()));
    }
}

/// Carries one TURN client's messages between its local socket `agent` and a stream to the hub.
async fn carry(socket: Arc<UdpSocket>, agent: SocketAddr, out: Arc<StreamOut>, relay: StreamRelay, opened: Option<Opened>) {
    let opened = match opened {
        Some(o) => Ok(o),
        None => open(&relay).await,
    };
    let (ws, fd) = match opened {
        Ok(o) => o,
        Err(e) => {
            warn!("{e:#}");
            return out.close();
        }
    };
    // The writer now knows the socket, and waits on its backlog.
    out.set_fd(fd);
    let (mut sink, mut source) = ws.split();
    let to_hub = async {
        while let Some(p) = out.next().await {
            // tungstenite takes the buffer: it is not recycled.
            if sink.send(Message::Binary(p.into())).await.is_err() {
                break;
            }
        }
    };
    let from_hub = async {
        while let Some(Ok(m)) = source.next().await {
            if let Message::Binary(b) = m {
                let _ = socket.send_to(&b, agent).await;
            }
        }
    };
    tokio::select! {
        () = to_hub => {}
        () = from_hub => {}
    }
    debug!(%agent, "TURN stream to the hub closed");
    out.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turn_url_is_on_the_hubs_own_host_and_port() {
        assert_eq!(stream_url("ws://198.18.0.1:8080/ws", "/turn").as_deref(), Some("ws://198.18.0.1:8080/turn"));
        assert_eq!(stream_url("wss://hub.example.org/ws?x=1", "/turn").as_deref(), Some("wss://hub.example.org/turn"));
        assert_eq!(stream_url("wss://[::1]:9/", "/turn").as_deref(), Some("wss://[::1]:9/turn"));
        assert_eq!(stream_url("hub.example.org", "/turn"), None);
        assert_eq!(stream_url("ws://h/ws", "turn"), None);
        assert_eq!(stun_target("stun:198.18.0.1:3478").as_deref(), Some("198.18.0.1:3478"));
        assert_eq!(stun_target("turn:198.18.0.1:3478"), None);
    }

    #[test]
    fn only_the_answer_to_our_request_counts() {
        let id = [7u8; 12];
        let mut reply = binding_request(id);
        reply[..2].copy_from_slice(&[0x01, 0x01]);
        assert!(answers(&reply, id));
        assert!(!answers(&reply, [8; 12]));
        assert!(!answers(&binding_request(id), id), "a request is no answer");
        assert!(!answers(&reply[..19], id));
    }

    #[tokio::test]
    async fn a_silent_port_is_blocked_and_a_stun_server_is_not() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(!probe_udp(&silent.local_addr().unwrap().to_string(), "127.0.0.1".parse().unwrap()).await);
        assert!(started.elapsed() >= PROBE_WITHIN && started.elapsed() < PROBE_WITHIN * 2);
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let at = server.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut buf = [0u8; 576];
            // Answers the second request only: the probe sends again.
            let _ = server.recv_from(&mut buf).await;
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            let mut reply = buf[..n].to_vec();
            reply[..2].copy_from_slice(&[0x01, 0x01]);
            server.send_to(&reply, from).await.unwrap();
        });
        assert!(probe_udp(&at, "127.0.0.1".parse().unwrap()).await);
    }
}
