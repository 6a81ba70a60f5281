//! The hub connection: connect, say hello, relay messages both ways, notice when the hub goes
//! silent, and reconnect with exponential backoff and jitter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use termcall_shared::{CallClaim, ClientMsg, ErrorCode, ServerMsg, PROTOCOL_VERSION};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use super::connect::{self, ConnectError};

/// What the signaling task tells the engine.
#[derive(Debug)]
pub enum HubEvent {
    /// Registered, at the hub of this URL; the welcome carries the roster and ICE servers.
    Up(ServerMsg, String),
    /// A message from the hub.
    Msg(ServerMsg),
    /// The hub connection is down; the task is retrying.
    Down { why: String, retry_in: Duration },
    /// The hub refused us for good (name taken, bad version, unauthorized, replaced by a newer
    /// login, an untrusted certificate): no retry.
    Refused { code: String, message: String },
}

/// Where and who.
#[derive(Debug, Clone)]
pub struct Login {
    pub url: String,
    /// Other hubs of the same cluster, tried in turn when the one in use is lost.
    pub others: Vec<String>,
    pub name: String,
    pub secret: Option<String>,
    /// Extra trusted certificates (PEM) for a `wss://` hub, e.g. a self-signed one.
    pub ca: Option<std::path::PathBuf>,
}

/// The hub pings every half second; this much silence means it is gone.
const HUB_SILENCE: Duration = Duration::from_secs(4);
/// After [`HUB_SILENCE`], how long the socket is given to show what it holds.
const RESUME_GRACE: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Short enough that clients are back within about 3 s of a hub restart, however long it was down.
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// How soon to try again when the name is still held by our own lost session.
const NAME_RETRY: Duration = Duration::from_millis(400);
/// How long our name may stay taken on coming back before it is someone else's for good
/// (a dead hub's users leave the others' rosters within about 3 s).
const NAME_PATIENCE: Duration = Duration::from_secs(15);

/// Runs until the engine drops its sender or the hub refuses us. `in_call_with` is the peer
/// of the engine's connected call, named in each hello so that a restarted hub adopts the call.
pub async fn run(login: Login, in_call_with: watch::Receiver<Option<CallClaim>>, mut outbox: mpsc::Receiver<ClientMsg>, events: mpsc::UnboundedSender<HubEvent>) {
    let tls = if login.url.starts_with("wss://") {
        match connect::tls_config(login.ca.as_deref()) {
            Ok(c) => Some(c),
            Err(message) => {
                let _ = events.send(HubEvent::Refused { code: "bad_certificate".into(), message });
                return;
            }
        }
    } else {
        None
    };
    let urls: Vec<&str> = std::iter::once(login.url.as_str()).chain(login.others.iter().map(String::as_str)).collect();
    let mut at = 0;
    let mut ever_up = false;
    // Since when our name has been refused as taken, on coming back.
    let mut name_held_since: Option<Instant> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        let url = urls[at % urls.len()];
        let (why, retry_in) = match session(&login, url, tls.as_ref(), &in_call_with, &mut outbox, &events).await {
            Session::EngineGone => return,
            // Back after losing a hub of a cluster, the name may still be held by the old
            // session until the others find that hub dead (a few seconds): try again soon.
            Session::Refused(code, message) if ever_up && code == ErrorCode::NameTaken.to_string() && name_held_since.get_or_insert_with(Instant::now).elapsed() < NAME_PATIENCE => {
                (format!("{url}: {message} (the old session, still being dropped)"), NAME_RETRY)
            }
            Session::Refused(code, message) => {
                let _ = events.send(HubEvent::Refused { code, message });
                return;
            }
            Session::Lost { why, was_up } => {
                if was_up {
                    ever_up = true;
                    name_held_since = None;
                    backoff = BACKOFF_MIN;
                }
                // The next hub of the cluster, if there are others.
                at += 1;
                let retry_in = jitter(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                (why, retry_in)
            }
        };
        if events.send(HubEvent::Down { why, retry_in }).is_err() {
            return;
        }
        // While down, what the engine sends is stale: drop it rather than replay it later.
        let sleep = tokio::time::sleep(retry_in);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                m = outbox.recv() => if m.is_none() { return },
            }
        }
    }
}

