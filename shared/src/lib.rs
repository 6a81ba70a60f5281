//! The termcall signaling protocol, defined once for the hub and the client.
//!
//! Every message is one JSON object in one WebSocket text frame, tagged by `type`.
//! A client opens with [`ClientMsg::Hello`] carrying [`PROTOCOL_VERSION`]; the hub answers
//! [`ServerMsg::Welcome`] (or an [`ServerMsg::Error`] and closes).
//!
//! - [`messages`]: what a client sends and what the hub sends.
//! - [`signal`]: the SDP and ICE payloads relayed between the two parties of a call.
//! - [`roster`]: who is online and in which state.
//! - [`errors`]: the machine-readable error codes both sides understand.
//! - [`cluster`]: what the hubs of one cluster tell one another through Redis.
//! - [`chat`]: the chat message carried on the data channel, peer to peer.
//! - [`names`]: what a user name may be.
//! - [`limits`]: sizes both sides must agree on.
//! - `media` (feature `media`): the codecs and the RTCP tap both WebRTC endpoints (the client
//!   and the hub's SFU) must agree on.

pub mod chat;
pub mod cluster;
pub mod errors;
pub mod limits;
#[cfg(feature = "media")]
pub mod media;
pub mod messages;
pub mod names;
pub mod roster;
pub mod signal;

pub use chat::ChatWire;
pub use errors::ErrorCode;
pub use messages::{CallClaim, CallEndReason, Callees, ClientMsg, IceServer, ServerMsg};
pub use roster::{UserInfo, UserState};
pub use signal::Signal;

/// The version a client announces in its hello; the hub refuses any other with `bad_version`.
/// Bump it on any change that an older peer would misread.
/// Version 2 added group calls, `echo`, and calls whose media goes through the hub; version 3
/// what a receiver can show (`view`) and simulcast layers (`simulcast`, `layers`).
pub const PROTOCOL_VERSION: u32 = 3;

/// A call's identifier, chosen by the hub. Opaque to clients.
pub type CallId = u64;
