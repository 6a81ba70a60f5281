//! The two message enums: what a client sends ([`ClientMsg`]) and what the hub sends ([`ServerMsg`]).

use serde::{Deserialize, Serialize};

use crate::limits::MAX_CALLEES;
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
        /// Through the hub, this client sends its video as simulcast layers (RIDs `q`, `h`,
        /// `f`) only if the hub's offer asks for them, as a browser does: the hub's offers to it
        /// ask. (termcall sends its layers unasked, and older clients leave this out.)
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ask_simulcast: bool,
    },
    /// Ring a user (`"to":"bob"`), or start a group call (`"to":["bob","carol"]`).
    /// A one-to-one call gets [`ServerMsg::Ringing`] or [`ServerMsg::CallEnded`]. A group call,
    /// and a call to [`crate::names::ECHO_USER`], is accepted at once with its media through
    /// the hub; who joins shows in [`ServerMsg::Group`] and [`ServerMsg::Left`].
    Call { to: Callees },
    /// Ring one more user into the group call you are in.
    Invite { call_id: CallId, to: String },
    /// Take the incoming call.
    Accept { call_id: CallId },
    /// Refuse the incoming call.
    Decline { call_id: CallId },
    /// Leave a call, ringing or connected.
    Hangup { call_id: CallId },
    /// Negotiation for an accepted call, relayed to the other party.
    Signal { call_id: CallId, signal: Signal },
}

/// Whom a call rings: one user (a one-to-one call, peer to peer when it can be), or a list
/// (a group call, whose media goes through the hub; a list of one is a group call of two,
/// which others can be invited into). A list holds at most [`MAX_CALLEES`] names: a longer
/// one is refused as it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Callees {
    One(String),
    Group(Vec<String>),
}

impl<'de> Deserialize<'de> for Callees {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = Callees;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a name, or a list of at most {MAX_CALLEES} names")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Callees, E> {
                Ok(Callees::One(name.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<Callees, E> {
                Ok(Callees::One(name))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Callees, A::Error> {
                let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(name) = seq.next_element::<String>()? {
                    if names.len() == MAX_CALLEES {
                        return Err(serde::de::Error::custom(format!("a call lists at most {MAX_CALLEES} names")));
                    }
                    names.push(name);
                }
                Ok(Callees::Group(names))
            }
        }
        d.deserialize_any(Names)
    }
}

impl Callees {
    /// The names, in order.
    pub fn names(&self) -> &[String] {
        match self {
            Callees::One(n) => std::slice::from_ref(n),
            Callees::Group(v) => v,
        }
    }

    /// How the call is shown before anyone answers: the names, comma-separated.
    pub fn label(&self) -> String {
        self.names().join(", ")
    }
}

impl From<&str> for Callees {
    fn from(name: &str) -> Self {
        Callees::One(name.to_owned())
    }
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
        /// Where this hub carries TURN over a WebSocket on its own host and port (a path, such
        /// as `/turn`), for a client whose UDP is blocked: one TURN message a binary message,
        /// with the credentials of the `turn:` server above. Absent when it does not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_stream: Option<String>,
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
    /// Someone is ringing you. In a group call, `group` lists the others already in it or
    /// being rung (not you, not `from`); it is absent for a one-to-one call.
    Incoming {
        call_id: CallId,
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Vec<String>>,
    },
    /// Your call is ringing at the callee.
    Ringing { call_id: CallId, to: String },
    /// The callee accepted: negotiate now. The `offerer` side sends the offer. `resume_token`
    /// is a secret of the two parties, for [`CallClaim`] after a hub restart.
    /// With `sfu`, the media goes to the hub instead (a group call, or `echo`): the hub sends
    /// the offers, signed [`crate::names::HUB_PEER`], and renegotiates as people come and go.
    /// The other participants' streams carry their names as media stream ids.
    Accepted {
        call_id: CallId,
        peer: String,
        offerer: bool,
        #[serde(default)]
        resume_token: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sfu: bool,
        /// With `sfu` on a hub of a cluster: the hub the call's media goes to (its public URL),
        /// which may be another than the one this client is logged in to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_hub: Option<String>,
    },
    /// Who is in a group call now: sent to its participants whenever that changes.
    Group { call_id: CallId, joined: Vec<String>, ringing: Vec<String> },
    /// Someone left a group call, or will not join it (declined, busy, unknown, no answer).
    Left { call_id: CallId, name: String, reason: CallEndReason },
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
            changed: vec![UserInfo::new(name, state)],
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
        let m = ClientMsg::Hello { version: 1, name: "alice".into(), secret: None, in_call_with: None, ask_simulcast: false };
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
    fn a_call_list_is_capped_as_it_is_parsed() {
        let names: Vec<String> = (0..MAX_CALLEES).map(|i| format!("u{i}")).collect();
        let at_cap = json!({"type":"call","to": names}).to_string();
        assert!(matches!(ClientMsg::parse(&at_cap), Ok(ClientMsg::Call { to: Callees::Group(v) }) if v.len() == MAX_CALLEES));
        let names: Vec<String> = (0..7_200).map(|i| format!("us{i:04}")).collect();
        let huge = json!({"type":"call","to": names}).to_string();
        assert!(huge.len() >= 64 * 1024 - 1024, "{} bytes", huge.len());
        let err = ClientMsg::parse(&huge).unwrap_err();
        assert!(err.contains("at most 255 names"), "{err}");
        assert!(ClientMsg::parse(r#"{"type":"call","to":7}"#).unwrap_err().contains("a name, or a list"));
        assert!(ClientMsg::parse(r#"{"type":"call","to":["bob",7]}"#).is_err());
    }

    #[test]
    fn a_call_names_one_user_or_a_group() {
        let one = ClientMsg::parse(r#"{"type":"call","to":"bob"}"#).unwrap();
        assert_eq!(one, ClientMsg::Call { to: Callees::One("bob".into()) });
        let group = ClientMsg::parse(r#"{"type":"call","to":["bob","carol"]}"#).unwrap();
        assert_eq!(group, ClientMsg::Call { to: Callees::Group(vec!["bob".into(), "carol".into()]) });
        assert!(ClientMsg::parse(r#"{"type":"call","to":7}"#).is_err());
        assert!(ClientMsg::parse(r#"{"type":"call","to":["bob",7]}"#).is_err());
        let invite = ClientMsg::parse(r#"{"type":"invite","call_id":3,"to":"dave"}"#).unwrap();
        assert_eq!(invite, ClientMsg::Invite { call_id: 3, to: "dave".into() });
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
            ServerMsg::Welcome { version: 1, name: "a".into(), ice_servers: vec![], users: vec![], turn_stream: None },
            ServerMsg::state_change("b", UserState::InCall),
            ServerMsg::CallEnded { call_id: 3, peer: "b".into(), reason: CallEndReason::Busy },
            ServerMsg::Group { call_id: 4, joined: vec!["a".into(), "b".into()], ringing: vec!["c".into()] },
            ServerMsg::Left { call_id: 4, name: "c".into(), reason: CallEndReason::Declined },
            ServerMsg::Accepted { call_id: 4, peer: "echo".into(), offerer: false, resume_token: String::new(), sfu: true, media_hub: None },
            ServerMsg::Incoming { call_id: 4, from: "a".into(), group: Some(vec!["b".into()]) },
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
