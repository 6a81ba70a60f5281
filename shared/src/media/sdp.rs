//! What a session description says about its video: the codecs each video section offers or
//! accepts, and whether the section was rejected (port 0). Read before negotiating, so that a
//! peer with no video codec in common (Firefox without OpenH264 offers VP8, VP9 and AV1 only)
//! makes a call with audio and chat rather than a failed one.

/// What the video sections of an SDP hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Video {
    /// Video sections not rejected (port other than 0).
    pub open: usize,
    /// Codec names in the open sections (`rtpmap` encoding names, upper case), in order, once each.
    pub codecs: Vec<String>,
    /// The same, of the open sections in which the SDP's author receives (`sendrecv`,
    /// `recvonly`, or no direction): what it takes, and so what may be sent to it.
    pub receiving: Vec<String>,
    /// The same, of the open sections in which the author sends (`sendrecv`, `sendonly`):
    /// what it may send in.
    pub sending: Vec<String>,
}

impl Video {
    /// Whether an open video section offers or accepts `codec` (`H264`, `VP8`...).
    pub fn has(&self, codec: &str) -> bool {
        self.codecs.iter().any(|c| c.eq_ignore_ascii_case(codec))
    }

    /// The codecs a person would care about: without retransmission and repair formats.
    pub fn media_codecs(&self) -> Vec<&str> {
        self.codecs.iter().map(String::as_str).filter(|c| !matches!(*c, "RTX" | "RED" | "ULPFEC" | "FLEXFEC-03")).collect()
    }

    /// Only the sections in which the author receives, as a [`Video`] of their own.
    pub fn received(&self) -> Video {
        Video { open: self.open, codecs: self.receiving.clone(), receiving: self.receiving.clone(), sending: Vec::new() }
    }

    /// Only the sections in which the author sends, as a [`Video`] of their own.
    pub fn sent(&self) -> Video {
        Video { open: self.open, codecs: self.sending.clone(), receiving: Vec::new(), sending: self.sending.clone() }
    }
}

/// The video sections of `sdp`.
pub fn video(sdp: &str) -> Video {
    let mut v = Video::default();
    // The open video section being read: its codecs and direction (sendrecv unless it says).
    let mut section: Option<(Vec<String>, &str)> = None;
    let close = |v: &mut Video, section: Option<(Vec<String>, &str)>| {
        let Some((codecs, direction)) = section else { return };
        let add = |list: &mut Vec<String>, names: &[String]| {
            for n in names {
                if !list.contains(n) {
                    list.push(n.clone());
                }
            }
        };
        add(&mut v.codecs, &codecs);
        if matches!(direction, "sendrecv" | "recvonly") {
            add(&mut v.receiving, &codecs);
        }
        if matches!(direction, "sendrecv" | "sendonly") {
            add(&mut v.sending, &codecs);
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            close(&mut v, section.take());
            let mut fields = m.split_whitespace();
            let (kind, port) = (fields.next(), fields.next());
            if kind == Some("video") && port.is_some_and(|p| p.split('/').next() != Some("0")) {
                v.open += 1;
                section = Some((Vec::new(), "sendrecv"));
            }
        } else if let Some((codecs, direction)) = section.as_mut() {
            if let Some(d) = line.strip_prefix("a=").filter(|d| matches!(*d, "sendrecv" | "sendonly" | "recvonly" | "inactive")) {
                *direction = d;
                continue;
            }
            // a=rtpmap:<pt> <name>/<clock>[/<channels>]
            let Some(map) = line.strip_prefix("a=rtpmap:") else { continue };
            let Some(name) = map.split_whitespace().nth(1).and_then(|n| n.split('/').next()) else { continue };
            let name = name.to_ascii_uppercase();
            if !codecs.contains(&name) {
                codecs.push(name);
            }
        }
    }
    close(&mut v, section);
    v
}

/// `sdp` without the ICE credentials of its rejected (port 0) sections. Chromium gives a
/// section it rejects credentials of its own, which no transport uses; webrtc-rs takes them
/// for conflicting ones and refuses the whole description ("multiple conflicting ice-ufrag
/// values"), so that a call with a refused video section would fail.
pub fn without_rejected_ice(sdp: &str) -> std::borrow::Cow<'_, str> {
    let mut rejected = false;
    let mut changed = false;
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let bare = line.trim_end();
        if let Some(m) = bare.strip_prefix("m=") {
            rejected = m.split_whitespace().nth(1).is_some_and(|p| p.split('/').next() == Some("0"));
        } else if rejected && (bare.starts_with("a=ice-ufrag:") || bare.starts_with("a=ice-pwd:")) {
            changed = true;
            continue;
        }
        out.push_str(line);
    }
    if changed { std::borrow::Cow::Owned(out) } else { std::borrow::Cow::Borrowed(sdp) }
}

