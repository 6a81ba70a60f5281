//! Negotiation with each participant: the hub always offers; an offer made while the last one
//! awaits its answer is made once that answer arrives. A participant that leaves an offer
//! unanswered for [`ANSWER_TIMEOUT`] is taken out of the call (its media could never flow, and
//! every later change to the room would wait on it).

use std::time::Instant;

use termcall_shared::media::glue::candidate_init;
use termcall_shared::Signal;
use tracing::{debug, info, warn};
use webrtc::peer_connection::RTCSessionDescription;

use termcall_shared::media::codecs::{self, VideoCodec};

use super::{Room, ANSWER_TIMEOUT};
use crate::core::ConnId;
use crate::sfu::SfuOut;

/// Remote candidates kept for a participant until its answer comes.
const EARLY_CANDIDATES: usize = 64;

impl Room {
    /// Sends a new offer to `conn`, or notes that one is due when its answer comes.
    pub(super) async fn negotiate(&mut self, conn: ConnId) {
        let Some(p) = self.participants.get_mut(&conn) else { return };
        if p.awaiting_answer.is_some() {
            p.again = true;
            return;
        }
        // Applying an answer resets a transceiver's preferences to the codecs it agreed to:
        // what the participant's own video is offered is set again before each offer.
        if let Err(e) = p.upload_video.set_codec_preferences(codecs::preferences(codecs::Repairs::InBand, &p.upload)).await {
            debug!(call = self.call_id, name = %p.name, "the codecs for its video stay as they were: {e}");
        }
        let result = async {
            let offer = p.pc.create_offer(None).await?;
            p.pc.set_local_description(offer.clone()).await?;
            // A browser sends its video as simulcast layers only if the offer asks (termcall
            // sends them unasked).
            let sdp = match p.upload_video.mid().await {
                Ok(Some(mid)) if p.ask_simulcast => termcall_shared::media::sdp::with_simulcast_recv(&offer.sdp, &mid, &termcall_shared::media::simulcast::RIDS).into_owned(),
                _ => offer.sdp,
            };
            anyhow::Ok(sdp)
        }
        .await;
        match result {
            Ok(sdp) => {
                tracing::trace!(call = self.call_id, name = %p.name, "offer:\n{sdp}");
                p.awaiting_answer = Some(Instant::now());
                p.again = false;
                self.signal(conn, Signal::Offer { sdp });
            }
            Err(e) => warn!(call = self.call_id, name = %p.name, "no offer: {e}"),
        }
    }

    pub(super) fn signal(&self, conn: ConnId, signal: Signal) {
        let _ = self.out.send(SfuOut::Signal { call_id: self.call_id, conn, signal });
    }

