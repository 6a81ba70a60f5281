//! Congestion control for termcall, without I/O: every function takes the time as an argument,
//! never reads a clock or touches a socket, so a test can replay any feedback exactly.
//! The peer connection's interceptors (in `termcall-shared`) feed these from real packets.
//!
//! Send side, as draft-ietf-rmcat-gcc and libwebrtc's goog_cc do it:
//! - [`arrival`]: packets grouped into bursts, and the delay variation between groups.
//! - [`trendline`]: the slope of the accumulated delay variation (the trendline filter).
//! - [`detector`]: over-use, under-use or normal, against an adaptive threshold.
//! - [`queue`]: a limit on standing queueing delay, for queues that grow too slowly for the trend.
//! - [`aimd`]: the delay-based rate: additive/multiplicative increase, decrease on over-use.
//! - [`throughput`]: what the receiver actually got (the acknowledged bitrate).
//! - [`loss`]: a loss-based cap that only heavy loss moves, so random loss does not starve a call.
//! - [`delay`]: the delay-based estimator (arrival → trendline → detector → AIMD), shared by the
//!   send side and the receive side (REMB).
//! - [`estimator`]: the send-side estimate: delay-based, loss-based and the receiver's REMB combined.
//!
//! And pacing: [`pacer`] lets packets leave at a multiple of the estimate, audio first, in bursts
//! small enough for a shallow bottleneck queue.
//!
//! Simulcast: [`layers`] picks each receiver's layer, keeps its stream continuous across
//! switches, and splits a sender's rate among its layers; [`probe`] tries a receiver's link
//! one layer up.
//!
//! Streams: [`stream_queue`] holds what waits for a TCP, TLS or WebSocket stream (TURN carried
//! over TCP when UDP is blocked), dropping late video rather than building a standing queue.
//!
//! Receive side: [`remb`] estimates what a sender without transport-wide numbers can send us,
//! from abs-send-time, for REMB.
//!
//! [`fuzzing`]: any bytes as a script against all of it, with the invariants checked (the
//! `congestion` cargo-fuzz target, replayed by the unit tests).

pub mod aimd;
pub mod arrival;
pub mod delay;
pub mod detector;
pub mod estimator;
pub mod fuzzing;
pub mod layers;
pub mod loss;
pub mod pacer;
pub mod probe;
pub mod queue;
pub mod remb;
pub mod stream_queue;
pub mod throughput;
pub mod trendline;

pub use delay::DelayBasedBwe;
pub use estimator::{Estimate, Limit, SendSideBwe};
pub use pacer::{Class, Pacer};

use std::time::{Duration, Instant};

/// What a packet costs on the wire beyond its RTP bytes: IPv4 (20), UDP (8) and the SRTP
/// authentication tag (10). Rates here are rates on the wire, as libwebrtc's are ("send-side
/// BWE with overhead"): an Opus packet of 80 bytes costs half as much again, and a link full of
/// small packets counted without it looks a third emptier than it is.
pub const WIRE_OVERHEAD: usize = 38;

/// What the receiver reported about one packet we sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketResult {
    /// When it left (the pacer's release instant), on our clock.
    pub departure: Instant,
    /// When it arrived, on the receiver's clock (any origin); `None` if it was lost.
    pub arrival: Option<Duration>,
    /// Bytes on the wire.
    pub size: usize,
}
