//! Which way the media goes, read from the ICE transport's selected candidate pair.

use std::collections::HashSet;
use std::sync::Arc;

use rtc::peer_connection::transport::RTCIceCandidateType;
use webrtc::peer_connection::PeerConnection;

use super::api::Path;

/// The `address:port` of the peer's relay candidates, as they were signaled. A relayed check
/// can arrive before the candidate itself; ICE then knows that address only as peer-reflexive,
/// and this is how it is recognised as the relay it is.
#[derive(Debug, Default)]
pub struct RemoteRelays(HashSet<String>);

impl RemoteRelays {
    /// Notes a signaled candidate line if it is a relay one; says whether it was.
    pub fn note(&mut self, candidate: &str) -> bool {
        // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
        let fields: Vec<&str> = candidate.split_whitespace().collect();
        if let (Some(addr), Some(port), Some(&"typ"), Some(&"relay")) = (fields.get(4), fields.get(5), fields.get(6), fields.get(7)) {
            self.0.insert(format!("{addr}:{port}"));
            return true;
        }
        false
    }

    fn contains(&self, address: &str, port: u16) -> bool {
        self.0.contains(&format!("{address}:{port}"))
    }
}

/// The path of the selected candidate pair, or `None` before one is selected. `over_stream`:
/// our relay is carried over the hub's WebSocket.
pub async fn selected_path(pc: &Arc<dyn PeerConnection>, remote_relays: &RemoteRelays, over_stream: bool) -> Option<Path> {
    let ice = pc.sctp().await?.transport().ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    let (local, remote) = (pair.local(), pair.remote());
    let remote_kind = if remote.typ == RTCIceCandidateType::Prflx && remote_relays.contains(&remote.address, remote.port) {
        RTCIceCandidateType::Relay
    } else {
        remote.typ
    };
    Some(path_of(local.typ, remote_kind, over_stream))
}

/// `relay-tcp` if ours is a relay carried over the hub's WebSocket, `relay` if either end
/// relays, else `p2p`.
pub fn path_of(local: RTCIceCandidateType, remote: RTCIceCandidateType, over_stream: bool) -> Path {
    if local == RTCIceCandidateType::Relay && over_stream {
        Path::RelayTcp
    } else if local == RTCIceCandidateType::Relay || remote == RTCIceCandidateType::Relay {
        Path::Relay
    } else {
        Path::P2p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RTCIceCandidateType::*;

    #[test]
    fn signaled_relay_candidates_are_remembered() {
        let mut r = RemoteRelays::default();
        assert!(r.note("candidate:1 1 udp 16777215 198.18.1.1 50123 typ relay raddr 0.0.0.0 rport 0"));
        assert!(!r.note("candidate:2 1 udp 2130706431 198.18.1.3 40000 typ host"));
        assert!(!r.note("garbage"));
        assert!(r.contains("198.18.1.1", 50123));
        assert!(!r.contains("198.18.1.3", 40000));
    }

    #[test]
    fn relay_on_either_end_is_relay() {
        assert_eq!(path_of(Host, Host, false), Path::P2p);
        assert_eq!(path_of(Srflx, Prflx, false), Path::P2p);
        assert_eq!(path_of(Relay, Host, false), Path::Relay);
        assert_eq!(path_of(Host, Relay, false), Path::Relay);
        assert_eq!(path_of(Relay, Host, true), Path::RelayTcp);
        assert_eq!(path_of(Host, Relay, true), Path::Relay, "the peer's relay; ours is not in use");
    }
}
