//! One WebSocket client, once upgraded ([`crate::server`] checks its Origin): the hello, size and
//! rate limits, malformed input, and liveness.
//! Errors about a client's own input are answered here without bothering the hub task.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use termcall_shared::limits::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use termcall_shared::{ClientMsg, ErrorCode, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use crate::actor::{encode, Input, Link, Outgoing, CLIENT_QUEUE};
use crate::config::Config;
use crate::core::{ConnId, JoinRequest};
use crate::limits::{RateLimit, Verdict};
use crate::metrics::Metrics;
use crate::users::{LoginRefused, Users};

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages dropped in a row, over the rate, before the connection is closed.
const RATE_PATIENCE: u32 = 200;

/// The WebSocket limits: frames past [`MAX_FRAME_BYTES`] close the connection;
/// messages past [`MAX_MESSAGE_BYTES`] are refused with `too_large` and the connection goes on.
/// The read buffer starts at 4 KiB rather than tungstenite's 128 KiB: signaling messages are
/// small, and a hub holds thousands of idle connections (it grows when a message needs it).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Whether a browser's `Origin` may open the WebSocket: any when no allow-list is set; none
/// but the listed ones when it is. A client that sends no Origin is not a browser page.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(o) => allowed.is_empty() || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o)),
    }
}

/// Serves one client, its WebSocket open, until it closes, goes silent, or the hub shuts down.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: WebSocketStream<S>,
    conn: ConnId,
    peer: IpAddr,
    hub: mpsc::Sender<Input>,
    cfg: Arc<Config>,
    users: Option<Arc<Users>>,
    metrics: Arc<Metrics>,
) {
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(CLIENT_QUEUE);

    let ping_every = cfg.ping_interval();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(ping_every);
        loop {
            let res = tokio::select! {
                out = rx.recv() => match out {
                    Some(Outgoing::Text(t)) => sink.send(Message::Text(t)).await,
                    Some(Outgoing::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                },
                _ = ping.tick() => sink.send(Message::Ping(Default::default())).await,
            };
            if res.is_err() {
                break;
            }
        }
    });

    let reply = |code: ErrorCode, message: String| {
        let _ = tx.try_send(Outgoing::Text(encode(&ServerMsg::error(code, message))));
    };
    let mut registered = false;
    let mut rate = RateLimit::new(cfg.rate_limit, cfg.rate_burst, RATE_PATIENCE);
    let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    // Fired by the hub task when it drops this connection (replaced, or too slow to read).
    let (kick, mut kicked) = oneshot::channel::<()>();
    let mut kick = Some(kick);
    loop {
        let limit = if registered { cfg.dead_after() } else { cfg.dead_after().min(hello_deadline.saturating_duration_since(tokio::time::Instant::now())) };
        let next = tokio::select! {
            r = tokio::time::timeout(limit, source.next()) => r,
            _ = &mut kicked, if registered => {
                debug!(conn, "dropped by the hub");
                registered = false;
                break;
            }
        };
        let frame = match next {
            Err(_) => {
                debug!(conn, registered, "silent too long: dropping");
                if !registered {
                    reply(ErrorCode::NotRegistered, "no hello in time".into());
                }
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                debug!(conn, "read error: {e}");
                if matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                    reply(ErrorCode::TooLarge, format!("frames over {MAX_FRAME_BYTES} bytes close the connection"));
                }
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if matches!(frame, Message::Text(_) | Message::Binary(_)) {
            match rate.check(Instant::now()) {
                Verdict::Pass => {}
                Verdict::Drop { tell } => {
                    if tell {
                        reply(ErrorCode::RateLimited, format!("over {} messages a second: dropped", cfg.rate_limit));
                    }
                    continue;
                }
                Verdict::Disconnect => {
                    info!(conn, "flooding past the rate limit: disconnecting");
                    reply(ErrorCode::RateLimited, "kept flooding past the rate limit: disconnected".into());
                    break;
                }
            }
        }
        let text = match frame {
            Message::Text(t) => t,
            Message::Binary(_) => {
                reply(ErrorCode::BadMessage, "binary frames are not part of the protocol; send JSON text".into());
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        if text.len() > MAX_MESSAGE_BYTES {
            reply(ErrorCode::TooLarge, format!("message of {} bytes is over the {MAX_MESSAGE_BYTES}-byte limit", text.len()));
            continue;
        }
        let msg = match ClientMsg::parse(&text) {
            Ok(m) => m,
            Err(why) => {
                reply(ErrorCode::BadMessage, format!("not a termcall message: {why}"));
                continue;
            }
        };
        if registered {
            if hub.send(Input::Msg { conn, msg }).await.is_err() {
                break;
            }
            continue;
        }
        let ClientMsg::Hello { version, name, secret, in_call_with, ask_simulcast } = msg else {
            reply(ErrorCode::NotRegistered, "the first message must be a hello".into());
            continue;
        };
        if let Some(users) = &users {
            if let Err(refused) = users.login(peer, &name, secret.as_deref()).await {
                Metrics::add(&metrics.logins_refused, 1);
                let (code, why) = match refused {
                    LoginRefused::Credentials(why) => (ErrorCode::Unauthorized, why),
                    LoginRefused::TooMany(why) => (ErrorCode::RateLimited, why),
                };
                info!(conn, %name, %peer, "login refused: {why}");
                reply(code, why);
                break;
            }
        }
        let req = JoinRequest { version, name, authenticated: users.is_some(), in_call_with, ask_simulcast };
        let (done, answer) = oneshot::channel();
        let Some(kick) = kick.take() else { break };
        if hub.send(Input::Join { conn, req, link: Link { tx: tx.clone(), kick }, reply: done }).await.is_err() {
            break;
        }
        match answer.await {
            Ok(Ok(())) => registered = true,
            Ok(Err((code, message))) => {
                reply(code, message);
                break;
            }
            Err(_) => break,
        }
    }
    if registered {
        let _ = hub.send(Input::Leave { conn }).await;
    }
    let _ = tx.try_send(Outgoing::Close);
    drop(tx);
    // Let the writer flush what is queued (a refusal, say), but not forever.
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(2), &mut writer).await.is_err() {
        writer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let list = vec!["https://team.example.org".to_string()];
        assert!(origin_allowed(None, &list), "native clients send no Origin");
        assert!(origin_allowed(Some("https://team.example.org"), &list));
        assert!(origin_allowed(Some("HTTPS://TEAM.example.org"), &list));
        assert!(!origin_allowed(Some("https://evil.example"), &list));
        assert!(origin_allowed(Some("https://anything.example"), &[]), "no list: any origin");
    }
}
