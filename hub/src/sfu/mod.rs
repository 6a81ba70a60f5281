//! The hub's media endpoint, an SFU-lite: each participant of a group call (or of a call to
//! `echo`) has one peer connection to the hub, which forwards every participant's RTP to the
//! others without decoding it, passes keyframe requests back to the sender (at most one per
//! 500 ms per stream), answers NACKs from the sent-packet buffer of webrtc-rs's responder, and
//! forwards chat, stamped with the sender's name.
//!
//! - [`peer`]: how the hub's peer connections are built.
//! - [`room`]: one call's participants and wiring, in a task of its own, and its negotiation.
//! - [`forward`]: the per-packet loop from one participant's track to the others' queues.
//! - [`downtrack`]: one receiver's queue of one stream, and the task that empties it.
//! - [`layers`]: a sender's simulcast layers as its forwarding loop sees them.
//! - [`receiver`]: a participant's downlink: its estimate, probes and figures.
//! - [`select`]: which layer of a sender each receiver gets.
//! - [`codec`]: which video codec a room's media goes in (H.264, or VP8 once someone needs it).
//! - [`chat`]: stamping and forwarding data-channel chat.
//!
//! The [`crate::core`] state machine decides who is in which room; the actor hands its
//! [`MediaCmd`]s to [`Sfu::apply`] and routes the [`SfuOut`] signals back through the core.

pub mod chat;
pub mod codec;
pub mod downtrack;
pub mod forward;
pub mod layers;
pub mod receiver;
pub mod select;
pub mod peer;
pub mod room;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use termcall_shared::{CallId, Signal};
use tokio::sync::mpsc;

use crate::core::{ConnId, MediaCmd};
use crate::metrics::Metrics;
use room::RoomCmd;

/// Where the hub's peer connections gather candidates.
#[derive(Debug, Clone)]
pub struct SfuSettings {
    /// The address media sockets bind to (the hub's --listen address).
    pub bind_ip: IpAddr,
    /// The address to announce instead, for a hub behind a 1:1 NAT (--public-ip).
    pub public_ip: Option<IpAddr>,
    /// Peer connections (each a UDP socket) held at once, over all rooms (--max-media-peers,
    /// lowered to what the file descriptor limit leaves).
    pub max_peers: usize,
}

/// What the hub's media endpoint reports about one participant.
#[derive(Debug)]
pub enum SfuOut {
    /// Negotiation for the participant.
    Signal { call_id: CallId, conn: ConnId, signal: Signal },
    /// Its media could not be set up, or it stopped negotiating: its part of the call ends,
    /// and it is told why.
    Failed { call_id: CallId, conn: ConnId, why: String },
}

/// The actor's handle on the media endpoint: one task per room.
pub struct Sfu {
    rooms: HashMap<CallId, mpsc::UnboundedSender<RoomCmd>>,
    settings: Arc<SfuSettings>,
    metrics: Arc<Metrics>,
    out: mpsc::UnboundedSender<SfuOut>,
}

impl Sfu {
    /// A media endpoint whose signals arrive on the returned receiver.
    pub fn new(settings: SfuSettings, metrics: Arc<Metrics>) -> (Sfu, mpsc::UnboundedReceiver<SfuOut>) {
        let (out, rx) = mpsc::unbounded_channel();
        (Sfu { rooms: HashMap::new(), settings: Arc::new(settings), metrics, out }, rx)
    }

    /// Carries out one decision of the core.
    pub fn apply(&mut self, cmd: MediaCmd) {
        match cmd {
            MediaCmd::Join { call_id, conn, name, echo, ask_simulcast } => {
                // A room whose task ended (its last participant left) starts afresh.
                if self.rooms.get(&call_id).is_some_and(|tx| tx.is_closed()) {
                    self.rooms.remove(&call_id);
                }
                let tx = self.rooms.entry(call_id).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(room::run(call_id, rx, self.settings.clone(), self.metrics.clone(), self.out.clone()));
                    tx
                });
                let _ = tx.send(RoomCmd::Join { conn, name, echo, ask_simulcast });
            }
            MediaCmd::Leave { call_id, conn } => {
                if let Some(tx) = self.rooms.get(&call_id) {
                    if tx.send(RoomCmd::Leave { conn }).is_err() {
                        self.rooms.remove(&call_id);
                    }
                }
                // A room's task ends with its last participant.
                self.rooms.retain(|_, tx| !tx.is_closed());
            }
            MediaCmd::Signal { call_id, conn, signal } => {
                if let Some(tx) = self.rooms.get(&call_id) {
                    let _ = tx.send(RoomCmd::Signal { conn, signal });
                }
            }
        }
    }
}
