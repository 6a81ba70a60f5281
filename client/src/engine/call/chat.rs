//! Chat on the call's data channel: lines sent while it is not open yet wait, in order, and
//! go when it opens (at most [`UNSENT_CHAT`]; past that a line is refused with an error); a
//! line's sender is believed only from the hub. The channel's reader waits when
//! [`DC_QUEUE`] events are unread, so a peer that floods chat is held back by SCTP's flow
//! control instead of filling memory.

use std::sync::Arc;

use termcall_shared::ChatWire;
use tracing::{debug, warn};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::{Call, CallOut};

/// Chat lines that may wait for the data channel to open (it opens a moment after the call
/// connects, and a script may send a burst in that moment; lines are at most 16 KiB).
pub(super) const UNSENT_CHAT: usize = 1_000;
/// Data-channel events waiting for the call; past this the reader waits.
pub(super) const DC_QUEUE: usize = 256;

/// What the data channel's reader tells the call.
pub(super) enum DcEvent {
    Open,
    Text(String),
    Closed,
}

impl Call<'_> {
    pub(super) fn adopt_channel(&mut self, dc: Arc<dyn DataChannel>) {
        if self.dc.is_some() {
            debug!("ignoring a second data channel");
            return;
        }
        let tx = self.dc_tx.clone();
        let reader = dc.clone();
        tokio::spawn(async move {
            while let Some(ev) = reader.poll().await {
                let m = match ev {
                    DataChannelEvent::OnOpen => DcEvent::Open,
                    DataChannelEvent::OnMessage(msg) => DcEvent::Text(String::from_utf8_lossy(&msg.data).into_owned()),
                    DataChannelEvent::OnClose => DcEvent::Closed,
                    _ => continue,
                };
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(DcEvent::Closed).await;
        });
        self.dc = Some(dc);
    }

    pub(super) async fn on_dc_event(&mut self, d: DcEvent) {
        match d {
            DcEvent::Open => {
                self.dc_open = true;
                while let Some(text) = self.unsent.pop_front() {
                    if !self.send_now(&text).await {
                        self.unsent.push_front(text);
                        break;
                    }
                }
            }
            DcEvent::Text(raw) => {
                // A peer that sends plain text (a browser, say) is shown as it is. Only the hub
                // may say who sent a line; a peer's own `from` is not believed.
                let (from, text) = match serde_json::from_str::<ChatWire>(&raw) {
                    Ok(w) => (w.from.filter(|_| self.sfu), w.text),
                    Err(_) => (None, raw),
                };
                self.report(CallOut::Chat { from, text });
            }
            DcEvent::Closed => self.dc_open = false,
        }
    }

    pub(super) async fn chat(&mut self, text: String) {
        if self.dc_open && self.unsent.is_empty() && self.send_now(&text).await {
            return;
        }
        if self.unsent.len() >= UNSENT_CHAT {
            let why = format!("chat not sent: {UNSENT_CHAT} lines already wait for the connection to the other side");
            return self.report(CallOut::Warning("chat_not_sent", why));
        }
        self.unsent.push_back(text);
    }

    async fn send_now(&self, text: &str) -> bool {
        let Some(dc) = &self.dc else { return false };
        let wire = ChatWire { text: text.to_owned(), sent_ms: now_ms(), from: None };
        let json = serde_json::to_string(&wire).unwrap_or_default();
        match dc.send_text(&json).await {
            Ok(()) => true,
            Err(e) => {
                warn!("chat not sent yet: {e}");
                false
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
