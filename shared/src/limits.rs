//! Sizes that both sides must agree on.

/// The largest signaling message the hub accepts, in bytes of JSON. Larger ones get `too_large`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The largest WebSocket frame the hub reads at all; past it the connection is closed,
/// because reading it would cost memory an attacker controls.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The longest chat text, in bytes; a longer one is refused by the client before it is sent.
pub const MAX_CHAT_BYTES: usize = 16 * 1024;

/// The most names one `call` may list. A hub's `--max-group` is at most one more (the caller);
/// a longer list is refused when the message is parsed, before anything is made of it.
pub const MAX_CALLEES: usize = 255;