    pub(super) async fn on_signal(&mut self, conn: ConnId, signal: Signal) {
        let Some(p) = self.participants.get_mut(&conn) else { return };
        match signal {
            Signal::Answer { sdp } => {
                if p.awaiting_answer.is_none() {
                    return debug!(call = self.call_id, name = %p.name, "an answer to no offer: ignored");
                }
                // The video codecs it takes (its answer lists every one it has of those offered).
                let video = termcall_shared::media::sdp::video(&sdp);
                let takes: Vec<VideoCodec> = VideoCodec::ALL.into_iter().filter(|c| video.has(c.name())).collect();
                let takes_video = !takes.is_empty();
                if takes_video {
                    p.receiver.takes.store(super::super::codec::bits(&takes), std::sync::atomic::Ordering::Relaxed);
                    // Outlets made before we knew, in a codec it lacks: described in one it takes
                    // before its answer binds them.
                    for outlets in p.outlets.values_mut() {
                        if let Err(e) = outlets[1].describe_for(&takes).await {
                            debug!("describing an outlet: {e}");
                        }
                    }
                    p.takes = Some(takes);
                    p.sends = VideoCodec::first_in(&video.sent(), &VideoCodec::ALL);
                }
                // A browser's refused section carries credentials webrtc-rs would refuse it for.
                let sdp = termcall_shared::media::sdp::without_rejected_ice(&sdp).into_owned();
                let applied = match RTCSessionDescription::answer(sdp) {
                    Ok(answer) => p.pc.set_remote_description(answer).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                p.awaiting_answer = None;
                if let Err(e) = applied {
                    warn!(call = self.call_id, name = %p.name, "a bad answer: {e}");
                    // A change that waited for this answer still needs its offer.
                    if p.again {
                        self.negotiate(conn).await;
                    }
                    return;
                }
                if !takes_video {
                    self.refuse_video(conn).await;
                }
                self.choose_codec().await;
                let Some(p) = self.participants.get_mut(&conn) else { return };
                if !p.remote_set {
                    p.remote_set = true;
                    for init in std::mem::take(&mut p.early_candidates) {
                        if let Err(e) = p.pc.add_ice_candidate(init).await {
                            debug!("a remote candidate: {e}");
                        }
                    }
                }
                if p.again {
                    self.negotiate(conn).await;
                }
            }
            c @ Signal::Candidate { .. } => {
                let Some(init) = candidate_init(c) else { return };
                if p.remote_set {
                    if let Err(e) = p.pc.add_ice_candidate(init).await {
                        debug!("a remote candidate: {e}");
                    }
                } else if p.early_candidates.len() < EARLY_CANDIDATES {
                    p.early_candidates.push(init);
                }
            }
            Signal::RestartIce => {
                debug!(call = self.call_id, name = %p.name, "restarting ICE at the participant's request");
                if let Err(e) = p.pc.restart_ice().await {
                    return warn!("ICE restart: {e}");
                }
                self.negotiate(conn).await;
            }
            Signal::Offer { .. } => debug!(call = self.call_id, name = %p.name, "the hub makes the offers here: ignored"),
            Signal::EndOfCandidates => {}
            Signal::View { width, height, of } => self.on_view(conn, width, height, of),
            Signal::Simulcast { width, height } => {
                debug!(call = self.call_id, name = %p.name, width, height, "sends simulcast");
                p.upstream.full_size.store(u64::from(width) << 32 | u64::from(height), std::sync::atomic::Ordering::Relaxed);
            }
            Signal::Layers { .. } => debug!(call = self.call_id, name = %p.name, "the hub tells which layers are wanted: ignored"),
        }
    }

    /// Moves the room to the codec its participants now call for ([`super::super::codec`]), if
    /// that changed, and has every participant send in it: its offer puts the room's codec
    /// first, or offers only that one to a participant that takes it but chose another (a
    /// browser keeps its own order). Those whose offer changes are offered again.
    pub(super) async fn choose_codec(&mut self) {
        let codec = super::super::codec::room_codec(self.participants.values().map(|p| p.takes.as_deref()));
        if codec != self.codec {
            info!(call = self.call_id, from = %self.codec, to = %codec, "the room's video codec changes: not everyone takes the old one");
            self.codec = codec;
        }
        let conns: Vec<ConnId> = self.participants.keys().copied().collect();
        for conn in conns {
            let Some(p) = self.participants.get_mut(&conn) else { continue };
            if let Some(takes) = p.takes.as_deref().filter(|t| !t.contains(&codec)) {
                if !std::mem::replace(&mut p.told_no_common, true) {
                    let takes: Vec<&str> = takes.iter().map(|c| c.name()).collect();
                    warn!(call = self.call_id, name = %p.name, "no common video codec with the room: it takes {}, most others only {codec}; it gets audio and chat, and video from whoever sends what it takes", takes.join(", "));
                }
            } else {
                p.told_no_common = false;
            }
            let wanted = super::super::codec::upload(codec, p.takes.as_deref(), p.sends, &p.upload);
            if wanted == p.upload {
                continue;
            }
            debug!(call = self.call_id, name = %p.name, ?wanted, "offering its video these codecs");
            p.upload = wanted;
            self.negotiate(conn).await;
        }
    }

    /// `conn` answered with no video section it can take (no codec in common: a browser
    /// without H.264 rejects every one). Its connection then negotiates no video codec at all,
    /// so a video sender left on it would make every later offer fail ("RTPSender created with
    /// no codecs"), and with it the audio of whoever joins next. Its video tracks come off
    /// (their sections are offered as rejected from now on), nothing is forwarded into them,
    /// and later ones come off as they are made ([`super::outlets::outlets`]). Audio and chat go on.
    async fn refuse_video(&mut self, conn: ConnId) {
        let Some(p) = self.participants.get_mut(&conn) else { return };
        if p.no_video {
            return;
        }
        p.no_video = true;
        warn!(call = self.call_id, name = %p.name, "no common video codec: it refused every video section, and gets audio and chat");
        let pc = p.pc.clone();
        let tracks: Vec<(ConnId, _, _)> = p.outlets.iter().map(|(&s, [_, video])| (s, video.sender.clone(), video.track.clone())).collect();
        for (sender, rtp_sender, track) in tracks {
            if let Err(e) = pc.remove_track(&rtp_sender).await {
                debug!("removing a refused video track: {e}");
            }
            // The sender (in echo, itself) forwards no more into it.
            if let Some(source) = self.participants.get(&sender) {
                source.upstream.remove(&[track]);
            }
        }
    }

    /// `conn` shows at most `width`x`height` of `of`'s video (of everyone's without `of`).
    fn on_view(&mut self, conn: ConnId, width: u32, height: u32, of: Option<String>) {
        if width == 0 || height == 0 {
            return debug!(call = self.call_id, "an empty view: ignored");
        }
        // Only senders in the room (echo: the participant itself): what is kept stays as
        // small as the room.
        let named = |c: &ConnId| match &of {
            None => true,
            Some(name) => self.participants.get(c).is_some_and(|s| &s.name == name) || (self.echo && *c == conn),
        };
        let Some(p) = self.participants.get(&conn) else { return };
        let senders: Vec<ConnId> = p.outlets.keys().copied().filter(named).collect();
        let Some(p) = self.participants.get_mut(&conn) else { return };
        match &of {
            None => {
                p.views.each.clear();
                p.views.all = Some((width, height));
            }
            Some(name) if !senders.is_empty() => {
                p.views.each.insert(name.clone(), (width, height));
            }
            Some(name) => return debug!(call = self.call_id, "a view of {name}, who sends nothing here: ignored"),
        }
        let Some(p) = self.participants.get(&conn) else { return };
        for s in senders {
            if let Some([_, video]) = p.outlets.get(&s) {
                video.down.set_view(width, height);
            }
        }
    }

    /// Takes out the participants whose offer has waited too long; true if any were.
    pub(super) async fn expire_offers(&mut self, now: Instant) -> bool {
        let late: Vec<ConnId> = self
            .participants
            .iter()
            .filter(|(_, p)| p.awaiting_answer.is_some_and(|at| now.saturating_duration_since(at) >= ANSWER_TIMEOUT))
            .map(|(c, _)| *c)
            .collect();
        for &conn in &late {
            if let Some(p) = self.participants.get(&conn) {
                warn!(call = self.call_id, name = %p.name, "no answer to the hub's offer in {} s: taken out of the call", ANSWER_TIMEOUT.as_secs());
            }
            self.leave(conn).await;
            let why = format!("your client did not answer the hub's media offer within {} s", ANSWER_TIMEOUT.as_secs());
            let _ = self.out.send(SfuOut::Failed { call_id: self.call_id, conn, why });
        }
        !late.is_empty()
    }
}
