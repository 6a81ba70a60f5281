//! Building one webrtc-rs peer connection the way termcall wants it (trickle ICE, mDNS off,
//! gathering only on the addresses we were told), and turning its callbacks into a channel.

use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use termcall_congestion::estimator::Config;
use termcall_shared::media::congestion::SendLink;
use termcall_shared::media::glue::candidate_signal;
use termcall_shared::media::interceptors::{Congestion, Feedback};
pub use termcall_shared::media::glue::candidate_init;
use termcall_shared::{IceServer, Signal};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, SettingEngineBuilder,
};

/// The pace of ICE connectivity checks.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Silence on the selected pair after which ICE says disconnected, and the call restarts ICE.
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(3);
/// Silence after which ICE gives up on its own; the call's restart deadline is longer.
const ICE_FAILED_AFTER: Duration = Duration::from_secs(15);
/// How often an idle pair is checked, so that a dead path is noticed within a few seconds.
const ICE_KEEPALIVE: Duration = Duration::from_secs(1);
/// How long a working relay pair waits for a direct one to work too before it is chosen.
/// Direct pairs on a LAN answer within milliseconds; across the internet within a few RTTs.
const RELAY_PATIENCE: Duration = Duration::from_millis(1000);

/// When media may go through the hub's TURN relay (`--relay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayMode {
    /// Directly when the peers reach each other, else through the relay.
    #[default]
    Auto,
    /// Only through the relay (ICE transport policy `relay`): hides each side's address.
    Always,
    /// Never through the relay: direct or not at all.
    Never,
    /// Only through the relay, carried over the hub's WebSocket (TCP): for trying what a
    /// UDP-blocked network gets (`auto` falls back to it by itself).
    Tcp,
}

impl RelayMode {
    /// Parses `auto`, `always` or `never`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(RelayMode::Auto),
            "always" => Ok(RelayMode::Always),
            "never" => Ok(RelayMode::Never),
            "tcp" => Ok(RelayMode::Tcp),
            other => Err(format!("bad --relay {other:?}: give auto, always, never or tcp")),
        }
    }
}

/// How the peer connection gathers and chooses candidates.
#[derive(Debug, Clone)]
pub struct IceOptions {
    /// Local UDP addresses to gather host candidates on, e.g. `127.0.0.1:0`.
    pub bind: Vec<String>,
    pub relay: RelayMode,
}

