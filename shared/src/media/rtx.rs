//! Retransmissions made whole before the NACK generator sees them. webrtc-rs turns an RTX
//! packet (RFC 4588: the repaired packet's sequence number first in the payload, on a stream of
//! its own) back into the packet it repairs only at the application end of the chain, so its
//! NACK generator never learns that the repair came and asks again, every 30 ms, ten times over:
//! for every lost packet ten retransmissions cross a link that is short of room already. This
//! interceptor, wire-ward of the generator, restores the original packet (its SSRC, payload
//! type and sequence number; extensions and timestamp as they are) the moment it arrives.

use std::collections::HashMap;

use rtc::interceptor::{Packet, StreamInfo, TaggedPacket};

use super::stage::{Belt, Stage};

/// Where it sits: after FEC recovery, before the NACK generator.
pub const SLOT: usize = 6_500;

/// The interceptor (as [`super::stage::Staged`]). See the module documentation.
#[derive(Default)]
pub struct RtxUnwrap {
    /// RTX SSRC → (the repaired stream's SSRC, its payload type).
    repairs: HashMap<u32, (u32, u8)>,
}

/// Restores the repaired packet in place; false (and the packet untouched) when it carries no
/// original sequence number (padding, a probe).
pub fn unwrap(p: &mut rtc::rtp::Packet, ssrc: u32, payload_type: u8) -> bool {
    if p.payload.len() < 2 {
        return false;
    }
    let osn = u16::from_be_bytes([p.payload[0], p.payload[1]]);
    p.payload = p.payload.slice(2..);
    p.header.ssrc = ssrc;
    p.header.payload_type = payload_type;
    p.header.sequence_number = osn;
    true
}

impl Stage for RtxUnwrap {
    fn read(&mut self, mut msg: TaggedPacket, belt: &mut Belt) {
        if let Packet::Rtp(p) = &mut msg.message.packet {
            if let Some(&(ssrc, pt)) = self.repairs.get(&p.header.ssrc) {
                unwrap(p, ssrc, pt);
            }
        }
        belt.inward(msg);
    }

    fn bind_remote(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.repairs.insert(rtx, (info.ssrc, info.payload_type));
        }
    }

    fn unbind_remote(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.repairs.remove(&rtx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rtx_packet_becomes_the_packet_it_repairs() {
        let mut p = rtc::rtp::Packet::default();
        p.header.ssrc = 99;
        p.header.payload_type = 103;
        p.header.sequence_number = 7;
        p.header.timestamp = 1234;
        p.header.marker = true;
        p.payload = bytes::Bytes::from_static(&[0x01, 0x02, 0xAA, 0xBB]);
        assert!(unwrap(&mut p, 5, 102));
        assert_eq!((p.header.ssrc, p.header.payload_type, p.header.sequence_number), (5, 102, 0x0102));
        assert_eq!((p.header.timestamp, p.header.marker), (1234, true));
        assert_eq!(&p.payload[..], &[0xAA, 0xBB]);
        let mut probe = rtc::rtp::Packet::default();
        probe.payload = bytes::Bytes::from_static(&[0x01]);
        assert!(!unwrap(&mut probe, 5, 102), "padding carries nothing to restore");
    }
}
