//! Which way the media goes, read from the selected ICE candidate pair.

use rtc::peer_connection::transport::RTCIceCandidateType;
use webrtc::peer_connection::{RTCStatsReport, RTCStatsReportEntry};

use super::api::Path;

/// The path of the selected candidate pair, or `None` before one is selected.
/// A pair is `relay` when either end is a relay candidate.
pub fn selected_path(report: &RTCStatsReport) -> Option<Path> {
    let pair = report
        .iter()
        .find_map(|e| match e {
            RTCStatsReportEntry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
                match report.get(&t.selected_candidate_pair_id) {
                    Some(RTCStatsReportEntry::IceCandidatePair(p)) => Some(p),
                    _ => None,
                }
            }
            _ => None,
        })
        .or_else(|| {
            report.iter().find_map(|e| match e {
                RTCStatsReportEntry::IceCandidatePair(p) if p.nominated => Some(p),
                _ => None,
            })
        })?;
    // webrtc-rs 0.21 keys candidate stats as `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`
    // while the pair names the bare id; accept either.
    let kind = |prefix: &str, id: &str| {
        let entry = report.get(id).or_else(|| report.get(&format!("{prefix}{id}")));
        match entry {
            Some(RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)) => Some(c.candidate_type),
            _ => None,
        }
    };
    let local = kind("RTCLocalIceCandidate_", &pair.local_candidate_id)?;
    // A remote candidate learned from a connectivity check (peer-reflexive) is not in the report.
    let remote = kind("RTCRemoteIceCandidate_", &pair.remote_candidate_id).unwrap_or(RTCIceCandidateType::Prflx);
    Some(path_of(local, remote))
}

/// `relay` if either end relays, else `p2p`.
pub fn path_of(local: RTCIceCandidateType, remote: RTCIceCandidateType) -> Path {
    if local == RTCIceCandidateType::Relay || remote == RTCIceCandidateType::Relay {
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
    fn relay_on_either_end_is_relay() {
        assert_eq!(path_of(Host, Host), Path::P2p);
        assert_eq!(path_of(Srflx, Prflx), Path::P2p);
        assert_eq!(path_of(Relay, Host), Path::Relay);
        assert_eq!(path_of(Host, Relay), Path::Relay);
    }
}
