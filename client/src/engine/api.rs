//! The engine's whole interface: the [`Command`]s it takes and the [`Event`]s it emits.
//! Their serde form is the headless JSON-lines protocol, so the TUI and scripts see one engine.

use serde::{Deserialize, Serialize};
use termcall_shared::UserInfo;

/// What a user (or a script) asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Ring a user.
    Call { to: String },
    /// Take the incoming call.
    Accept,
    /// Refuse the incoming call.
    Decline,
    /// End the call, ringing or connected.
    Hangup,
    /// Send a chat line to the other party over the data channel.
    Chat { text: String },
    /// Hang up, leave the hub, and stop.
    Quit,
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Ringing: at the callee (for the caller) or here (for the callee).
    Ringing,
    /// Accepted; the peer connection is being set up.
    Connecting,
    /// Media and chat flow.
    Connected,
    /// Over; `reason` says why.
    Ended,
}

/// How the media travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Directly between the peers (host, server-reflexive or peer-reflexive candidates).
    P2p,
    /// Through a TURN relay.
    Relay,
}

/// The hub connection's state, as the status line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubState {
    Connected,
    Disconnected,
}

/// What the engine tells its face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Registered at the hub under `name`.
    Ready { name: String },
    /// The other users online, whenever that changes.
    Roster { users: Vec<UserInfo> },
    /// Someone is calling; answer with accept or decline.
    Incoming { from: String },
    /// The call's state changed.
    Call {
        peer: String,
        state: CallState,
        /// Known once connected; `null` before.
        path: Option<Path>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A chat line from the other party.
    Chat { from: String, text: String },
    /// The hub connection went down or came back.
    Hub { state: HubState, url: String },
    /// Something was refused or went wrong; the engine goes on unless `fatal`.
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fatal: bool,
    },
}

impl Event {
    /// A non-fatal error.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Event::Error { code: code.into(), message: message.into(), fatal: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_the_documented_lines() {
        let cases = [
            (r#"{"cmd":"call","to":"bob"}"#, Command::Call { to: "bob".into() }),
            (r#"{"cmd":"accept"}"#, Command::Accept),
            (r#"{"cmd":"decline"}"#, Command::Decline),
            (r#"{"cmd":"hangup"}"#, Command::Hangup),
            (r#"{"cmd":"chat","text":"hi"}"#, Command::Chat { text: "hi".into() }),
            (r#"{"cmd":"quit"}"#, Command::Quit),
        ];
        for (line, cmd) in cases {
            assert_eq!(serde_json::from_str::<Command>(line).unwrap(), cmd, "{line}");
        }
        assert!(serde_json::from_str::<Command>(r#"{"cmd":"fly"}"#).is_err());
    }

    #[test]
    fn events_have_the_documented_form() {
        let e = Event::Call { peer: "bob".into(), state: CallState::Connecting, path: None, reason: None };
        assert_eq!(serde_json::to_value(e).unwrap(), json!({"event":"call","peer":"bob","state":"connecting","path":null}));
        let e = Event::Call { peer: "bob".into(), state: CallState::Ended, path: Some(Path::P2p), reason: Some("hangup".into()) };
        assert_eq!(serde_json::to_value(e).unwrap()["reason"], "hangup");
        assert_eq!(serde_json::to_value(Event::error("x", "y")).unwrap(), json!({"event":"error","code":"x","message":"y"}));
    }
}