/// `sdp` (an offer) asking for simulcast in the section `mid`: an `a=rid:<id> recv` line per
/// RID of `rids` (the layers' RIDs, from the smallest: `q`, `h`, `f`) and `a=simulcast:recv
/// q;h;f`, so that a browser answering
/// it sends its video there as those three layers (Chromium and Firefox send simulcast as
/// answerers only when the offer asks). webrtc-rs writes no such lines in an offer of its own;
/// it binds the layers from the answer and from the RID header extension. A section that asks
/// already, or no section `mid`, leaves `sdp` as it is.
pub fn with_simulcast_recv<'a>(sdp: &'a str, mid: &str, rids: &[&str]) -> std::borrow::Cow<'a, str> {
    let mut out = String::with_capacity(sdp.len() + 100);
    let (mut in_section, mut asks, mut added) = (false, false, false);
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let section_end = |out: &mut String, in_section: bool, asks: bool, added: &mut bool| {
        if in_section && !asks && !*added {
            for rid in rids {
                out.push_str(&format!("a=rid:{rid} recv{eol}"));
            }
            out.push_str(&format!("a=simulcast:recv {}{eol}", rids.join(";")));
            *added = true;
        }
    };
    for line in sdp.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare.starts_with("m=") {
            section_end(&mut out, in_section, asks, &mut added);
            (in_section, asks) = (false, false);
        } else if bare.strip_prefix("a=mid:") == Some(mid) {
            in_section = true;
        } else if bare.starts_with("a=simulcast:") {
            asks = true;
        }
        out.push_str(line);
    }
    section_end(&mut out, in_section, asks, &mut added);
    if added { std::borrow::Cow::Owned(out) } else { std::borrow::Cow::Borrowed(sdp) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIDS: [&str; 3] = ["q", "h", "f"];

    #[test]
    fn an_offer_asks_for_simulcast_in_one_section_once() {
        let offer = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\na=recvonly\r\n\
            m=video 9 X 102\r\na=mid:1\r\na=recvonly\r\na=rtpmap:102 H264/90000\r\n\
            m=video 9 X 102\r\na=mid:2\r\na=sendonly\r\n";
        let asked = with_simulcast_recv(offer, "1", &RIDS);
        let sections: Vec<&str> = asked.split("m=").collect();
        assert!(sections[2].ends_with("a=rtpmap:102 H264/90000\r\na=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n"), "{asked}");
        assert!(!sections[1].contains("rid") && !sections[3].contains("rid"), "{asked}");
        // The last section, and LF line ends.
        let last = with_simulcast_recv("m=audio 9 X 111\na=mid:a\nm=video 9 X 96\na=mid:v\n", "v", &RIDS).into_owned();
        assert!(last.ends_with("a=mid:v\na=rid:q recv\na=rid:h recv\na=rid:f recv\na=simulcast:recv q;h;f\n"), "{last}");
        // Asked already, or no such section: unchanged.
        assert!(matches!(with_simulcast_recv(&asked, "1", &RIDS), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(with_simulcast_recv(offer, "7", &RIDS), std::borrow::Cow::Borrowed(_)));
    }

    const FIREFOX_OFFER: &str = "v=0\r\no=mozilla 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 109 0\r\na=fmtp:109 maxplaybackrate=48000\r\na=rtpmap:109 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 99\r\na=fmtp:120 max-fs=12288\r\na=rtpmap:120 VP8/90000\r\na=rtpmap:124 rtx/90000\r\n\
        a=rtpmap:121 VP9/90000\r\na=rtpmap:125 rtx/90000\r\na=rtpmap:99 AV1/90000\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

    #[test]
    fn a_firefox_offer_without_openh264_has_no_h264() {
        let v = video(FIREFOX_OFFER);
        assert_eq!(v.open, 1);
        assert_eq!(v.codecs, ["VP8", "RTX", "VP9", "AV1"]);
        assert!(v.has("vp8") && !v.has("H264"));
        assert_eq!(v.media_codecs(), ["VP8", "VP9", "AV1"]);
    }

    #[test]
    fn directions_say_which_codecs_the_author_receives_and_which_it_sends() {
        // The hub's offer: the participant's own media comes in on a recvonly section; another
        // participant's VP8 goes out on a sendonly one.
        let offer = "m=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\n\
            m=video 9 X 102 96\r\na=recvonly\r\na=rtpmap:102 H264/90000\r\na=rtpmap:96 VP8/90000\r\n\
            m=video 9 X 96\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n\
            m=video 0 X 98\r\na=rtpmap:98 AV1/90000\r\n";
        let v = video(offer);
        assert_eq!((v.open, v.codecs.as_slice()), (2, &["H264".to_owned(), "VP8".to_owned()][..]));
        assert_eq!(v.receiving, ["H264", "VP8"], "the recvonly section");
        assert_eq!(v.sending, ["VP8"], "the sendonly section");
        assert!(v.received().has("H264") && !v.sent().has("H264"));
        // No direction is sendrecv: both.
        let plain = video(FIREFOX_OFFER);
        assert_eq!((plain.receiving.len(), plain.sending.len()), (4, 4));
    }

    #[test]
    fn a_rejected_sections_credentials_go_and_nothing_else() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:SzcZ\r\na=ice-pwd:one\r\na=mid:0\r\n\
            m=video 0 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:3ojS\r\na=ice-pwd:two\r\na=mid:1\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:SzcZ\r\na=ice-pwd:one\r\n";
        let fixed = without_rejected_ice(answer);
        assert!(!fixed.contains("3ojS") && !fixed.contains("ice-pwd:two"), "{fixed}");
        assert_eq!(fixed.matches("a=ice-ufrag:SzcZ\r\n").count(), 2);
        assert!(fixed.contains("m=video 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\n"), "{fixed}");
        assert!(matches!(without_rejected_ice("m=audio 9 X 1\na=ice-ufrag:a\n"), std::borrow::Cow::Borrowed(_)), "untouched");
    }

    #[test]
    fn a_rejected_section_offers_nothing() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\n";
        assert_eq!(video(answer), Video::default());
        let accepted = "m=video 9 UDP/TLS/RTP/SAVPF 102\na=rtpmap:102 H264/90000\n";
        assert!(video(accepted).has("H264"));
        assert_eq!(video("").open, 0);
        assert_eq!(video("m=video\na=rtpmap:\na=rtpmap:1\n"), Video::default());
    }
}