enum Session {
    EngineGone,
    Refused(String, String),
    Lost { why: String, was_up: bool },
}

async fn session(
    login: &Login,
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    in_call_with: &watch::Receiver<Option<CallClaim>>,
    outbox: &mut mpsc::Receiver<ClientMsg>,
    events: &mpsc::UnboundedSender<HubEvent>,
) -> Session {
    let ws = match connect::connect(url, tls).await {
        Ok(ws) => ws,
        Err(ConnectError::Retry(why)) => return Session::Lost { why, was_up: false },
        Err(ConnectError::Fatal { code, message }) => return Session::Refused(code.into(), message),
    };
    let (mut sink, mut source) = ws.split();
    let hello = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: login.name.clone(),
        secret: login.secret.clone(),
        in_call_with: in_call_with.borrow().clone(),
        ask_simulcast: false,
    };
    if let Err(e) = sink.send(Message::Text(to_json(&hello).into())).await {
        return Session::Lost { why: format!("hub closed during hello: {e}"), was_up: false };
    }
    let mut up = false;
    loop {
        tokio::select! {
            m = outbox.recv() => {
                let Some(m) = m else {
                    let _ = sink.send(Message::Close(None)).await;
                    return Session::EngineGone;
                };
                if !up {
                    continue;
                }
                if let Err(e) = sink.send(Message::Text(to_json(&m).into())).await {
                    return Session::Lost { why: format!("hub connection broke: {e}"), was_up: up };
                }
            }
            frame = tokio::time::timeout(HUB_SILENCE, source.next()) => {
                // A process that was stopped (a laptop that slept, a SIGSTOP) finds the timer
                // expired before it has read what waits on the socket: one more short look.
                let frame = match frame {
                    Err(_) => tokio::time::timeout(RESUME_GRACE, source.next()).await,
                    read => read,
                };
                let text = match frame {
                    Err(_) => return Session::Lost { why: format!("hub silent for {HUB_SILENCE:?}"), was_up: up },
                    Ok(None) | Ok(Some(Ok(Message::Close(_)))) => return Session::Lost { why: "hub closed the connection".into(), was_up: up },
                    Ok(Some(Err(e))) => return Session::Lost { why: format!("hub connection broke: {e}"), was_up: up },
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                };
                let msg: ServerMsg = match serde_json::from_str(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        warn!("ignoring a hub message this client does not understand: {e}");
                        continue;
                    }
                };
                if !up {
                    match msg {
                        ServerMsg::Welcome { .. } => {
                            up = true;
                            if events.send(HubEvent::Up(msg, url.to_owned())).is_err() {
                                return Session::EngineGone;
                            }
                        }
                        ServerMsg::Error { code, message, .. } if is_final(code) => return Session::Refused(code.to_string(), message),
                        other => debug!("before welcome: {other:?}"),
                    }
                    continue;
                }
                if let ServerMsg::Error { code: ErrorCode::Replaced, message, .. } = msg {
                    return Session::Refused(ErrorCode::Replaced.to_string(), message);
                }
                if events.send(HubEvent::Msg(msg)).is_err() {
                    return Session::EngineGone;
                }
            }
        }
    }
}

/// Refusals that retrying cannot fix.
fn is_final(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NameTaken | ErrorCode::BadName | ErrorCode::BadVersion | ErrorCode::Unauthorized | ErrorCode::Replaced)
}

fn to_json(m: &ClientMsg) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

/// Up to 25% random jitter, so that many clients of a restarted hub do not return in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let frac = f64::from(nanos % 1000) / 4000.0;
    d + d.mul_f64(frac)
}
