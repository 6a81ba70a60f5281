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
}
