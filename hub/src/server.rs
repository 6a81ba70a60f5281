//! Accepting TCP connections, routing them, and shutting down on SIGINT or SIGTERM.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::sfu::Sfu;
use crate::actor::{self, Input};
use crate::config::Config;
use crate::connection;
use crate::core::Hub;
use crate::http::{self, Route};
use crate::ice::{ExternalIce, IceDirectory};
use crate::metrics::Metrics;
use crate::turn::Turn;
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
pub async fn start_turn(cfg: &Config, ws_port: u16, metrics: Arc<Metrics>) -> anyhow::Result<Option<Arc<Turn>>> {
    let Some(mut settings) = cfg.turn().map_err(anyhow::Error::msg)? else { return Ok(None) };
    settings.service_ports.push(ws_port);
    Ok(Some(Arc::new(Turn::start(&settings, metrics).await?)))
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
    // Call ids start at the clock in milliseconds: a restarted hub then never reuses an id its
    // clients still hold (and stays below 2^53, exact in JavaScript).
    let first_call = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_millis() as u64);
    let hub = Hub::new(IceDirectory::new(external_ice, turn.clone()), cfg.ring_timeout()).first_call_id(first_call).max_group(cfg.max_group);
    let (hub_tx, hub_rx) = mpsc::channel::<Input>(4096);
    let (sfu, sfu_rx) = Sfu::new(cfg.sfu(), metrics.clone());
    let hub_task = tokio::spawn(actor::run(hub, hub_rx, sfu, sfu_rx, metrics.clone()));
    let cfg = Arc::new(cfg);
    let next_conn = AtomicU64::new(1);
    let open = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::new(AtomicUsize::new(0));

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
                let accept = Accept { conn, peer: peer.ip(), hub: hub_tx.clone(), cfg: cfg.clone(), metrics: metrics.clone(), slot, deadline, users: security.users.clone() };
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

/// What a new connection needs to be served.
struct Accept {
    conn: u64,
    peer: std::net::IpAddr,
    hub: mpsc::Sender<Input>,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    /// Its place under --max-connections, or (over it) under the refusals being answered.
    slot: Result<ConnectionSlot, ConnectionSlot>,
    /// When the TLS handshake and the request head must be done by.
    deadline: tokio::time::Instant,
    users: Option<Arc<Users>>,
}

impl Accept {
    /// Routes the request, then answers it or serves the WebSocket (in a connection slot).
    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S) {
        let (route, mut stream) = http::read_route(stream, self.deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        match route {
            Route::WebSocket => {
                let Ok(_slot) = self.slot else {
                    info!(conn = self.conn, "refusing a connection: {} are open (--max-connections)", self.cfg.max_connections);
                    http::respond(&mut stream, &Route::Full, None).await;
                    return;
                };
                debug!(conn = self.conn, "WebSocket connection");
                connection::serve(stream, self.conn, self.peer, self.hub, self.cfg, self.users, self.metrics).await;
            }
            route => http::respond(&mut stream, &route, None).await,
        }
    }
}
