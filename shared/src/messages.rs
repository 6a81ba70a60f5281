//! The two message enums: what a client sends ([`ClientMsg`]) and what the hub sends ([`ServerMsg`]).

use serde::{Deserialize, Serialize};

use crate::{CallId, ErrorCode, Signal, UserInfo, UserState};

/// A message from a client to the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// The first message on a connection: who I am and which protocol I speak.
    Hello {
        version: u32,
        name: String,
        /// The user's secret, for a hub with access control.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// The connected call this client already has, sent when it comes back after losing
        /// the hub. When both parties name each other with the same token, the hub adopts the
        /// call again ([`ServerMsg::Resumed`]), so that hangups and ICE restarts reach the peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_call_with: Option<CallClaim>,
    },
    /// Ring a user. The hub answers [`ServerMsg::Ringing`] or [`ServerMsg::CallEnded`].
    Call { to: String },
    /// Take the incoming call.
    Accept { call_id: CallId },
    /// Refuse the incoming call.
    Decline { call_id: CallId },
    /// Leave a call, ringing or connected.
    Hangup { call_id: CallId },
    /// Negotiation for an accepted call, relayed to the other party.
    Signal { call_id: CallId, signal: Signal },
}

/// A client's claim to a call that outlived its hub connection: the peer, and the call's
/// resume token, which the hub gave only to the two parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallClaim {
    pub peer: String,
    pub token: String,
}

/// Why a call ended, as the hub tells it to a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEndReason {
    /// The other party hung up.
    PeerHangup,
    /// The callee declined.
    Declined,
    /// The callee is in another call.
    Busy,
    /// No one of that name is online.
    UnknownUser,
    /// A call to yourself.
    SelfCall,
    /// The other party's connection to the hub closed or stopped answering.
    PeerGone,
    /// No answer in time.
    Timeout,
    /// The hub is shutting down.
    HubShutdown,
}

impl CallEndReason {
    /// The snake_case word, as it appears on the wire and in client events.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEndReason::PeerHangup => "peer_hangup",
            CallEndReason::Declined => "declined",
            CallEndReason::Busy => "busy",
            CallEndReason::UnknownUser => "unknown_user",
            CallEndReason::SelfCall => "self_call",
            CallEndReason::PeerGone => "peer_gone",
            CallEndReason::Timeout => "timeout",
            CallEndReason::HubShutdown => "hub_shutdown",
        }
    }
}

/// A STUN or TURN server a client should use, as in the browser's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A message from the hub to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to a good hello: the name as registered, ICE servers, and everyone else online.
    Welcome {
        version: u32,
        name: String,
        ice_servers: Vec<IceServer>,
        users: Vec<UserInfo>,
    },
    /// Changes to the roster since the last message, batched.
    Roster {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        joined: Vec<UserInfo>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<UserInfo>,
    },
    /// Someone is ringing you.
    Incoming { call_id: CallId, from: String },
    /// Your call is ringing at the callee.
    Ringing { call_id: CallId, to: String },
    /// The callee accepted: negotiate now. The `offerer` side sends the offer. `resume_token`
    /// is a secret of the two parties, for [`CallClaim`] after a hub restart.
    Accepted {
        call_id: CallId,
        peer: String,
        offerer: bool,
        #[serde(default)]
        resume_token: String,
    },
    /// Both parties of a call that outlived a hub restart named each other in their hello:
    /// the hub knows the call again, under this new id.
    Resumed {
        call_id: CallId,
        peer: String,
        #[serde(default)]
        resume_token: String,
    },
    /// Negotiation from the other party; `from` is stamped by the hub.
    Signal { call_id: CallId, from: String, signal: Signal },
    /// The call is over, for the reason given.
    CallEnded { call_id: CallId, peer: String, reason: CallEndReason },
    /// A request was refused. The connection stays open unless the code says otherwise.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<CallId>,
    },
}

impl ServerMsg {
    /// Shorthand for an error without a call.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error { code, message: message.into(), call_id: None }
    }

    /// A roster delta for one user's new state.
    pub fn state_change(name: &str, state: UserState) -> Self {
        ServerMsg::Roster {
            joined: Vec::new(),
            left: Vec::new(),
            changed: vec![UserInfo { name: name.to_owned(), state }],
        }
    }
}

impl ClientMsg {
    /// Parses one client message, telling a user-readable reason on failure.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hello_has_the_documented_form() {
        let m = ClientMsg::Hello { version: 1, name: "alice".into(), secret: None, in_call_with: None };
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"type":"hello","version":1,"name":"alice"}));
    }

    #[test]
    fn signal_round_trips() {
        let m = ClientMsg::Signal {
            call_id: 7,
            signal: Signal::Candidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            },
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(ClientMsg::parse(&text).unwrap(), m);
    }

    #[test]
    fn a_restart_request_has_its_own_kind() {
        let m = ClientMsg::Signal { call_id: 2, signal: Signal::RestartIce };
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"type":"signal","call_id":2,"signal":{"kind":"restart_ice"}}));
    }

    #[test]
    fn a_client_cannot_smuggle_a_from() {
        let spoof = r#"{"type":"signal","call_id":1,"from":"bob","signal":{"kind":"end_of_candidates"}}"#;
        assert!(ClientMsg::parse(spoof).is_err());
    }

    #[test]
    fn unknown_types_and_garbage_are_errors() {
        assert!(ClientMsg::parse(r#"{"type":"launch_missiles"}"#).is_err());
        assert!(ClientMsg::parse("not json").is_err());
        assert!(ClientMsg::parse(r#"{"type":"call"}"#).is_err());
    }

    #[test]
    fn server_messages_round_trip() {
        let msgs = [
            ServerMsg::Welcome { version: 1, name: "a".into(), ice_servers: vec![], users: vec![] },
            ServerMsg::state_change("b", UserState::InCall),
            ServerMsg::CallEnded { call_id: 3, peer: "b".into(), reason: CallEndReason::Busy },
            ServerMsg::error(ErrorCode::NameTaken, "taken"),
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<ServerMsg>(&text).unwrap(), m);
        }
        let v = serde_json::to_value(ServerMsg::error(ErrorCode::NameTaken, "x")).unwrap();
        assert_eq!(v["code"], "name_taken");
    }
}
