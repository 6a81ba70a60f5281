//! Who is online, and what they are doing.

use serde::{Deserialize, Serialize};

/// What a user online is doing; others see it in their roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// Online and free to take a call.
    Idle,
    /// Ringing someone or being rung.
    Ringing,
    /// In a call.
    InCall,
}

/// One entry of the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub state: UserState,
    /// The group call the user is in (or is ringing for), so that a roster can show who is
    /// in which call. Absent for one-to-one calls, which are private to their two parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<crate::CallId>,
}

impl UserInfo {
    /// An entry outside any group call.
    pub fn new(name: impl Into<String>, state: UserState) -> Self {
        UserInfo { name: name.into(), state, call: None }
    }
}
