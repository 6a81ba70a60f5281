//! An interceptor that lets the application see the RTCP it needs: sender reports (to map a
//! sender's RTP clock to its wall clock, for latency) and keyframe requests (PLI, FIR).
//! Everything else stays with the interceptors, as webrtc-rs intends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtc::interceptor::{Attribute, Packet, TaggedPacket};
use rtc::rtcp;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;

use super::stage::{Belt, Stage};

/// Where the tap sits: application-ward of every default interceptor.
pub const SLOT: usize = 12_000;

/// Marks the wanted inbound RTCP for the application (an interceptor as [`super::stage::Staged`]).
#[derive(Default)]
pub struct RtcpTap;

fn wanted(p: &dyn rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<SenderReport>() || any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Stage for RtcpTap {
    fn read(&mut self, mut msg: TaggedPacket, belt: &mut Belt) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if packets.iter().any(|p| wanted(p.as_ref())) {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        belt.inward(msg);
    }
}

/// Whether an RTCP compound asks for a keyframe.
pub fn asks_keyframe(packets: &[Box<dyn rtcp::Packet>]) -> bool {
    packets.iter().any(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
}

/// The media SSRCs a compound asks keyframes of.
pub fn keyframe_ssrcs(packets: &[Box<dyn rtcp::Packet>]) -> impl Iterator<Item = u32> + '_ {
    packets.iter().flat_map(|p| {
        let any = p.as_any();
        let pli = any.downcast_ref::<PictureLossIndication>().map(|p| p.media_ssrc);
        let fir = any.downcast_ref::<FullIntraRequest>().into_iter().flat_map(|f| f.fir.iter().map(|e| e.ssrc));
        pli.into_iter().chain(fir)
    })
}

/// The newest sender report's clock mapping: this RTP time was this wall-clock time at the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMap {
    pub ntp: u64,
    pub rtp: u32,
}

impl ClockMap {
    /// The mapping in a compound's sender report for `ssrc`, if any.
    pub fn from_rtcp(packets: &[Box<dyn rtcp::Packet>], ssrc: u32) -> Option<ClockMap> {
        packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<SenderReport>())
            .find(|sr| sr.ssrc == ssrc || ssrc == 0)
            .map(|sr| ClockMap { ntp: sr.ntp_time, rtp: sr.rtp_time })
    }

    /// The sender's wall-clock time of RTP time `rtp` at `clock_rate`.
    pub fn wall_clock(&self, rtp: u32, clock_rate: u32) -> SystemTime {
        let delta = rtp.wrapping_sub(self.rtp) as i32; // frames near the report, either side
        let at = ntp_to_system(self.ntp);
        let d = Duration::from_secs_f64(f64::from(delta.unsigned_abs()) / f64::from(clock_rate));
        if delta >= 0 { at + d } else { at - d }
    }
}

/// NTP (seconds since 1900 in the high 32 bits, fraction in the low) to system time.
pub fn ntp_to_system(ntp: u64) -> SystemTime {
    const NTP_TO_UNIX: u64 = 2_208_988_800;
    let secs = (ntp >> 32).saturating_sub(NTP_TO_UNIX);
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    UNIX_EPOCH + Duration::new(secs, nanos as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_times_map_to_wall_clock_either_side_of_the_report() {
        let unix = 1_700_000_000u64;
        let map = ClockMap { ntp: (unix + 2_208_988_800) << 32 | (1u64 << 31), rtp: 1000 };
        let at = map.wall_clock(1000, 90_000).duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((at - (unix as f64 + 0.5)).abs() < 1e-6);
        let later = map.wall_clock(1000 + 9000, 90_000).duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((later - at - 0.1).abs() < 1e-6);
        let earlier = map.wall_clock(1000u32.wrapping_sub(90_000), 90_000).duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((at - earlier - 1.0).abs() < 1e-6);
    }
}