fn is_turn(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

/// webrtc-rs relays over UDP only: `turn:` URLs with `transport=tcp` and `turns:` are for
/// browsers (termcall carries TURN over TCP itself, see [`super::relay_stream`]).
fn usable(url: &str) -> bool {
    !(url.starts_with("turns:") || (url.starts_with("turn:") && url.contains("transport=tcp")))
}

/// The hub's ICE servers as this relay mode wants them: `never` drops TURN, `always` keeps
/// only TURN (and refuses when there is none, rather than a call that cannot connect). With a
/// `shim` (TURN over the hub's WebSocket), the one server is the shim, with the credentials
/// of the hub's own TURN server (listed first).
pub fn servers_for(ice_servers: &[IceServer], mode: RelayMode, shim: Option<std::net::SocketAddr>) -> anyhow::Result<Vec<RTCIceServer>> {
    if let Some(shim) = shim {
        let Some(turn) = ice_servers.iter().find(|s| s.urls.iter().any(|u| is_turn(u)) && s.username.is_some()) else {
            anyhow::bail!("the hub offers TURN over its WebSocket but no TURN credentials");
        };
        return Ok(vec![RTCIceServer {
            urls: vec![format!("turn:{shim}?transport=udp")],
            username: turn.username.clone().unwrap_or_default(),
            credential: turn.credential.clone().unwrap_or_default(),
        }]);
    }
    let servers: Vec<RTCIceServer> = ice_servers
        .iter()
        .filter_map(|s| {
            let urls: Vec<String> = s
                .urls
                .iter()
                .filter(|u| usable(u))
                .filter(|u| match mode {
                    RelayMode::Auto => true,
                    RelayMode::Always | RelayMode::Tcp => is_turn(u),
                    RelayMode::Never => !is_turn(u),
                })
                .cloned()
                .collect();
            (!urls.is_empty()).then(|| RTCIceServer {
                urls,
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
        })
        .collect();
    if mode == RelayMode::Always && servers.is_empty() {
        anyhow::bail!("--relay always needs a TURN server, and the hub offers none (is it running with --no-turn?)");
    }
    Ok(servers)
}

/// A peer connection callback, as a message to the call task.
pub enum PcEvent {
    LocalCandidate(Signal),
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
    Track(Arc<dyn TrackRemote>),
}

struct Forwarder(mpsc::UnboundedSender<PcEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.0.send(PcEvent::LocalCandidate(candidate_signal(init)));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.0.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.0.send(PcEvent::DataChannel(dc));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.0.send(PcEvent::Track(track));
    }
}

/// Where the send estimate starts: a guess good for most links, which slow start corrects
/// upwards within seconds and the first over-use downwards.
pub const INITIAL_ESTIMATE_BPS: f64 = 300_000.0;
/// The estimate never goes below this: audio and a postage-stamp picture.
pub const MIN_ESTIMATE_BPS: f64 = 40_000.0;

/// Send-side congestion control for a sender whose media never exceeds `max_bps`, adapting
/// from `feedback`, and the link its estimate reaches the sender through.
pub fn congestion(max_bps: f64, feedback: Feedback) -> (Congestion, Arc<SendLink>) {
    let config = Config { initial_bps: INITIAL_ESTIMATE_BPS.min(max_bps), min_bps: MIN_ESTIMATE_BPS.min(max_bps), max_bps };
    let link = Arc::new(SendLink::new(config.initial_bps));
    (Congestion::Send(config, link.clone(), feedback), link)
}

/// Builds a peer connection whose callbacks arrive on the returned receiver; with a `shim`,
/// its TURN goes through it (over the hub's WebSocket). It negotiates `video_codecs`, in that
/// order of preference.
pub async fn build(
    ice_servers: &[IceServer],
    opts: &IceOptions,
    congestion: Congestion,
    shim: Option<std::net::SocketAddr>,
    video_codecs: &[crate::media::video_codec::VideoCodec],
) -> anyhow::Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<PcEvent>)> {
    // Through the shim, UDP is blocked: host candidates could reach no one.
    let relay_only = matches!(opts.relay, RelayMode::Always | RelayMode::Tcp) || shim.is_some();
    let mut media = crate::media::codecs::media_engine(crate::media::codecs::Repairs::Rtx, video_codecs)?;
    let registry = termcall_shared::media::interceptors::registry(&mut media, congestion)?;
    let loopback_only = opts.bind.iter().all(|a| a.starts_with("127.") || a.starts_with("[::1]"));
    let settings = SettingEngineBuilder::new()
        // mDNS would open a multicast socket and hide addresses behind .local names: never.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(loopback_only)
        // Pace connectivity checks at 50 ms, as browsers do (RFC 8445 Ta), not 200 ms: the first
        // nomination then comes a tick sooner. 40 tries keep 2 s of patience per pair.
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(40))
        .with_ice_timeouts(Some(ICE_DISCONNECTED_AFTER), Some(ICE_FAILED_AFTER), Some(ICE_KEEPALIVE))
        // With only relay pairs there is nothing better to wait for.
        .with_relay_acceptance_min_wait(Some(if relay_only { Duration::ZERO } else { RELAY_PATIENCE }))
        .with_prflx_acceptance_min_wait(Some(termcall_shared::media::glue::PEER_REFLEXIVE_WAIT))
        .build();
    let servers = servers_for(ice_servers, opts.relay, shim)?;
    let policy = if relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
    let config = RTCConfigurationBuilder::new().with_ice_servers(servers).with_ice_transport_policy(policy).build();
    let (tx, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(Arc::new(Forwarder(tx)))
        .with_udp_addrs(opts.bind.clone())
        .build()
        .await?;
    Ok((Arc::new(pc), rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_servers() -> Vec<IceServer> {
        vec![
            IceServer { urls: vec!["stun:10.0.0.1:3478".into()], username: None, credential: None },
            IceServer {
                urls: vec!["turn:10.0.0.1:3478?transport=udp".into(), "turn:10.0.0.1:3478?transport=tcp".into(), "turns:10.0.0.1:3478?transport=tcp".into()],
                username: Some("9:a".into()),
                credential: Some("pw".into()),
            },
        ]
    }

    #[test]
    fn relay_modes_pick_the_servers() {
        let urls = |mode| servers_for(&hub_servers(), mode, None).unwrap().into_iter().flat_map(|s| s.urls).collect::<Vec<_>>();
        assert_eq!(urls(RelayMode::Auto).len(), 2);
        assert_eq!(urls(RelayMode::Never), vec!["stun:10.0.0.1:3478"]);
        assert_eq!(urls(RelayMode::Always), vec!["turn:10.0.0.1:3478?transport=udp"], "TCP and TLS are the browsers'");
        let turn = servers_for(&hub_servers(), RelayMode::Always, None).unwrap();
        assert_eq!((turn[0].username.as_str(), turn[0].credential.as_str()), ("9:a", "pw"));
        let err = servers_for(&hub_servers()[..1], RelayMode::Always, None).unwrap_err().to_string();
        assert!(err.contains("no-turn"), "{err}");
        assert!(RelayMode::parse("sometimes").is_err());
        assert_eq!(RelayMode::parse("tcp"), Ok(RelayMode::Tcp));
    }

    #[test]
    fn through_a_shim_the_one_server_is_the_shim_with_the_hubs_credentials() {
        for mode in [RelayMode::Auto, RelayMode::Tcp] {
            let servers = servers_for(&hub_servers(), mode, Some("127.0.0.1:5000".parse().unwrap())).unwrap();
            assert_eq!(servers.len(), 1);
            assert_eq!(servers[0].urls, vec!["turn:127.0.0.1:5000?transport=udp"]);
            assert_eq!((servers[0].username.as_str(), servers[0].credential.as_str()), ("9:a", "pw"));
        }
        assert!(servers_for(&hub_servers()[..1], RelayMode::Auto, Some("127.0.0.1:5000".parse().unwrap())).is_err());
    }
}

