//! The TURN server's credential check: recomputes the password of a TURN REST username from
//! the hub's secret, refuses expired or malformed ones, and notes whose request is being
//! served so that a new allocation can be charged to that user's quota.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use tracing::debug;
use turn::auth::{generate_auth_key, AuthHandler};

use super::credentials::Credentials;
use super::Shared;
use crate::metrics::Metrics;

/// The [`AuthHandler`] handed to the `turn` server.
pub struct Auth {
    pub creds: Credentials,
    pub shared: Arc<Shared>,
}

impl AuthHandler for Auth {
    fn auth_handle(&self, username: &str, realm: &str, src_addr: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        match self.creds.check(username, SystemTime::now()) {
            Ok((name, password)) => {
                // The server handles one request at a time per socket, and an Allocate request
                // is authenticated right before its relay is made: see `relay::RelayGen`.
                self.shared.set_requester(name);
                Ok(generate_auth_key(username, realm, &password))
            }
            Err(why) => {
                debug!(%src_addr, username, "TURN credentials refused: {why}");
                Metrics::add(&self.shared.metrics.turn_auth_refused_total, 1);
                Err(turn::Error::Other(format!("{why}")))
            }
        }
    }
}
