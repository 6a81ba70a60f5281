//! Building one of the hub's peer connections: the codecs termcall clients register (video
//! repairs in band), the interceptors (NACK, reports, the RTCP tap that lets the room see
//! keyframe requests, and send-side congestion control with its pacer, which estimate the
//! participant's downlink), mDNS off, and host candidates on the hub's own address only.

use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use termcall_shared::media::glue::{self, candidate_signal};
use termcall_congestion::estimator::Config;
use termcall_shared::media::congestion::SendLink;
use termcall_shared::media::{codecs, interceptors};
use termcall_shared::Signal;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

use super::SfuSettings;
use crate::core::ConnId;

/// Chat bytes the hub keeps in flight to one participant.
pub const CHAT_SEND_BUFFER: usize = 256 * 1024;

/// A peer connection callback, tagged with whose connection it is.
pub enum PeerEvent {
    Candidate(Signal),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
    /// A data channel the client opened (ours is made by the hub; a second is ignored).
    DataChannel(Arc<dyn DataChannel>),
}

struct Forwarder {
    conn: ConnId,
    tx: mpsc::UnboundedSender<(ConnId, PeerEvent)>,
}

impl Forwarder {
    fn send(&self, e: PeerEvent) {
        let _ = self.tx.send((self.conn, e));
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            self.send(PeerEvent::Candidate(candidate_signal(init)));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.send(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        self.send(PeerEvent::DataChannel(dc));
    }
}

/// The hub's estimate of a participant's downlink starts here (it goes down within a second
/// or two on a slower link; up, the hub probes), and stays within these bounds.
pub const DOWNLINK_INITIAL_BPS: f64 = 1_500_000.0;
pub const DOWNLINK_MIN_BPS: f64 = 60_000.0;
pub const DOWNLINK_MAX_BPS: f64 = 50_000_000.0;

/// Builds a peer connection for participant `conn`; its callbacks arrive on `events`. The link
/// carries the estimate of the participant's downlink (send-side, from its transport-wide
/// feedback), which paces what the hub sends it and chooses its layers.
pub async fn build(settings: &SfuSettings, conn: ConnId, events: mpsc::UnboundedSender<(ConnId, PeerEvent)>) -> anyhow::Result<(Arc<dyn PeerConnection>, Arc<SendLink>)> {
    // Both video codecs; which one a room's media goes in is the room's choice (`super::codec`).
    let mut media = codecs::media_engine(codecs::Repairs::InBand, &codecs::VideoCodec::ALL)?;
    let config = Config { initial_bps: DOWNLINK_INITIAL_BPS, min_bps: DOWNLINK_MIN_BPS, max_bps: DOWNLINK_MAX_BPS };
    let link = Arc::new(SendLink::new(config.initial_bps));
    link.set_max(DOWNLINK_MAX_BPS);
    let registry = interceptors::registry(&mut media, interceptors::Congestion::Send(config, link.clone(), interceptors::Feedback::TransportWide))?;
    let mut se = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(settings.bind_ip.is_loopback())
        .with_ice_timeouts(Some(Duration::from_secs(3)), Some(Duration::from_secs(15)), Some(Duration::from_secs(1)))
        .with_prflx_acceptance_min_wait(Some(glue::PEER_REFLEXIVE_WAIT));
    if let Some(ip) = settings.public_ip {
        se = se.with_nat_1to1_ips(vec![ip.to_string()], webrtc::peer_connection::RTCIceCandidateType::Host);
    }
    let config = RTCConfigurationBuilder::new().build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(se.build())
        .with_handler(Arc::new(Forwarder { conn, tx: events }))
        .with_udp_addrs(vec![std::net::SocketAddr::new(settings.bind_ip, 0).to_string()])
        // Chat to a participant who does not read it is dropped past this, never queued without end.
        .with_data_channel_send_buffer_limit(CHAT_SEND_BUFFER)
        .build()
        .await?;
    Ok((Arc::new(pc), link))
}
