//! Machine-readable error codes. The hub sends them in [`crate::ServerMsg::Error`];
//! the client uses the same words in its own `error` events.

use serde::{Deserialize, Serialize};

/// Why a request was refused. Serialized in snake_case, e.g. `name_taken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a message this protocol knows.
    BadMessage,
    /// Over [`crate::limits::MAX_MESSAGE_BYTES`].
    TooLarge,
    /// The hello named a protocol version the hub does not speak.
    BadVersion,
    /// The name is not a valid user name.
    BadName,
    /// Someone with this name is already online.
    NameTaken,
    /// The first message must be a hello, and only the first.
    NotRegistered,
    /// No one of that name is online.
    UnknownUser,
    /// The callee is already in a call (or you are).
    Busy,
    /// A call to yourself.
    SelfCall,
    /// The message names a call the sender is not a party of, or that has not been accepted.
    NotInCall,
    /// The hub is shutting down.
    ShuttingDown,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The same user logged in again elsewhere; this older connection is closed.
    Replaced,
    /// Too many messages too fast.
    RateLimited,
    /// A group call already has as many participants as the hub allows.
    CallFull,
    /// Invitations go to group calls; a one-to-one call cannot take a third party.
    NotGroup,
    /// Something failed inside; the message says what.
    Internal,
}

impl ErrorCode {
    /// The snake_case word, as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadVersion => "bad_version",
            ErrorCode::BadName => "bad_name",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::NotRegistered => "not_registered",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::Busy => "busy",
            ErrorCode::SelfCall => "self_call",
            ErrorCode::NotInCall => "not_in_call",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Replaced => "replaced",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::CallFull => "call_full",
            ErrorCode::NotGroup => "not_group",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
