//! What each client is told about ICE servers: the embedded STUN/TURN server with credentials
//! made for that user at that moment, plus any servers the operator listed with `--ice-server`.
//! A `turn:`/`turns:` server listed there gets credentials too when the hub has `--turn-secret`:
//! TURN REST ones (`expiry:name`, HMAC-SHA1 of it under the secret), which coturn checks with
//! `use-auth-secret` and the same `static-auth-secret`.

use std::sync::Arc;
use std::time::SystemTime;

use termcall_shared::IceServer;

use crate::turn::credentials::Credentials;
use crate::turn::Turn;

/// The servers the operator listed, checked.
#[derive(Clone, Default)]
pub struct ExternalIce {
    /// `stun:`/`stuns:` URLs: no credentials.
    pub stun: Vec<String>,
    /// `turn:`/`turns:` URLs.
    pub turn: Vec<String>,
    /// What signs credentials for them (`--turn-secret`), if anything does.
    pub creds: Option<Credentials>,
}

impl ExternalIce {
    /// Sorts `urls` by scheme, or says which one is not an ICE server URL.
    pub fn new(urls: &[String], creds: Option<Credentials>) -> Result<Self, String> {
        let mut ice = ExternalIce { creds, ..ExternalIce::default() };
        for url in urls {
            let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
            let rest = url.split_once(':').map_or("", |(_, r)| r);
            match scheme.as_deref() {
                _ if rest.trim_start_matches('/').is_empty() => return Err(format!("--ice-server {url:?} names no host")),
                Some("stun" | "stuns") => ice.stun.push(url.clone()),
                Some("turn" | "turns") => ice.turn.push(url.clone()),
                _ => return Err(format!("--ice-server {url:?} is not a stun:, stuns:, turn: or turns: URL")),
            }
        }
        Ok(ice)
    }
}

/// The source of every welcome's `ice_servers`.
#[derive(Clone, Default)]
pub struct IceDirectory {
    external: ExternalIce,
    turn: Option<Arc<Turn>>,
}

impl IceDirectory {
    /// The embedded server (if running) first, then the operator's.
    pub fn new(external: ExternalIce, turn: Option<Arc<Turn>>) -> Self {
        IceDirectory { external, turn }
    }

    /// Where the embedded server takes TURN over the hub's WebSocket port, if it does.
    pub fn turn_stream(&self) -> Option<String> {
        self.turn.as_ref().filter(|t| t.streams().is_some()).map(|_| crate::turn::STREAM_PATH.to_owned())
    }

    /// The list for `name`, with fresh TURN credentials.
    pub fn for_user(&self, name: &str) -> Vec<IceServer> {
        self.for_user_at(name, SystemTime::now())
    }

    fn for_user_at(&self, name: &str, now: SystemTime) -> Vec<IceServer> {
        let mut servers = self.turn.as_ref().map(|t| t.ice_servers(name, now)).unwrap_or_default();
        let ExternalIce { stun, turn, creds } = &self.external;
        if !stun.is_empty() {
            servers.push(IceServer { urls: stun.clone(), username: None, credential: None });
        }
        if !turn.is_empty() {
            let (username, credential) = creds.as_ref().map(|c| c.issue(name, now)).unzip();
            servers.push(IceServer { urls: turn.clone(), username, credential });
        }
        servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn external_turn_servers_get_turn_rest_credentials() {
        let urls = ["stun:stun.example.org:3478", "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443"].map(String::from);
        let creds = Credentials::new(b"shared with coturn".to_vec(), Duration::from_secs(3600));
        let dir = IceDirectory::new(ExternalIce::new(&urls, Some(creds.clone())).unwrap(), None);
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let servers = dir.for_user_at("alice", now);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0], IceServer { urls: vec![urls[0].clone()], username: None, credential: None });
        assert_eq!(servers[1].urls, urls[1..].to_vec());
        assert_eq!(servers[1].username.as_deref(), Some("1003600:alice"));
        assert_eq!(servers[1].credential, Some(creds.check("1003600:alice", now).unwrap().1));
    }

    #[test]
    fn without_a_secret_there_are_no_credentials_to_give() {
        let urls = ["turn:turn.example.org".to_owned()];
        let dir = IceDirectory::new(ExternalIce::new(&urls, None).unwrap(), None);
        assert_eq!(dir.for_user("alice"), vec![IceServer { urls: urls.to_vec(), username: None, credential: None }]);
    }

    #[test]
    fn anything_but_an_ice_url_is_refused_with_its_name() {
        for bad in ["http://turn.example.org", "turn.example.org:3478", "turn:", "stun://", ""] {
            let err = ExternalIce::new(&[bad.to_owned()], None).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains("--ice-server"), "{err}");
        }
    }
}
