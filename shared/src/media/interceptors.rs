//! The interceptor chain both WebRTC ends build: webrtc-rs's defaults (NACK generator and
//! responder, sender and receiver reports, the receiving half of TWCC), with NACKs sent sooner
//! than its 100 ms default, plus the [`super::rtcp_tap`].

use std::time::Duration;

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RtpCodecKind};

use super::rtcp_tap::{RtcpTap, SLOT};

/// How often missing packets are NACKed. A frame waits for its retransmission (the client's
/// assembler gives it 300 ms), so at 100 ms a packet lost twice costs most of that; at 30 ms a
/// LAN or a nearby hub recovers it within a frame interval. Each packet is asked for at most
/// [`NACKS_PER_PACKET`] times, so a long RTT does not multiply retransmissions without end.
pub const NACK_INTERVAL: Duration = Duration::from_millis(30);
pub const NACKS_PER_PACKET: u16 = 10;

/// The chain for a peer connection whose codecs are in `media` (feedback types are added to it).
pub fn registry(media: &mut MediaEngine) -> Result<Registry, rtc::shared::error::Error> {
    for parameter in ["", "pli"] {
        media.register_feedback(RTCPFeedback { typ: "nack".to_owned(), parameter: parameter.to_owned() }, RtpCodecKind::Video);
    }
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new().with_interval(NACK_INTERVAL).with_max_nacks_per_packet(NACKS_PER_PACKET).build(),
        );
    configure_simulcast_extension_headers(media)?;
    let registry = configure_twcc_receiver_only(registry, media)?;
    let registry = configure_rtcp_reports(registry);
    Ok(registry.with(Slot::from(SLOT), RtcpTap::default()))
}
