//! Simulcast on the wire, as the client sends it and the hub reads it: the layers' RIDs and
//! sizes, the MID and RID header extensions every layer packet carries (the hub's WebRTC stack
//! binds a layer's SSRC from them, again after each renegotiation), and how the hub sees that a
//! packet starts an H.264 or VP8 keyframe, where a receiver may switch layers.

/// The RIDs of the layers, from the smallest: a quarter, a half and the full size.
pub const RIDS: [&str; 3] = ["q", "h", "f"];

/// The layer a RID names (0 is the smallest), if it is one of ours.
pub fn layer_of(rid: &str) -> Option<usize> {
    RIDS.iter().position(|r| *r == rid)
}

/// The size of layer `layer` of a `width`x`height` picture: halved per step down, even, at
/// least 16x16 (what the encoder takes).
pub fn layer_size(width: u32, height: u32, layer: usize) -> (u32, u32) {
    let shift = (RIDS.len() - 1).saturating_sub(layer) as u32;
    let even = |v: u32| ((v >> shift).max(16)) & !1;
    (even(width), even(height))
}

/// Whether an H.264 RTP payload (RFC 6184) starts a keyframe: an IDR slice or a sequence
/// parameter set, alone (single NAL unit), first in an aggregate (STAP-A), or at the start of
/// a fragmented unit (FU-A).
pub fn h264_keyframe_start(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    let key = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    let Some(&first) = payload.first() else { return false };
    match first & 0x1f {
        24 => {
            // STAP-A: 16-bit sizes, each followed by a NAL unit.
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(&nal) = rest.get(2) else { return false };
                if size > 0 && key(nal & 0x1f) {
                    return true;
                }
                rest = rest.get(2 + size..).unwrap_or(&[]);
            }
            false
        }
        28 => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && key(fu & 0x1f)),
        t => key(t),
    }
}

/// Whether a VP8 RTP payload (RFC 7741) starts a keyframe: the first packet of a frame (S set,
/// partition 0) whose VP8 payload header has the key-frame bit (P) clear.
pub fn vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else { return false };
    let (extended, start, partition) = (first & 0x80 != 0, first & 0x10 != 0, first & 0x07);
    if !start || partition != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&x) = payload.get(1) else { return false };
        at = 2;
        if x & 0x80 != 0 {
            // The picture ID: 15 bits when its first bit (M) is set, else 7.
            let Some(&pid) = payload.get(at) else { return false };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID, Y, KEYIDX
        }
    }
    payload.get(at).is_some_and(|header| header & 0x01 == 0)
}

/// Whether an RTP payload of `codec` starts a keyframe (where a receiver may start or switch).
pub fn keyframe_start(codec: super::codecs::VideoCodec, payload: &[u8]) -> bool {
    match codec {
        super::codecs::VideoCodec::H264 => h264_keyframe_start(payload),
        super::codecs::VideoCodec::Vp8 => vp8_keyframe_start(payload),
    }
}

/// Whether an H.264 access unit in Annex B form (start codes, as the depacketizer makes it)
/// holds an IDR slice: a decoder can start there.
pub fn annexb_keyframe(au: &[u8]) -> bool {
    au.windows(4).any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_seen_in_every_packetization() {
        assert!(h264_keyframe_start(&[0x65, 1, 2]), "a single IDR slice");
        assert!(h264_keyframe_start(&[0x67, 1, 2]), "a single SPS");
        assert!(!h264_keyframe_start(&[0x41, 1, 2]), "a P slice");
        // STAP-A of SPS and PPS, as libwebrtc and webrtc-rs send them before an IDR.
        assert!(h264_keyframe_start(&[0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce]));
        assert!(!h264_keyframe_start(&[0x78, 0, 2, 0x06, 0x00, 0, 2, 0x41, 0x9a]), "SEI and a P slice");
        assert!(!h264_keyframe_start(&[0x78, 0, 9, 0x41]), "a size past the end is no crash");
        assert!(!h264_keyframe_start(&[0x78, 0]));
        // FU-A: start bit and IDR type; a middle fragment is not a start.
        assert!(h264_keyframe_start(&[0x7c, 0x85, 1]));
        assert!(!h264_keyframe_start(&[0x7c, 0x05, 1]));
        assert!(!h264_keyframe_start(&[0x7c, 0x81, 1]), "the start of a P slice");
        assert!(!h264_keyframe_start(&[]));
        assert!(!h264_keyframe_start(&[0x7c]));
    }

    #[test]
    fn vp8_keyframes_are_seen_with_and_without_the_extended_descriptor() {
        // S=1, partition 0, no extension; payload header with P=0 (key) or 1 (delta).
        assert!(vp8_keyframe_start(&[0x10, 0x50, 0x21, 0x00]));
        assert!(!vp8_keyframe_start(&[0x10, 0x51, 0x21, 0x00]));
        // X, I with a 15-bit picture ID (M set), L and T/K: four more bytes before the header.
        assert!(vp8_keyframe_start(&[0x90, 0xF0, 0x80 | 0x12, 0x34, 0x07, 0x20, 0x50]));
        assert!(!vp8_keyframe_start(&[0x90, 0xF0, 0x80 | 0x12, 0x34, 0x07, 0x20, 0x51]));
        // A 7-bit picture ID only.
        assert!(vp8_keyframe_start(&[0x90, 0x80, 0x05, 0x50]));
        // Not the start of a frame, another partition, or cut short: no.
        assert!(!vp8_keyframe_start(&[0x00, 0x50]));
        assert!(!vp8_keyframe_start(&[0x11, 0x50]));
        assert!(!vp8_keyframe_start(&[0x90, 0x80]));
        assert!(!vp8_keyframe_start(&[0x90]));
        assert!(!vp8_keyframe_start(&[]));
    }

    #[test]
    fn an_access_unit_with_an_idr_slice_is_a_keyframe() {
        assert!(annexb_keyframe(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 9]));
        assert!(!annexb_keyframe(&[0, 0, 0, 1, 0x41, 9, 9]));
        assert!(!annexb_keyframe(&[0x65]), "no start code");
        assert!(!annexb_keyframe(&[]));
    }

    #[test]
    fn layer_sizes_halve_down_from_the_full_one() {
        assert_eq!(layer_size(640, 480, 2), (640, 480));
        assert_eq!(layer_size(640, 480, 1), (320, 240));
        assert_eq!(layer_size(640, 480, 0), (160, 120));
        assert_eq!(layer_size(100, 50, 0), (24, 16), "even, and at least 16");
        assert_eq!(layer_of("h"), Some(1));
        assert_eq!(layer_of("x"), None);
    }
}
