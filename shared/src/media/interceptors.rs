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
use rtc::sdp::extmap::{ABS_SEND_TIME_URI, TRANSPORT_CC_URI};
use termcall_congestion::estimator::Config;

use super::congestion::{CongestionInterceptor, SendLink};
use super::pacing::PacerInterceptor;
use super::remb::{self, RembInterceptor};
use super::rtx::{self, RtxUnwrap};
use super::rtcp_tap::{RtcpTap, SLOT};
use super::stage::Staged;

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
    Send(Config, Arc<SendLink>, Feedback),
    /// Only report what we receive, so that the other side can estimate (the hub, for now).
    ReceiveOnly,
}

/// What feedback a sender asks its receivers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Feedback {
    /// Transport-wide feedback (TWCC), as browsers do; REMB is still understood.
    #[default]
    TransportWide,
    /// Only REMB, as older endpoints do: transport-cc is not offered, packets carry their send
    /// time instead. For interoperability tests.
    RembOnly,
}

/// The chain for a peer connection whose codecs are in `media` (feedback types are added to it).
pub fn registry(media: &mut MediaEngine, congestion: Congestion) -> Result<Registry, rtc::shared::error::Error> {
    for parameter in ["", "pli"] {
        media.register_feedback(RTCPFeedback { typ: "nack".to_owned(), parameter: parameter.to_owned() }, RtpCodecKind::Video);
    }
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(Slot::from(rtx::SLOT), Staged::new(RtxUnwrap::default()))
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new().with_interval(NACK_INTERVAL).with_max_nacks_per_packet(NACKS_PER_PACKET).build(),
        );
    configure_simulcast_extension_headers(media)?;
    // Transport-wide feedback for audio and video: the sequence number extension and the
    // `transport-cc` feedback type, which browsers estimate from too; and abs-send-time, with
    // which a sender that does not number its packets is estimated here and told by REMB.
    let remb_only = matches!(congestion, Congestion::Send(_, _, Feedback::RembOnly));
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        if !remb_only {
            media.register_feedback(RTCPFeedback { typ: "transport-cc".to_owned(), parameter: String::new() }, kind);
            media.register_header_extension(RTCRtpHeaderExtensionCapability { uri: TRANSPORT_CC_URI.to_owned() }, kind, None)?;
        }
        media.register_header_extension(RTCRtpHeaderExtensionCapability { uri: ABS_SEND_TIME_URI.to_owned() }, kind, None)?;
    }
    let registry = registry
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().with_interval(TWCC_INTERVAL).build())
        .with(Slot::from(remb::SLOT), Staged::new(RembInterceptor::default()));
    let registry = configure_rtcp_reports(registry);
    let registry = match congestion {
        // The congestion interceptor numbers packets itself (RTX too), so no TWCC sender.
        Congestion::Send(config, link, _) => registry
            .with(Slot::Pacer, Staged::new(PacerInterceptor::new(link.clone())))
            .with(Slot::CongestionControl, Staged::new(CongestionInterceptor::new(config, link))),
        Congestion::ReceiveOnly => registry,
    };
    Ok(registry.with(Slot::from(SLOT), Staged::new(RtcpTap)))
}
