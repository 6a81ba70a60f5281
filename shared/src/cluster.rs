//! What hubs of one cluster (`termcall-hub --cluster redis://…`) tell one another through
//! Redis. Clients never see these: a hub turns them into [`ServerMsg`]s for its own clients.
//!
//! Two kinds of message, each one JSON object published on a Redis channel:
//! - [`Event`] on [`EVENTS_CHANNEL`], to every hub: roster changes, and a hub leaving.
//! - [`Envelope`] on [`to_node`]`(node)`, to one hub: a message of a call whose state lives
//!   on the other hub, stamped with the user it is from by that user's own hub.
//!
//! Keys: [`node_key`] (a hub's heartbeat: its [`NodeInfo`] with its load, with a short TTL), [`users_key`] (a hash of a
//! hub's users, with a short TTL refreshed while the hub lives) and [`NODES_KEY`] (the set
//! of hub names ever seen, pruned of dead ones).

use serde::{Deserialize, Serialize};

use crate::{CallClaim, CallEndReason, CallId, Callees, ClientMsg, ServerMsg, UserInfo};

/// Bumped on any change an older hub would misread; hubs ignore messages of another version.
pub const CLUSTER_VERSION: u32 = 1;

/// The channel every hub listens on.
pub const EVENTS_CHANNEL: &str = "termcall:events";
/// The set of every hub's name.
pub const NODES_KEY: &str = "termcall:nodes";

/// The channel only hub `node` listens on.
pub fn to_node(node: &str) -> String {
    format!("termcall:to:{node}")
}

/// Hub `node`'s heartbeat key: its [`NodeInfo`], expiring unless refreshed.
pub fn node_key(node: &str) -> String {
    format!("termcall:node:{node}")
}

/// Hub `node`'s users: a hash from name to [`Presence`], expiring unless refreshed.
pub fn users_key(node: &str) -> String {
    format!("termcall:users:{node}")
}

/// What a hub writes of itself with every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node: String,
    /// Where clients (and their media) reach it: its `--public-url`.
    pub url: String,
    pub load: Load,
}

/// How busy a hub is, for choosing where a group call lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// People in calls whose media this hub carries.
    pub participants: u32,
    /// The hub process's CPU use over the last heartbeat, in percent of one core.
    pub cpu: f32,
    /// Users logged in to it.
    pub users: u32,
}

/// One user of a hub, as every hub's roster shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub info: UserInfo,
    /// Its hello asked for simulcast to be requested in the hub's offers (a browser).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_simulcast: bool,
}

/// Published to every hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Users of `node` joined (or changed state) and left. `full`: `joined` is all of its
    /// users, and anyone of it not listed is gone (sent after a hub reconnects to Redis).
    Roster {
        v: u32,
        node: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        joined: Vec<Presence>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        full: bool,
    },
    /// `node` is shutting down cleanly: its users are leaving it for other hubs, and the
    /// calls between two people that it held go on, to be claimed again there.
    Leaving { v: u32, node: String },
}

/// Published to one hub: a [`Relay`] and the hub it is from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub from_node: String,
    pub relay: Relay,
}

/// A message between the hub a user is on and the hub a call of theirs lives on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Relay {
    /// From the hub a call lives on: deliver `msg` to `to`, a user of the receiving hub.
    Deliver { to: String, msg: ServerMsg },
    /// From a user's own hub, which checked who they are: `from` sent `msg` in a call that
    /// lives on the receiving hub.
    FromUser { from: String, msg: ClientMsg },
    /// From a user's own hub: `from` starts a group call (or a call to `echo`) under
    /// `call_id`, to live on the receiving hub, chosen for its load.
    PlaceRoom { from: String, call_id: CallId, to: Callees },
    /// From a callee's own hub: `from` cannot be rung into `call_id` (busy).
    Refuse { from: String, call_id: CallId, reason: CallEndReason },
    /// From a user's own hub: `from` came back naming a call with a user of the receiving
    /// hub (the call's hub died or left): adopt it there if the peer names it too.
    Claim { from: String, claim: CallClaim },
    /// Close `name`'s connection: they logged in again on another hub (with `--users`).
    Kick { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserState;

    #[test]
    fn messages_round_trip() {
        let env = Envelope {
            v: CLUSTER_VERSION,
            from_node: "a".into(),
            relay: Relay::Deliver { to: "bob".into(), msg: ServerMsg::Ringing { call_id: 7, to: "carol".into() } },
        };
        let text = serde_json::to_string(&env).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), env);
        let ev = Event::Roster {
            v: CLUSTER_VERSION,
            node: "b".into(),
            joined: vec![Presence { info: UserInfo::new("bob", UserState::Idle), ask_simulcast: true }],
            left: vec!["x".into()],
            full: false,
        };
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), ev);
    }

    #[test]
    fn keys_name_the_node() {
        assert_eq!(to_node("h1"), "termcall:to:h1");
        assert_eq!(users_key("h1"), "termcall:users:h1");
        assert_eq!(node_key("h1"), "termcall:node:h1");
    }
}
