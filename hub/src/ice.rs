//! What each client is told about ICE servers: the embedded STUN/TURN server with credentials
//! made for that user at that moment, plus any servers the operator listed with `--ice-server`.

use std::sync::Arc;
use std::time::SystemTime;

use termcall_shared::IceServer;

use crate::turn::Turn;

/// The source of every welcome's `ice_servers`.
#[derive(Clone, Default)]
pub struct IceDirectory {
    fixed: Vec<IceServer>,
    turn: Option<Arc<Turn>>,
}

impl IceDirectory {
    /// The embedded server (if running) first, then the operator's.
    pub fn new(fixed: Vec<IceServer>, turn: Option<Arc<Turn>>) -> Self {
        IceDirectory { fixed, turn }
    }

    /// The list for `name`, with fresh TURN credentials.
    pub fn for_user(&self, name: &str) -> Vec<IceServer> {
        let mut servers = self.turn.as_ref().map(|t| t.ice_servers(name, SystemTime::now())).unwrap_or_default();
        servers.extend(self.fixed.iter().cloned());
        servers
    }
}
