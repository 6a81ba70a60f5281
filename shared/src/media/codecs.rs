//! The codecs termcall negotiates: H.264 constrained baseline (packetization-mode 1, which every
//! browser decodes) and VP8 (every WebRTC endpoint has it, RFC 7742; Firefox without its
//! OpenH264 plugin has only VP8 of the two), each with RTX, and Opus.

use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};

/// Payload types, as Chromium numbers them.
pub const H264_PT: u8 = 102;
pub const VP8_PT: u8 = 96;
pub const OPUS_PT: u8 = 111;

/// A video codec termcall encodes and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    Vp8,
}

impl VideoCodec {
    /// Both, in termcall's order of preference: H.264 first (cheaper to encode here).
    pub const ALL: [VideoCodec; 2] = [VideoCodec::H264, VideoCodec::Vp8];

    /// The SDP encoding name (`rtpmap`), as [`super::sdp::Video`] lists them.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H264",
            VideoCodec::Vp8 => "VP8",
        }
    }

    /// The codec as webrtc-rs describes it.
    pub fn rtp_codec(self) -> RTCRtpCodec {
        match self {
            VideoCodec::H264 => h264(),
            VideoCodec::Vp8 => vp8(),
        }
    }

    /// Its payload type (Chromium's numbers); RTX for it is the next one.
    pub fn payload_type(self) -> u8 {
        match self {
            VideoCodec::H264 => H264_PT,
            VideoCodec::Vp8 => VP8_PT,
        }
    }

    /// A small number for the codec (1, 2...; 0 is none), to keep in an atomic.
    pub fn code(self) -> u8 {
        match self {
            VideoCodec::H264 => 1,
            VideoCodec::Vp8 => 2,
        }
    }

    /// The codec of a [`VideoCodec::code`]; `None` for 0 (not known yet).
    pub fn from_code(code: u8) -> Option<VideoCodec> {
        VideoCodec::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The codec of one of termcall's payload types ([`VideoCodec::payload_type`]): the hub
    /// makes every offer, so what it receives is typed with its numbers.
    pub fn of_payload_type(pt: u8) -> Option<VideoCodec> {
        VideoCodec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    /// The codec of a MIME type (`video/VP8`) or an encoding name (`vp8`), any case.
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        let bare = name.rsplit('/').next().unwrap_or(name);
        VideoCodec::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(bare))
    }

    /// The first of `preferred` that an SDP's video sections carry (in `preferred`'s order when
    /// we choose, as an offerer does; [`first_in`] for an answer's order).
    pub fn first_of(preferred: &[VideoCodec], offered: &super::sdp::Video) -> Option<VideoCodec> {
        preferred.iter().copied().find(|c| offered.has(c.name()))
    }

    /// The first codec of `sdp_codecs` (in the SDP's order) that is one of `ours`: what an
    /// answer that lists several will be sent in.
    pub fn first_in(sdp_codecs: &super::sdp::Video, ours: &[VideoCodec]) -> Option<VideoCodec> {
        sdp_codecs.codecs.iter().filter_map(|n| VideoCodec::from_name(n)).find(|c| ours.contains(c))
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for VideoCodec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VideoCodec::from_name(s).ok_or_else(|| format!("unknown video codec {s:?}: termcall has h264 and vp8"))
    }
}

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

/// The VP8 codec termcall sends.
pub fn vp8() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.into(), parameter: parameter.into() };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
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

/// A media engine with exactly these codecs: Opus, and the `video` codecs in that order of
/// preference (what an offer lists first), each with RTX unless repairs go in band.
pub fn media_engine(repairs: Repairs, video: &[VideoCodec]) -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut m = MediaEngine::default();
    m.register_codec(RTCRtpCodecParameters { rtp_codec: opus(), payload_type: OPUS_PT }, RtpCodecKind::Audio)?;
    for codec in video {
        m.register_codec(RTCRtpCodecParameters { rtp_codec: codec.rtp_codec(), payload_type: codec.payload_type() }, RtpCodecKind::Video)?;
        if repairs == Repairs::InBand {
            continue;
        }
        let rtx = RTCRtpCodec {
            mime_type: MIME_TYPE_RTX.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: format!("apt={}", codec.payload_type()),
            rtcp_feedback: vec![],
        };
        m.register_codec(RTCRtpCodecParameters { rtp_codec: rtx, payload_type: codec.payload_type() + 1 }, RtpCodecKind::Video)?;
    }
    Ok(m)
}

/// The codec parameters of `video` as a transceiver's preferences (with their RTX, unless
/// repairs go in band): what an offer lists, in this order.
pub fn preferences(repairs: Repairs, video: &[VideoCodec]) -> Vec<RTCRtpCodecParameters> {
    let mut out = Vec::new();
    for codec in video {
        out.push(RTCRtpCodecParameters { rtp_codec: codec.rtp_codec(), payload_type: codec.payload_type() });
        if repairs == Repairs::Rtx {
            let rtx = RTCRtpCodec { mime_type: MIME_TYPE_RTX.to_owned(), clock_rate: 90_000, channels: 0, sdp_fmtp_line: format!("apt={}", codec.payload_type()), rtcp_feedback: vec![] };
            out.push(RTCRtpCodecParameters { rtp_codec: rtx, payload_type: codec.payload_type() + 1 });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::video;

    #[test]
    fn names_parse_and_the_first_common_codec_follows_whose_order_counts() {
        assert_eq!("vp8".parse::<VideoCodec>(), Ok(VideoCodec::Vp8));
        assert_eq!(VideoCodec::from_name("video/H264"), Some(VideoCodec::H264));
        assert!("av1".parse::<VideoCodec>().is_err());
        let firefox = video("m=video 9 UDP/TLS/RTP/SAVPF 120 124 121\na=rtpmap:120 VP8/90000\na=rtpmap:124 rtx/90000\na=rtpmap:121 VP9/90000\n");
        assert_eq!(VideoCodec::first_of(&VideoCodec::ALL, &firefox), Some(VideoCodec::Vp8));
        assert_eq!(VideoCodec::first_of(&[VideoCodec::H264], &firefox), None);
        let both = video("m=video 9 UDP/TLS/RTP/SAVPF 96 102\na=rtpmap:96 VP8/90000\na=rtpmap:102 H264/90000\n");
        assert_eq!(VideoCodec::first_of(&VideoCodec::ALL, &both), Some(VideoCodec::H264), "ours first");
        assert_eq!(VideoCodec::first_in(&both, &VideoCodec::ALL), Some(VideoCodec::Vp8), "the SDP's first");
    }

    #[test]
    fn an_engine_for_either_or_both_codecs() {
        for video in [&VideoCodec::ALL[..], &[VideoCodec::Vp8], &[VideoCodec::H264]] {
            assert!(media_engine(Repairs::Rtx, video).is_ok());
            assert!(media_engine(Repairs::InBand, video).is_ok());
            assert_eq!(preferences(Repairs::Rtx, video).len(), 2 * video.len());
        }
    }
}
