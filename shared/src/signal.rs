//! The WebRTC negotiation payloads that the hub relays between the two parties of a call.
//! The hub does not look inside them; it only checks who may send them to whom.

use serde::{Deserialize, Serialize};

/// One step of the WebRTC negotiation (a session description or a trickled ICE candidate), or
/// what a receiver can show and what a sender sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// An SDP offer.
    Offer { sdp: String },
    /// An SDP answer.
    Answer { sdp: String },
    /// A trickled ICE candidate, as in the browser's `RTCIceCandidateInit`.
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username_fragment: Option<String>,
    },
    /// The sender has gathered all its candidates.
    EndOfCandidates,
    /// The answering side lost the media path: asks the offering side to restart ICE
    /// (only the offerer sends offers, so there is never glare).
    RestartIce,
    /// The largest picture the sender of this can show of the streams it receives (a
    /// terminal tile's pixels): the other side, or the hub, sends no more than that. `of`
    /// names one sender in a group call; without it, every stream. Sent again when it changes.
    View {
        width: u32,
        height: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<String>,
    },
    /// A sender's video in a call through the hub comes as simulcast layers (RIDs `q`, `h`, `f`:
    /// a quarter, a half and the full size) of this full size.
    Simulcast { width: u32, height: u32 },
    /// From the hub to a simulcast sender: which layers someone receives (from the smallest);
    /// the others need not be encoded.
    Layers { wanted: [bool; 3] },
}
