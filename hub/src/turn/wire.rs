//! The little STUN surgery the TURN gate ([`super::listener`]) does on raw packets: tell which
//! requests it meters, answer a challenge, and put another NONCE into a message (re-signing it
//! when it carries MESSAGE-INTEGRITY).

use stun::attributes::{ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM};
use stun::error_code::{ErrorCode, ErrorCodeAttribute};
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{Message, MessageType, Setter, CLASS_ERROR_RESPONSE};
use stun::textattrs::TextAttribute;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const METHOD_BINDING: u16 = 0x0001;

/// Whether `packet` is a STUN request other than Binding: what the gate meters and checks.
/// ChannelData, indications, responses and Binding requests make no state in the server.
pub fn is_limited_request(packet: &[u8]) -> bool {
    if packet.len() < 20 || packet[0] & 0xC0 != 0 || packet[4..8] != MAGIC_COOKIE {
        return false; // ChannelData, or not STUN
    }
    let t = u16::from_be_bytes([packet[0], packet[1]]);
    let is_request = t & 0x0110 == 0;
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    is_request && method != METHOD_BINDING
}

/// Whether `packet` looks like a STUN error response (checked before any parsing).
pub fn is_error_response(packet: &[u8]) -> bool {
    packet.len() >= 20 && packet[0] & 0xC0 == 0 && packet[4..8] == MAGIC_COOKIE && packet[0] & 0x01 != 0 && packet[1] & 0x10 != 0
}

/// An error response to `request` with `code`, `nonce` and `realm`: TURN's challenge.
pub fn challenge(request: &Message, code: ErrorCode, nonce: &str, realm: &str) -> Option<Vec<u8>> {
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(request.transaction_id),
        Box::new(MessageType::new(request.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute { code, reason: Vec::new() }),
        Box::new(TextAttribute::new(ATTR_NONCE, nonce.to_owned())),
        Box::new(TextAttribute::new(ATTR_REALM, realm.to_owned())),
    ];
    m.build(&setters).ok()?;
    Some(m.raw)
}

/// `m` with its NONCE replaced by `nonce`, re-signed with `key` if it carried MESSAGE-INTEGRITY
/// (None, and no key, leaves such a message alone: `None` is returned), with a fresh
/// FINGERPRINT if it had one. Attributes after MESSAGE-INTEGRITY, which a receiver ignores,
/// are left out.
pub fn with_nonce(m: &Message, nonce: &str, key: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut out = Message::new();
    out.typ = m.typ;
    out.transaction_id = m.transaction_id;
    out.write_header();
    let (mut integrity, mut fingerprint) = (false, false);
    for a in &m.attributes.0 {
        if a.typ == ATTR_FINGERPRINT {
            fingerprint = true;
        } else if a.typ == ATTR_MESSAGE_INTEGRITY {
            integrity = true;
        } else if integrity {
            continue;
        } else if a.typ == ATTR_NONCE {
            out.add(ATTR_NONCE, nonce.as_bytes());
        } else {
            out.add(a.typ, &a.value);
        }
    }
    if integrity {
        MessageIntegrity(key?.to_vec()).add_to(&mut out).ok()?;
    }
    if fingerprint {
        FINGERPRINT.add_to(&mut out).ok()?;
    }
    Some(out.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::attributes::ATTR_USERNAME;
    use stun::agent::TransactionId;
    use stun::message::{Getter, CLASS_REQUEST, METHOD_ALLOCATE, METHOD_BINDING as BINDING};
    use turn::auth::generate_auth_key;

    #[test]
    fn requests_are_told_apart() {
        let mut m = Message::new();
        m.build(&[Box::new(TransactionId::new()) as Box<dyn Setter>, Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST))]).unwrap();
        assert!(is_limited_request(&m.raw) && !is_error_response(&m.raw));
        m.build(&[Box::new(TransactionId::new()) as Box<dyn Setter>, Box::new(MessageType::new(BINDING, CLASS_REQUEST))]).unwrap();
        assert!(!is_limited_request(&m.raw));
        m.build(&[Box::new(TransactionId::new()) as Box<dyn Setter>, Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE))]).unwrap();
        assert!(!is_limited_request(&m.raw) && is_error_response(&m.raw));
        assert!(!is_limited_request(&[0x40, 0, 0, 4, 1, 2, 3, 4]), "ChannelData");
    }

    #[test]
    fn a_renonced_request_checks_out_under_the_same_key() {
        let key = generate_auth_key("1:alice", "termcall", "pw");
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(TextAttribute::new(ATTR_USERNAME, "1:alice".into())),
            Box::new(TextAttribute::new(ATTR_REALM, "termcall".into())),
            Box::new(TextAttribute::new(ATTR_NONCE, "tc1-first".into())),
            Box::new(MessageIntegrity(key.clone())),
            Box::new(FINGERPRINT),
        ];
        let mut m = Message::new();
        m.build(&setters).unwrap();
        let raw = with_nonce(&m, "the-second-nonce", Some(&key)).unwrap();
        let mut back = Message::new();
        back.unmarshal_binary(&raw).unwrap();
        let mut nonce = TextAttribute::new(ATTR_NONCE, String::new());
        nonce.get_from(&back).unwrap();
        assert_eq!(nonce.text, "the-second-nonce");
        assert_eq!(back.transaction_id, m.transaction_id);
        MessageIntegrity(key).check(&mut back.clone()).expect("re-signed");
        FINGERPRINT.check(&back).expect("fingerprinted");
        assert!(with_nonce(&m, "x", None).is_none(), "no key, no signature");
    }
}
