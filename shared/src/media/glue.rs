//! Small conversions both WebRTC ends need: ICE candidates between webrtc-rs's form and the
//! protocol's [`Signal`], and a local track's description; and the ICE timing both ends share.

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};

use crate::Signal;

/// How long a peer-reflexive pair waits before it may be nominated. rtc-ice waits 1 s by
/// default. A browser's first check usually arrives before its candidate, which travels
/// through the hub, so the browser's host address is first known as peer-reflexive. Waiting
/// then cost every call a browser answers a second. The pair is nominated only once its check
/// has succeeded, so nothing is gained by waiting longer.
pub const PEER_REFLEXIVE_WAIT: std::time::Duration = std::time::Duration::ZERO;

/// A relayed candidate in the form webrtc-rs takes; `None` for any other signal.
pub fn candidate_init(signal: Signal) -> Option<RTCIceCandidateInit> {
    match signal {
        Signal::Candidate { candidate, sdp_mid, sdp_mline_index, username_fragment } => {
            Some(RTCIceCandidateInit { candidate, sdp_mid, sdp_mline_index, username_fragment, ..Default::default() })
        }
        _ => None,
    }
}

/// A local candidate as the signal that carries it.
pub fn candidate_signal(init: RTCIceCandidateInit) -> Signal {
    Signal::Candidate { candidate: init.candidate, sdp_mid: init.sdp_mid, sdp_mline_index: init.sdp_mline_index, username_fragment: init.username_fragment }
}

/// A video track sent as simulcast layers: an encoding per RID of
/// [`super::simulcast::RIDS`], each under its SSRC in `ssrcs` (from the smallest layer).
pub fn simulcast_track(stream: &str, ssrcs: [u32; 3], codec: RTCRtpCodec) -> MediaStreamTrack {
    let encodings = super::simulcast::RIDS
        .iter()
        .zip(ssrcs)
        .map(|(rid, ssrc)| RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { rid: (*rid).to_owned(), ssrc: Some(ssrc), ..Default::default() },
            codec: codec.clone(),
            ..Default::default()
        })
        .collect();
    MediaStreamTrack::new(stream.to_owned(), format!("{stream}-video-{:08x}", ssrcs[0]), "video".to_owned(), RtpCodecKind::Video, encodings)
}

/// A track we send of `kind`, with one encoding on `ssrc`, in media stream `stream` (which
/// the receiver sees; the hub uses the sender's name). Its id is `{stream}-{audio|video}-{ssrc}`:
/// unique, because webrtc-rs routes feedback (PLI) by track id and looks among received tracks
/// first, so an id shared with the peer's would send our keyframe requests to ourselves.
pub fn local_track(stream: &str, kind: RtpCodecKind, ssrc: u32, codec: RTCRtpCodec) -> MediaStreamTrack {
    let label = if kind == RtpCodecKind::Video { "video" } else { "audio" };
    MediaStreamTrack::new(
        stream.to_owned(),
        format!("{stream}-{label}-{ssrc:08x}"),
        label.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec,
            ..Default::default()
        }],
    )
}
