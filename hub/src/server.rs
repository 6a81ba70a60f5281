//! Accepting TCP connections, routing them, and shutting down on SIGINT or SIGTERM.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use crate::sfu::Sfu;
use crate::actor::{self, Input};
use crate::config::Config;
use crate::connection;
use crate::core::Hub;
use crate::http::{self, Body};
use crate::ice::{ExternalIce, IceDirectory};
use crate::metrics::Metrics;
use crate::turn::streams::Streams;
use crate::turn::{Turn, STREAM_PATH};
use crate::users::Users;

/// How long a client may take to send its HTTP request head.
/// How long a client may take for its TLS handshake and HTTP request head together.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections past --max-connections that are still read, to be answered 503; more are
/// closed at once, so that a connection flood cannot use up the file descriptors.
const REFUSALS_AT_ONCE: usize = 64;

/// Who may connect and how: TLS (`--tls-cert`/`--tls-key`) and the users (`--users`).
/// Loaded before the hub listens, so that a bad file stops it at once.
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<TlsAcceptor>,
    pub users: Option<Arc<Users>>,
}

impl Security {
    /// Reads the files the options name, or says what is wrong with them.
    pub fn load(cfg: &Config) -> Result<Security, String> {
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let users = match &cfg.users {
            Some(path) => {
                let users = Users::load(path)?;
                if users.is_empty() {
                    tracing::warn!("{} holds no users: no one can log in; add one with `termcall-hub add-user NAME --users {}`", path.display(), path.display());
                }
                Some(Arc::new(users))
            }
            None => None,
        };
        Ok(Security { tls, users })
    }
}

/// Binds the listener. Separate from [`run`] so that the caller can print the real address
/// (the port is chosen by the system when it is 0).
pub async fn bind(cfg: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind(cfg.listen).await
}

/// One of the `--max-connections` WebSocket connections, given back when dropped.
struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<ConnectionSlot> {
        let before = open.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot(open.clone());
        (before < max).then_some(slot)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts the embedded STUN/TURN server, unless `--no-turn`. Separate from [`run`] so that
/// the caller can report where it listens, and refuse to start when its port is taken.
/// `ws_port` is the bound WebSocket port, which relays must never reach.
pub async fn start_turn(cfg: &Config, ws_port: u16, tls: Option<TlsAcceptor>, metrics: Arc<Metrics>) -> anyhow::Result<Option<Arc<Turn>>> {
    let Some(mut settings) = cfg.turn().map_err(anyhow::Error::msg)? else { return Ok(None) };
    settings.service_ports.push(ws_port);
    Ok(Some(Arc::new(Turn::start(&settings, tls, metrics).await?)))
}

/// Serves until `shutdown` resolves, then tells every client and returns.
pub async fn run(
    listener: TcpListener,
    cfg: Config,
    turn: Option<Arc<Turn>>,
    external_ice: ExternalIce,
    security: Security,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let cluster = cfg.cluster_settings.clone();
    let mut hub = Hub::new(IceDirectory::new(external_ice, turn.clone()), cfg.ring_timeout()).first_call_id(first_call_id(cluster.is_some())).max_group(cfg.max_group);
    if let Some(c) = &cluster {
        hub = hub.clustered(&c.node, &c.url);
    }
    let (hub_tx, hub_rx) = mpsc::channel::<Input>(4096);
    let cluster = cluster.map(crate::cluster::spawn);
    let (sfu, sfu_rx) = Sfu::new(cfg.sfu(), metrics.clone());
    let hub_task = tokio::spawn(actor::run(hub, hub_rx, sfu, sfu_rx, metrics.clone(), cluster));
    let cfg = Arc::new(cfg);
    let next_conn = AtomicU64::new(1);
    let open = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::new(AtomicUsize::new(0));
    let streams = turn.as_ref().and_then(|t| t.streams().cloned());

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little instead of spinning.
                        debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let fd = crate::turn::tcp::fd_of(&stream);
                let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                // Every connection holds a slot from the start, handshakes and HTTP included.
                let slot = match ConnectionSlot::take(&open, cfg.max_connections) {
                    Some(slot) => Ok(slot),
                    None => match ConnectionSlot::take(&refusing, REFUSALS_AT_ONCE) {
                        Some(refusal) => Err(refusal),
                        None => {
                            debug!(conn, %peer, "over --max-connections and busy refusing: closed at once");
                            continue;
                        }
                    },
                };
                let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
                let accept = Accept { conn, peer, fd, hub: hub_tx.clone(), cfg: cfg.clone(), metrics: metrics.clone(), slot, deadline, users: security.users.clone(), streams: streams.clone() };
                let tls = security.tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => accept.serve(stream).await,
                        Some(tls) => match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
                            Ok(Ok(stream)) => accept.serve(stream).await,
                            Ok(Err(e)) => debug!(conn, %peer, "TLS handshake failed: {e}"),
                            Err(_) => debug!(conn, %peer, "TLS handshake timed out"),
                        },
                    }
                });
            }
        }
    }
    info!("shutting down: telling clients");
    let (done, finished) = oneshot::channel();
    if hub_tx.send(Input::Shutdown { done }).await.is_ok() {
        let _ = finished.await;
    }
    let _ = hub_task.await;
    if let Some(turn) = turn {
        turn.close().await;
    }
    // Give writers a moment to flush the goodbyes.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The first call id. Alone, the clock in milliseconds: a restarted hub then never reuses an
