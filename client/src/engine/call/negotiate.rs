//! Negotiation and recovery: the other side's offers, answers and candidates (candidates that
//! come before their description wait for it), and ICE restarts when the media path is lost.

use std::time::{Duration, Instant};

use termcall_shared::media::sdp;
use termcall_shared::Signal;
use tracing::{debug, warn};
use webrtc::peer_connection::RTCSessionDescription;

use super::{Call, CallOut};
use crate::engine::peer::candidate_init;
use crate::media::video_codec::VideoCodec;

/// Our codecs, as a person reads them: "H.264 or VP8".
fn ours(codecs: &[VideoCodec]) -> String {
    codecs.iter().map(|c| if *c == VideoCodec::H264 { "H.264" } else { c.name() }).collect::<Vec<_>>().join(" or ")
}

/// How long a call may go without media before it is given up.
const RECOVER_DEADLINE: Duration = Duration::from_secs(30);
/// How long the offerer waits on one ICE restart before it tries another.
const RESTART_RETRY: Duration = Duration::from_secs(5);

/// A connected call whose media stopped: since when, and the offerer's last ICE restart.
pub(super) struct Recovery {
    lost_at: Instant,
    restarted_at: Option<Instant>,
}

impl Call<'_> {
    pub(super) async fn on_remote_signal(&mut self, s: Signal) -> anyhow::Result<()> {
        match s {
            Signal::Offer { sdp } => {
                // Our video goes in the offer's first codec we have. None in common (Firefox
                // without OpenH264 offers VP8, VP9 and AV1; `--video-codec h264` takes only
                // H.264): answer the section rejected, and go on with audio and chat.
                let video = sdp::video(&sdp);
                // What the peer takes (the hub's offer also carries others' media it sends us).
                let takes = video.received();
                let first_common = VideoCodec::first_in(&takes, &self.media.video_codecs);
                let mut switch = None;
                if self.tracks.is_none() {
                    match first_common {
                        Some(codec) => self.video_codec = codec,
                        None => {
                            let ours = ours(&self.media.video_codecs);
                            self.refuse_video(video.open > 0, || format!("it offers {}; we have {ours}. Audio and chat go on", takes.media_codecs().join(", ")));
                        }
                    }
                } else if let Some(codec) = first_common.filter(|c| *c != self.video_codec && !self.no_video) {
                    // A new offer that puts another codec first (the hub does, when someone
                    // joins who cannot decode the room's codec): our video follows it.
                    switch = Some(codec);
                }
                let sdp = sdp::without_rejected_ice(&sdp).into_owned();
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| anyhow::anyhow!("the peer's offer is not valid SDP: {e}"))?;
                self.pc.set_remote_description(offer).await?;
                self.remote_description_set().await;
                // Answer with our tracks in the transceivers the offer made.
                self.add_tracks().await?;
                let answer = self.pc.create_answer(None).await?;
                self.pc.set_local_description(answer.clone()).await?;
                self.report(CallOut::Signal(Signal::Answer { sdp: answer.sdp }));
                if let Some(codec) = switch {
                    self.switch_video_codec(codec).await?;
                }
            }
            Signal::Answer { sdp } => {
                let video = sdp::video(&sdp);
                // The answer's first codec is the one our video goes in: describe our track in
                // it before the answer binds the sender (only before we send: later answers,
                // to ICE restarts, keep the codec).
                let chosen = VideoCodec::first_in(&video.received(), &self.media.video_codecs);
                if let (Some(codec), Some(tracks), None) = (chosen, &self.tracks, &self.sending) {
                    if codec != self.video_codec {
                        tracks.video_in(codec).await?;
                        self.video_codec = codec;
                    }
                }
                // A refused section's own credentials would make webrtc-rs refuse the answer.
                let sdp = sdp::without_rejected_ice(&sdp).into_owned();
                let answer = RTCSessionDescription::answer(sdp).map_err(|e| anyhow::anyhow!("the peer's answer is not valid SDP: {e}"))?;
                if let Err(e) = self.pc.set_remote_description(answer).await {
                    // The first answer is vital; a late one to an ICE restart offer is not.
                    if !self.remote_set {
                        return Err(e.into());
                    }
                    warn!(call = self.id, "ignoring an answer that does not fit: {e}");
                    return Ok(());
                }
                // Our video refused (its section rejected, or none of our codecs in it): send none.
                let offered_video = self.tracks.as_ref().is_some_and(|t| t.video.is_some());
                if offered_video && !self.no_video && chosen.is_none() {
                    let ours = ours(&self.media.video_codecs);
                    self.refuse_video(true, || format!("it refused our video ({ours}). Audio and chat go on"));
                }
                self.remote_description_set().await;
            }
            Signal::RestartIce if self.offerer && self.connected => {
                debug!(call = self.id, "the peer lost media: restarting ICE");
                self.lose_media();
                self.restart_ice().await;
            }
            Signal::RestartIce => debug!(call = self.id, "ignoring a restart request: not the offerer, or not connected yet"),
            Signal::View { width, height, .. } => {
                debug!(call = self.id, width, height, "the other side shows at most this");
                self.controls.set_view(width, height);
            }
            Signal::Layers { wanted } => {
                debug!(call = self.id, ?wanted, "simulcast layers someone receives");
                self.controls.set_layers(wanted);
            }
            Signal::Simulcast { .. } => debug!(call = self.id, "a simulcast announcement, which only the hub reads: ignored"),
            c @ Signal::Candidate { .. } => {
                let Some(init) = candidate_init(c) else { return Ok(()) };
                if self.remote_relays.note(&init.candidate) && self.never_relay {
                    debug!(call = self.id, "--relay never: ignoring the peer's relay candidate");
                    return Ok(());
                }
                if self.remote_set {
                    if let Err(e) = self.pc.add_ice_candidate(init).await {
                        warn!("ignoring a remote candidate: {e}");
                    }
                } else if self.early_candidates.len() < super::EARLY_CANDIDATES {
                    self.early_candidates.push(init);
                } else {
                    warn!(call = self.id, "{} candidates came before the description: ignoring the rest", super::EARLY_CANDIDATES);
                }
            }
            Signal::EndOfCandidates => {}
        }
        Ok(())
    }

    /// Our video goes in `codec` from now on: the track is described in it and the video
    /// thread makes a new encoder of it at its next frame (a keyframe); the packetizer follows.
    async fn switch_video_codec(&mut self, codec: VideoCodec) -> anyhow::Result<()> {
        debug!(call = self.id, from = %self.video_codec, to = %codec, "the peer takes another video codec first now: switching");
        if let Some(tracks) = &self.tracks {
            tracks.video_in(codec).await?;
        }
        self.video_codec = codec;
        self.controls.set_video_codec(codec);
        Ok(())
    }

    /// The peer takes no video from us: none is encoded or sent; `say` tells the user why.
    fn refuse_video(&mut self, say: bool, why: impl FnOnce() -> String) {
        self.no_video = true;
        if say {
            let why = why();
            warn!(call = self.id, "no common video codec: {why}");
            self.report(CallOut::Warning(super::NO_COMMON_VIDEO_CODEC, why));
        }
    }

    /// Candidates can arrive before the description they belong to: apply them now.
    async fn remote_description_set(&mut self) {
        self.remote_set = true;
        for init in std::mem::take(&mut self.early_candidates) {
            if let Err(e) = self.pc.add_ice_candidate(init).await {
                warn!("ignoring a remote candidate: {e}");
            }
        }
    }

    /// Starts recovering the media path (once), and says so.
    pub(super) fn lose_media(&mut self) {
        if self.recovery.is_none() {
            self.recovery = Some(Recovery { lost_at: Instant::now(), restarted_at: None });
            self.report(CallOut::Reconnecting);
        }
    }

    /// The offerer restarts ICE with a new offer; the answerer asks it to and answers the
    /// offer when it comes. An offer still waiting for its answer is left to finish.
    pub(super) async fn restart_ice(&mut self) {
        if let Some(r) = self.recovery.as_mut() {
            r.restarted_at = Some(Instant::now());
        }
        if !self.offerer {
            self.report(CallOut::Signal(Signal::RestartIce));
            return;
        }
        if self.pc.pending_local_description().await.is_some() {
            debug!(call = self.id, "an offer is still waiting for its answer: not restarting yet");
            return;
        }
        let result = async {
            self.pc.restart_ice().await?;
            let offer = self.pc.create_offer(None).await?;
            self.pc.set_local_description(offer.clone()).await?;
            anyhow::Ok(offer.sdp)
        }
        .await;
        match result {
            Ok(sdp) => self.report(CallOut::Signal(Signal::Offer { sdp })),
            Err(e) => warn!(call = self.id, "ICE restart failed: {e}"),
        }
    }

    /// While media is lost: retries the restart now and then, and gives up at the deadline.
    pub(super) async fn recover(&mut self) -> anyhow::Result<()> {
        let Some(r) = &self.recovery else { return Ok(()) };
        if r.lost_at.elapsed() > RECOVER_DEADLINE {
            anyhow::bail!("the media connection was lost and did not come back within {} s", RECOVER_DEADLINE.as_secs());
        }
        if r.restarted_at.is_none_or(|t| t.elapsed() > RESTART_RETRY) {
            self.restart_ice().await;
        }
        Ok(())
    }
}
