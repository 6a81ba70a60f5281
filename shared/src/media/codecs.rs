//! The codecs termcall negotiates: H.264 constrained baseline (packetization-mode 1, which every
//! browser decodes) with RTX, and Opus.

use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};

/// Payload types, as Chromium numbers them.
pub const H264_PT: u8 = 102;
pub const OPUS_PT: u8 = 111;

/// The H.264 codec termcall sends.
pub fn h264() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.into(), parameter: parameter.into() };
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f".to_owned(),
        rtcp_feedback: vec![fb("goog-remb", ""), fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
    }
}

/// The Opus codec termcall sends (RFC 7587 always says 2 channels; we send mono in it).
pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Whether video repairs go on a stream of their own (RTX, RFC 4588).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repairs {
    Rtx,
    /// On the media stream itself. The hub's choice: it receives simulcast layers, which
    /// webrtc-rs binds by RID, and it does not bind their repair streams (by repaired RID).
    InBand,
}

/// A media engine with exactly these codecs.
pub fn media_engine(repairs: Repairs) -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut m = MediaEngine::default();
    m.register_codec(RTCRtpCodecParameters { rtp_codec: opus(), payload_type: OPUS_PT }, RtpCodecKind::Audio)?;
    m.register_codec(RTCRtpCodecParameters { rtp_codec: h264(), payload_type: H264_PT }, RtpCodecKind::Video)?;
    if repairs == Repairs::InBand {
        return Ok(m);
    }
    let rtx = RTCRtpCodec {
        mime_type: MIME_TYPE_RTX.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!("apt={H264_PT}"),
        rtcp_feedback: vec![],
    };
    m.register_codec(RTCRtpCodecParameters { rtp_codec: rtx, payload_type: H264_PT + 1 }, RtpCodecKind::Video)?;
    Ok(m)
}