/// id its clients still hold. In a cluster, a random one, so that hubs do not hand out the
/// same ids (each uses a few million at most of 2^52). Both stay below 2^53, exact in JavaScript.
fn first_call_id(clustered: bool) -> u64 {
    if clustered {
        return rand::random_range(1u64 << 32..1u64 << 52);
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_millis() as u64)
}

/// What a new connection needs to be served.
struct Accept {
    conn: u64,
    peer: std::net::SocketAddr,
    /// The TCP socket under it (for TURN's unsent backlog).
    fd: Option<i32>,
    hub: mpsc::Sender<Input>,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    /// Its place under --max-connections, or (over it) under the refusals being answered.
    slot: Result<ConnectionSlot, ConnectionSlot>,
    /// When the TLS handshake and the request head must be done by.
    deadline: tokio::time::Instant,
    users: Option<Arc<Users>>,
    /// TURN's stream clients, for `/turn`.
    streams: Option<Arc<Streams>>,
}

impl Accept {
    /// Serves the connection's one HTTP request: the WebSocket (in a connection slot), or a
    /// page ([`http::public_page`]).
    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S) {
        let conn = self.conn;
        let head_timeout = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let me = Arc::new(Mutex::new(Some(self)));
        let service = service_fn(move |mut req: Request<Incoming>| {
            let me = me.clone();
            async move { Ok::<_, Infallible>(http::last(route(&me, &mut req))) }
        });
        if let Err(e) = http::builder(head_timeout).serve_connection(TokioIo::new(stream), service).with_upgrades().await {
            debug!(conn, "HTTP: {e}");
        }
    }
}

/// The answer to a request on the public listener; a WebSocket request is upgraded, and its
/// client served in a task of its own once the 101 is sent.
fn route(me: &Mutex<Option<Accept>>, req: &mut Request<Incoming>) -> Response<Body> {
    if req.uri().path() == STREAM_PATH && req.method() == Method::GET {
        return turn_stream(me, req);
    }
    if req.uri().path() != "/ws" || req.method() != Method::GET {
        return http::public_page(req);
    }
    let Some(Accept { conn, peer, hub, cfg, metrics, slot, users, .. }) = me.lock().ok().and_then(|mut a| a.take()) else {
        return http::text(StatusCode::BAD_REQUEST, "one request a connection\n");
    };
    let slot = match origin_and_slot(req, conn, &cfg, slot) {
        Ok(slot) => slot,
        Err(refusal) => return refusal,
    };
    upgrade(req, conn, slot, connection::ws_config(), move |ws| async move {
        debug!(conn, "WebSocket connection");
        connection::serve(ws, conn, peer.ip(), hub, cfg, users, metrics).await;
    })
}

/// What every WebSocket path checks first: the page's Origin, then a connection slot.
/// (Once per connection: the refusal's size does not matter.)
#[allow(clippy::result_large_err)]
fn origin_and_slot(req: &Request<Incoming>, conn: u64, cfg: &Config, slot: Result<ConnectionSlot, ConnectionSlot>) -> Result<ConnectionSlot, Response<Body>> {
    let origin = req.headers().get(hyper::header::ORIGIN).and_then(|v| v.to_str().ok());
    if !connection::origin_allowed(origin, &cfg.allow_origins) {
        debug!(conn, ?origin, "WebSocket from an origin not allowed");
        return Err(http::text(StatusCode::FORBIDDEN, format!("origin {} is not allowed on this hub\n", origin.unwrap_or_default())));
    }
    slot.map_err(|_| {
        info!(conn, "refusing a connection: {} are open (--max-connections)", cfg.max_connections);
        http::text(StatusCode::SERVICE_UNAVAILABLE, "the hub is full: try again later\n")
    })
}

/// Answers the upgrade, then serves the WebSocket with `serve` in a task of its own that holds
/// `slot` as long as it runs.
fn upgrade<F, Fut>(req: &mut Request<Incoming>, conn: u64, slot: ConnectionSlot, config: WebSocketConfig, serve: F) -> Response<Body>
where
    F: FnOnce(WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let response = match http::websocket_accept(req) {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let _slot = slot;
        match upgrade.await {
            Ok(upgraded) => serve(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await).await,
            Err(e) => debug!(conn, "WebSocket upgrade failed: {e}"),
        }
    });
    response
}

/// `/turn`: TURN carried over a WebSocket on the hub's own port, for clients whose UDP is
/// blocked ([`crate::turn::streams`]). It holds a connection slot like `/ws`, and a place under
/// the TURN streams' own limits.
fn turn_stream(me: &Mutex<Option<Accept>>, req: &mut Request<Incoming>) -> Response<Body> {
    let Some(Accept { conn, peer, fd, slot, streams, cfg, .. }) = me.lock().ok().and_then(|mut a| a.take()) else {
        return http::text(StatusCode::BAD_REQUEST, "one request a connection\n");
    };
    let Some(streams) = streams else {
        return http::text(StatusCode::NOT_FOUND, "this hub runs no TURN server here (--no-turn)\n");
    };
    let slot = match origin_and_slot(req, conn, &cfg, slot) {
        Ok(slot) => slot,
        Err(refusal) => return refusal,
    };
    let Some(admission) = streams.admit(peer.ip()) else {
        return http::text(StatusCode::SERVICE_UNAVAILABLE, "too many TURN streams: try again later\n");
    };
    upgrade(req, conn, slot, crate::turn::streams::ws_config(), move |ws| streams.serve_ws(admission, ws, peer, fd))
}
