//! Building one webrtc-rs peer connection the way termcall wants it (trickle ICE, mDNS off,
//! gathering only on the addresses we were told), and turning its callbacks into a channel.

use std::sync::Arc;

use rtc::ice::mdns::MulticastDnsMode;
use termcall_shared::{IceServer, Signal};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

/// The pace of ICE connectivity checks.
const ICE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// How the peer connection gathers and chooses candidates.
#[derive(Debug, Clone)]
pub struct IceOptions {
    /// Local UDP addresses to gather host candidates on, e.g. `127.0.0.1:0`.
    pub bind: Vec<String>,
    /// Only relay candidates (`--relay always`).
    pub relay_only: bool,
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
            let _ = self.0.send(PcEvent::LocalCandidate(Signal::Candidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            }));
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

/// Builds a peer connection whose callbacks arrive on the returned receiver.
pub async fn build(
    ice_servers: &[IceServer],
    opts: &IceOptions,
) -> anyhow::Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<PcEvent>)> {
    let mut media = crate::media::codecs::media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?
        .with(rtc::interceptor::Slot::from(crate::media::rtcp_tap::SLOT), crate::media::rtcp_tap::RtcpTap::default());
    let loopback_only = opts.bind.iter().all(|a| a.starts_with("127.") || a.starts_with("[::1]"));
    let settings = SettingEngineBuilder::new()
        // mDNS would open a multicast socket and hide addresses behind .local names: never.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(loopback_only)
        // Pace connectivity checks at 50 ms, as browsers do (RFC 8445 Ta), not 200 ms: the first
        // nomination then comes a tick sooner. 40 tries keep 2 s of patience per pair.
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(40))
        .build();
    let servers = ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = if opts.relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
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

/// A relayed candidate in the form webrtc-rs takes.
pub fn candidate_init(signal: Signal) -> Option<RTCIceCandidateInit> {
    match signal {
        Signal::Candidate { candidate, sdp_mid, sdp_mline_index, username_fragment } => Some(RTCIceCandidateInit {
            candidate,
            sdp_mid,
            sdp_mline_index,
            username_fragment,
            ..Default::default()
        }),
        _ => None,
    }
}
