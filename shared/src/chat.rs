//! The chat message as it travels on the call's data channel (not through the hub).

use serde::{Deserialize, Serialize};

/// One chat line on the data channel. The receiver knows who sent it from the channel itself,
/// so there is no `from` to forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatWire {
    /// The text, at most [`crate::limits::MAX_CHAT_BYTES`].
    pub text: String,
    /// The sender's wall clock, milliseconds since the Unix epoch; for display only.
    #[serde(default)]
    pub sent_ms: u64,
}
