//! REMB for what we receive from a sender that does not number its packets transport-wide:
//! an interceptor that runs [`termcall_congestion::remb::ReceiveSideBwe`] on the abs-send-time
//! header extension of such a sender's packets, and sends it a REMB four times a second (at once on a
//! fall). Senders that negotiated transport-wide numbers get TWCC feedback instead (from the
//! TWCC receiver) and no REMB, as libwebrtc does.

use std::collections::HashMap;
use std::time::Instant;

use rtc::interceptor::{AttributedPacket, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtp::extension::abs_send_time_extension::AbsSendTimeExtension;
use rtc::sdp::extmap::{ABS_SEND_TIME_URI, TRANSPORT_CC_URI};
use rtc::shared::marshal::{MarshalSize, Unmarshal};
use rtc::shared::TransportContext;
use termcall_congestion::remb::ReceiveSideBwe;

use super::stage::{Belt, Stage};

/// Where it sits: beside the TWCC receiver, wire-ward of anything that delays packets.
pub const SLOT: usize = 8_500;
/// What the receive-side estimate starts at and is held within, bit/s.
const INITIAL_BPS: f64 = 300_000.0;
const MIN_BPS: f64 = 30_000.0;
const MAX_BPS: f64 = 20_000_000.0;

/// The interceptor (as [`super::stage::Staged`]). See the module documentation.
#[derive(Default)]
pub struct RembInterceptor {
    /// Remote streams that carry abs-send-time and no transport-wide numbers, by SSRC, with the
    /// extension's id.
    streams: HashMap<u32, u8>,
    /// One estimator for all of them: they share the path.
    bwe: Option<ReceiveSideBwe>,
}

impl RembInterceptor {
    fn remb(&mut self, now: Instant, belt: &mut Belt) {
        let Some(bwe) = self.bwe.as_mut() else { return };
        let Some(bps) = bwe.poll_remb(now) else { return };
        let remb = ReceiverEstimatedMaximumBitrate { sender_ssrc: 0, bitrate: bps as f32, ssrcs: self.streams.keys().copied().collect() };
        belt.outward(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(remb)])),
        });
    }
}

impl Stage for RembInterceptor {
    fn read(&mut self, msg: TaggedPacket, belt: &mut Belt) {
        if let Packet::Rtp(p) = &msg.message.packet {
            if let Some(&id) = self.streams.get(&p.header.ssrc) {
                if let Some(mut ext) = p.header.get_extension(id) {
                    if let Ok(abs) = AbsSendTimeExtension::unmarshal(&mut ext) {
                        let size = p.marshal_size();
                        self.bwe.get_or_insert_with(|| ReceiveSideBwe::new(INITIAL_BPS, MIN_BPS, MAX_BPS)).on_packet(msg.now, abs.timestamp as u32, size);
                        self.remb(msg.now, belt);
                    }
                }
            }
        }
        belt.inward(msg);
    }

    fn timeout(&mut self, now: Instant, belt: &mut Belt) {
        self.remb(now, belt);
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        self.bwe.as_ref().and_then(ReceiveSideBwe::next_remb)
    }

    fn bind_remote(&mut self, info: &StreamInfo) {
        let ext = |uri: &str| info.rtp_header_extensions.iter().find(|e| e.uri == uri && e.id > 0).map(|e| e.id as u8);
        if let (Some(abs), None) = (ext(ABS_SEND_TIME_URI), ext(TRANSPORT_CC_URI)) {
            self.streams.insert(info.ssrc, abs);
        }
    }

    fn unbind_remote(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
        if self.streams.is_empty() {
            self.bwe = None;
        }
    }
}
