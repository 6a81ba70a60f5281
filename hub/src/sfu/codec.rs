//! Which video codec a room's media goes in, without I/O. Every participant should receive
//! every stream in a codec it decodes, and the hub never transcodes: so the room has one
//! codec, the first of the hub's (H.264, then VP8) that every participant takes. A
//! participant who joins without it (Firefox without OpenH264 takes VP8 only) moves the room to
//! the next one, and every sender is offered that one first again. If no codec suits everyone
//! (a terminal user limited to H.264 beside such a Firefox), the room keeps the one most
//! participants take, and those who cannot decode a stream are not sent it.

use termcall_shared::media::codecs::VideoCodec;

/// The room's codec, given the codecs each participant takes (`None`: not known yet, or it
/// takes no video at all; either way it does not count).
pub fn room_codec<'a>(takes: impl Iterator<Item = Option<&'a [VideoCodec]>> + Clone) -> VideoCodec {
    let known = takes.filter_map(|t| t.filter(|t| !t.is_empty()));
    let count = |c: VideoCodec| known.clone().filter(|t| t.contains(&c)).count();
    let everyone = known.clone().count();
    if let Some(c) = VideoCodec::ALL.into_iter().find(|c| count(*c) == everyone) {
        return c;
    }
    // No codec for everyone: the one most take (the earlier of equals).
    VideoCodec::ALL.into_iter().rev().max_by_key(|c| count(*c)).unwrap_or(VideoCodec::H264)
}

/// The hub's codecs with `first` first: what a section offers when `first` is wanted.
pub fn ordered(first: VideoCodec) -> Vec<VideoCodec> {
    std::iter::once(first).chain(VideoCodec::ALL.into_iter().filter(|c| *c != first)).collect()
}

/// The codecs to offer a participant for its own video, in order, given the room's `codec`,
/// what it `takes` and `sends` (from its last answer) and what it is offered `now`: only the
/// room's codec when it takes it but chose another (browsers answer in their own order);
/// else every codec, the room's first; else no change. Never a codec it is known not to take
/// (webrtc-rs refuses, once a connection has negotiated, preferences beyond what it agreed to).
pub fn upload(codec: VideoCodec, takes: Option<&[VideoCodec]>, sends: Option<VideoCodec>, now: &[VideoCodec]) -> Vec<VideoCodec> {
    let known = takes.filter(|t| !t.is_empty());
    let allowed = |list: Vec<VideoCodec>| -> Vec<VideoCodec> {
        match known {
            Some(t) => list.into_iter().filter(|c| t.contains(c)).collect(),
            None => list,
        }
    };
    if known.is_some_and(|t| t.contains(&codec)) && sends.is_some_and(|s| s != codec) {
        return vec![codec];
    }
    if now.first() == Some(&codec) {
        return allowed(now.to_vec());
    }
    allowed(ordered(codec))
}

/// A set of codecs as bits (`1 << code`), kept in an atomic a forwarding loop reads per packet.
pub fn bits(codecs: &[VideoCodec]) -> u8 {
    codecs.iter().fold(0, |b, c| b | 1 << c.code())
}

/// Whether a set from [`bits`] holds `codec`; an empty set (not known yet) holds every codec.
pub fn holds(bits: u8, codec: VideoCodec) -> bool {
    bits == 0 || bits & (1 << codec.code()) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use VideoCodec::{H264, Vp8};

    fn room(of: &[Option<&[VideoCodec]>]) -> VideoCodec {
        room_codec(of.iter().copied())
    }

    #[test]
    fn the_first_codec_everyone_takes() {
        assert_eq!(room(&[]), H264, "an empty room");
        assert_eq!(room(&[Some(&[H264, Vp8]), Some(&[Vp8, H264])]), H264, "the hub's order, not theirs");
        assert_eq!(room(&[Some(&[H264, Vp8]), Some(&[Vp8])]), Vp8, "Firefox without OpenH264 joins");
        assert_eq!(room(&[Some(&[H264, Vp8]), None, Some(&[])]), H264, "unknown and video-less do not count");
    }

    #[test]
    fn without_a_codec_for_everyone_the_one_most_take() {
        assert_eq!(room(&[Some(&[H264]), Some(&[H264]), Some(&[Vp8])]), H264);
        assert_eq!(room(&[Some(&[H264]), Some(&[Vp8]), Some(&[Vp8])]), Vp8);
        assert_eq!(room(&[Some(&[H264]), Some(&[Vp8])]), H264, "a tie: the hub's first");
    }

    #[test]
    fn a_participant_is_offered_the_rooms_codec_first_and_alone_when_it_chose_another() {
        // Joined an H.264 room, takes both, sends H.264: nothing to change.
        assert_eq!(upload(H264, Some(&[H264, Vp8]), Some(H264), &[H264, Vp8]), [H264, Vp8]);
        // The room moves to VP8 (Firefox joined): the room's first.
        assert_eq!(upload(Vp8, Some(&[H264, Vp8]), Some(H264), &[H264, Vp8]), [Vp8]);
        assert_eq!(upload(Vp8, None, None, &[H264, Vp8]), [Vp8, H264], "not known yet");
        // A browser that answered [VP8-first offer] with H.264 first: VP8 alone.
        assert_eq!(upload(Vp8, Some(&[H264, Vp8]), Some(H264), &[Vp8, H264]), [Vp8]);
        // One that sends VP8 already keeps its offer; one that lacks the room's codec keeps its own.
        assert_eq!(upload(Vp8, Some(&[Vp8, H264]), Some(Vp8), &[Vp8, H264]), [Vp8, H264]);
        assert_eq!(upload(Vp8, Some(&[H264]), Some(H264), &[H264, Vp8]), [H264]);
        // Firefox, which takes VP8 alone: never offered H.264 again.
        assert_eq!(upload(Vp8, Some(&[Vp8]), Some(Vp8), &[H264, Vp8]), [Vp8]);
        assert_eq!(upload(H264, Some(&[Vp8]), Some(Vp8), &[Vp8]), [Vp8]);
    }

    #[test]
    fn sets_and_orders() {
        assert_eq!(ordered(Vp8), [Vp8, H264]);
        assert_eq!(ordered(H264), [H264, Vp8]);
        let b = bits(&[Vp8]);
        assert!(holds(b, Vp8) && !holds(b, H264));
        assert!(holds(0, H264), "not known yet: everything");
    }
}
