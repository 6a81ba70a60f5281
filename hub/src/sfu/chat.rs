//! Chat in a call through the hub: a participant's data-channel message, checked and stamped
//! with its registered name (never the name it claims), for the others.

use termcall_shared::limits::MAX_CHAT_BYTES;
use termcall_shared::ChatWire;

/// The message to forward for `raw` from `sender`, or why it is dropped. A plain-text message
/// (a browser's, say) is wrapped; a `from` the sender set is overwritten.
pub fn stamp(raw: &[u8], sender: &str) -> Result<String, &'static str> {
    if raw.len() > MAX_CHAT_BYTES + 256 {
        return Err("over the chat size limit");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8")?;
    let mut wire = serde_json::from_str::<ChatWire>(text).unwrap_or_else(|_| ChatWire { text: text.to_owned(), sent_ms: 0, from: None });
    if wire.text.len() > MAX_CHAT_BYTES {
        return Err("over the chat size limit");
    }
    wire.from = Some(sender.to_owned());
    serde_json::to_string(&wire).map_err(|_| "not serializable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_stamps_the_sender_over_any_claim() {
        let out = stamp(br#"{"text":"hi","sent_ms":5,"from":"mallory"}"#, "alice").unwrap();
        let w: ChatWire = serde_json::from_str(&out).unwrap();
        assert_eq!((w.text.as_str(), w.sent_ms, w.from.as_deref()), ("hi", 5, Some("alice")));
        let plain: ChatWire = serde_json::from_str(&stamp(b"hello", "bob").unwrap()).unwrap();
        assert_eq!((plain.text.as_str(), plain.from.as_deref()), ("hello", Some("bob")));
        assert!(stamp(&[0xff, 0xfe], "bob").is_err());
        assert!(stamp("x".repeat(MAX_CHAT_BYTES + 1).as_bytes(), "bob").is_err());
    }
}
