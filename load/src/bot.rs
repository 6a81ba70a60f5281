//! One simulated client: it connects, says hello, then reads everything the hub sends, counting
//! it, noting when a watched name first appears in its roster, and playing its part in calls.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use termcall_shared::{ClientMsg, Signal, PROTOCOL_VERSION};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// Counters every bot adds to.
#[derive(Default)]
pub struct Tally {
    pub messages: AtomicU64,
    pub roster: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// Bots whose connection ended before they were told to leave.
    pub dropped: AtomicU64,
    /// Why the first of them ended.
    pub first_drop: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn dropped(&self, why: &str) {
        self.dropped.fetch_add(1, Relaxed);
        if let Ok(mut first) = self.first_drop.lock() {
            first.get_or_insert_with(|| why.to_owned());
        }
    }
}

/// What a bot tells the driver.
#[derive(Debug)]
pub enum Report {
    /// Registered (or not: the reason).
    Joined { idx: usize, result: Result<(), String> },
    /// The watched name showed up in this bot's roster.
    Saw { at: Instant },
    /// A call this bot placed was accepted, `took` after it asked.
    CallUp { took: std::time::Duration },
    /// The hub connection ended.
    Gone,
}

/// The few fields a bot acts on. Parsing into this skips the rest (a late joiner's welcome lists
/// thousands of users) without building it, so that one process can keep up with thousands of bots.
#[derive(Deserialize)]
struct Light {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    call_id: u64,
    #[serde(default)]
    offerer: bool,
    #[serde(default)]
    signal: Option<LightSignal>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct LightSignal {
    kind: String,
}

/// What the driver tells a bot.
#[derive(Debug, Clone)]
pub enum Order {
    Hold,
    /// Call this name; hang up once the offer/answer round trip is done.
    Call(String),
    Leave,
}

/// Runs one bot until it is told to leave or the hub goes.
pub async fn run(url: String, idx: usize, name: String, tally: Arc<Tally>, watch_for: watch::Receiver<Option<String>>, mut orders: watch::Receiver<Order>, reports: mpsc::UnboundedSender<Report>) {
    let ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            let _ = reports.send(Report::Joined { idx, result: Err(format!("connect: {e}")) });
            return;
        }
    };
    let (mut tx, mut rx) = ws.split();
    let send = |m: &ClientMsg| Message::Text(serde_json::to_string(m).unwrap_or_default().into());
    let hello = ClientMsg::Hello { version: PROTOCOL_VERSION, name: name.clone(), secret: None, in_call_with: None, ask_simulcast: false };
    if tx.send(send(&hello)).await.is_err() {
        let _ = reports.send(Report::Joined { idx, result: Err("hub closed during hello".into()) });
        return;
    }
    let mut joined = false;
    let mut seen_watched = false;
    let mut calling: Option<Instant> = None;
    loop {
        tokio::select! {
            changed = orders.changed() => {
                if changed.is_err() {
                    break;
                }
                let order = orders.borrow_and_update().clone();
                match order {
                    Order::Hold => {}
                    Order::Leave => break,
                    Order::Call(to) => {
                        calling = Some(Instant::now());
                        let _ = tx.send(send(&ClientMsg::Call { to: to.as_str().into() })).await;
                    }
                }
            }
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        tally.dropped(&format!("{name}: the hub closed the connection ({frame:?})"));
                        break;
                    }
                    None => {
                        tally.dropped(&format!("{name}: the connection ended"));
                        break;
                    }
                    Some(Err(e)) => {
                        if !joined {
                            let _ = reports.send(Report::Joined { idx, result: Err(format!("{url}: {e}")) });
                            return;
                        }
                        tally.dropped(&format!("{name}: {e}"));
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                tally.messages.fetch_add(1, Relaxed);
                tally.bytes.fetch_add(text.len() as u64, Relaxed);
                // Roster updates are nearly all that arrives (every change reaches every bot):
                // the hub writes the tag first, so they are known without parsing them, and only
                // searched while a name is watched. With thousands of bots in one process, parsing
                // them would be most of its work, and would delay the messages behind them.
                if text.starts_with(r#"{"type":"roster""#) {
                    tally.roster.fetch_add(1, Relaxed);
                    if !seen_watched {
                        let watched = watch_for.borrow().clone();
                        if let Some(w) = watched.filter(|w| *w != name) {
                            if text.contains(&format!("\"name\":\"{w}\"")) {
                                seen_watched = true;
                                let _ = reports.send(Report::Saw { at: Instant::now() });
                            }
                        }
                    }
                    continue;
                }
                let Ok(msg) = serde_json::from_str::<Light>(&text) else { continue };
                let call_id = msg.call_id;
                match msg.kind.as_str() {
                    "welcome" => {
                        joined = true;
                        let _ = reports.send(Report::Joined { idx, result: Ok(()) });
                    }
                    "error" if !joined => {
                        let _ = reports.send(Report::Joined { idx, result: Err(format!("{}: {}", msg.code, msg.message)) });
                        return;
                    }
                    "error" => {
                        tally.errors.fetch_add(1, Relaxed);
                    }
                    "incoming" => {
                        let _ = tx.send(send(&ClientMsg::Accept { call_id })).await;
                    }
                    "accepted" if msg.offerer => {
                        if let Some(t) = calling.take() {
                            let _ = reports.send(Report::CallUp { took: t.elapsed() });
                        }
                        let _ = tx.send(send(&ClientMsg::Signal { call_id, signal: Signal::Offer { sdp: "v=0 load".into() } })).await;
                    }
                    "signal" => match msg.signal.map(|s| s.kind).as_deref() {
                        Some("offer") => {
                            let _ = tx.send(send(&ClientMsg::Signal { call_id, signal: Signal::Answer { sdp: "v=0 load".into() } })).await;
                        }
                        Some("answer") => {
                            let _ = tx.send(send(&ClientMsg::Hangup { call_id })).await;
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    if !joined {
        let _ = reports.send(Report::Joined { idx, result: Err(format!("{url}: the connection ended before the welcome")) });
    }
    let _ = tx.send(Message::Close(None)).await;
    let _ = reports.send(Report::Gone);
}
