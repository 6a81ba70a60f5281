//! What the two WebRTC endpoints of termcall (the client, and the hub's SFU) must agree on
//! beyond signaling: the codecs and their payload types, and which RTCP reaches the application.
//!
//! - [`codecs`]: H.264 with RTX, and Opus, as both sides register them.
//! - [`rtcp_tap`]: lets the application see sender reports and keyframe requests.
//! - [`interceptors`]: the interceptor chain (NACK, reports, the tap) both ends build; [`stage`]:
//!   how ours are written (a [`stage::Stage`] in a [`stage::Staged`]).
//! - [`congestion`]: send-side bandwidth estimation on a peer connection, and the [`congestion::SendLink`]
//!   it tells the sender through; [`pacing`]: the pacer; [`remb`]: REMB for senders that do
//!   not number their packets transport-wide; [`rtx`]: retransmissions restored before the NACK
//!   generator, which would otherwise ask for them again and again.
//! - [`glue`]: candidates to and from signals, and local track descriptions.
//! - [`simulcast`]: the layers' RIDs and sizes, and where an H.264 keyframe starts.
//! - [`sdp`]: the video codecs a session description offers or accepts, and rejected sections.
//! - [`stream_out`]: what a TURN-over-TCP/WebSocket writer sends next, never a standing queue.

pub mod codecs;
pub mod congestion;
pub mod glue;
pub mod interceptors;
pub mod pacing;
pub mod remb;
pub mod rtx;
pub mod simulcast;
pub mod stage;
pub mod stream_out;
pub mod rtcp_tap;
pub mod sdp;
