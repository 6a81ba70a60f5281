//! The chat message as it travels on the call's data channel: peer to peer in a one-to-one
//! call, through the hub's media endpoint in a group call (and to `echo`).

use serde::{Deserialize, Serialize};

/// One chat line on the data channel. In a one-to-one call the receiver knows who sent it
/// from the channel itself. In a group call the hub forwards it and stamps `from` with the
/// sender's registered name, overwriting whatever the sender put there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatWire {
    /// The text, at most [`crate::limits::MAX_CHAT_BYTES`].
    pub text: String,
    /// The sender's wall clock, milliseconds since the Unix epoch; for display only.
    #[serde(default)]
    pub sent_ms: u64,
    /// The sender in a group call, as stamped by the hub; absent peer to peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}
