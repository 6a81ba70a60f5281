//! The interceptor chain both WebRTC ends build: webrtc-rs's defaults (NACK generator and
//! responder, sender and receiver reports, the receiving half of TWCC), with NACKs sent sooner
//! than its 100 ms default, plus the [`super::rtcp_tap`]; and, where we send media that should
//! adapt to the network, send-side congestion control ([`super::congestion`]) and the
//! [`super::pacing`] pacer.

use std::sync::Arc;
use std::time::Duration;

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot, TwccReceiverBuilder};
use rtc::peer_connection::configuration::interceptor_registry::{configure_rtcp_reports, configure_simulcast_extension_headers};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind};
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use termcall_congestion::estimator::Config;

use super::congestion::{CongestionInterceptor, SendLink};
use super::pacing::PacerInterceptor;
use super::rtcp_tap::{RtcpTap, SLOT};

/// How often missing packets are NACKed. A frame waits for its retransmission (the client's
/// assembler gives it 300 ms), so at 100 ms a packet lost twice costs most of that; at 30 ms a
/// LAN or a nearby hub recovers it within a frame interval. Each packet is asked for at most
/// [`NACKS_PER_PACKET`] times, so a long RTT does not multiply retransmissions without end.
pub const NACK_INTERVAL: Duration = Duration::from_millis(30);
pub const NACKS_PER_PACKET: u16 = 10;
/// How often the receiver reports arrivals (transport-wide feedback), as Chromium does at
/// ordinary rates: often enough for the sender's estimate to react within a few frames.
pub const TWCC_INTERVAL: Duration = Duration::from_millis(50);

/// What the chain does about the sending side's rate.
pub enum Congestion {
    /// Estimate the path from the receiver's feedback and pace what we send; the estimate
    /// within `Config` is published on the link.
    Send(Config, Arc<SendLink>),
    /// Only report what we receive, so that the other side can estimate (the hub, for now).
    ReceiveOnly,
}

/// The chain for a peer connection whose codecs are in `media` (feedback types are added to it).
pub fn registry(media: &mut MediaEngine, congestion: Congestion) -> Result<Registry, rtc::shared::error::Error> {
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
    // Transport-wide feedback for audio and video: the sequence number extension and the
    // `transport-cc` feedback type, which browsers estimate from too.
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        media.register_feedback(RTCPFeedback { typ: "transport-cc".to_owned(), parameter: String::new() }, kind);
        media.register_header_extension(RTCRtpHeaderExtensionCapability { uri: TRANSPORT_CC_URI.to_owned() }, kind, None)?;
    }
    let registry = registry.with(Slot::TwccReceiver, TwccReceiverBuilder::new().with_interval(TWCC_INTERVAL).build());
    let registry = configure_rtcp_reports(registry);
    let registry = match congestion {
        // The congestion interceptor numbers packets itself (RTX too), so no TWCC sender.
        Congestion::Send(config, link) => registry
            .with(Slot::Pacer, PacerInterceptor::new(link.clone()))
            .with(Slot::CongestionControl, CongestionInterceptor::new(config, link)),
        Congestion::ReceiveOnly => registry,
    };
    Ok(registry.with(Slot::from(SLOT), RtcpTap::default()))
}
