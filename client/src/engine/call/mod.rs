//! One call's media side: a task that owns the peer connection and the chat data channel,
//! negotiates through the engine (which relays via the hub), and reports what happens.
//! In a call through the hub (group, echo) the other end is the hub's media endpoint, which
//! offers; each other participant's tracks carry their name as stream id and get a tile.
//!
//! - this file: the task, its loop, starting the media and following the peer connection;
//! - [`negotiate`]: descriptions, candidates, ICE restarts and recovery;
//! - [`chat`]: the data channel;
//! - [`remotes`]: the other participants of a call through the hub, stats and snapshots;
//! - [`devices`]: the microphone and speakers switched mid-call.

mod chat;
mod devices;
mod negotiate;
mod remotes;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use termcall_shared::media::congestion::SendLink;
use termcall_shared::{CallId, IceServer, Signal};
use tokio::sync::mpsc;
use tracing::{debug, warn};
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState};

use super::api::{CallStats, Path};
use super::path::{selected_path, RemoteRelays};
use super::peer::{self, IceOptions, PcEvent, RelayMode};
use super::relay_stream::{self, Shim, StreamRelay};
use super::stats::StatsClock;
use crate::media::audio::AudioSource;
use crate::media::counters::{RecvCounters, SendCounters};
use crate::media::recv::{self, Screen};
use crate::media::send::{self, Controls, LocalTracks, Sending, Shared, VideoParams};
use crate::media::source::VideoSource;
use crate::media::video_codec::VideoCodec;
use crate::media::{MediaConfig, Pictures};
use chat::DcEvent;
use negotiate::Recovery;
use remotes::Remote;

/// What the engine tells a call task.
#[derive(Debug)]
pub enum CallIn {
    /// Negotiation from the other party.
    Signal(Signal),
    /// A chat line to send; queued until the data channel opens.
    Chat(String),
    /// Write the newest remote picture (of this participant, in a group call) to this PNG file.
    Snapshot(String, Option<String>),
    /// This participant left the group call: drop their tile.
    Gone(String),
    /// The most we can show of the video we receive (of one participant, in a group call):
    /// told to the other side.
    View { width: u32, height: u32, of: Option<String> },
    /// Send from this microphone from now on (`None`: the default).
    Microphone(Option<String>),
    /// Play on this speaker from now on (`None`: the default).
    Speaker(Option<String>),
}

/// What a call task tells the engine.
#[derive(Debug)]
pub enum CallOut {
    /// Negotiation to relay to the other party.
    Signal(Signal),
    /// Media is up: first, after a reconnection, or on a new path.
    Connected(Option<Path>),
    /// Media stopped flowing; ICE is being restarted and the call goes on.
    Reconnecting,
    /// A chat line from the other party; in a call through the hub, from whom (as stamped by the hub).
    Chat { from: Option<String>, text: String },
    /// The call cannot go on.
    Failed(String),
    /// Once a second while connected.
    Stats(CallStats),
    /// The first remote picture was decoded: (width, height).
    VideoStarted(u32, u32),
    /// The answer to a snapshot: (path, width, height) or why not.
    Snapshot(Result<(String, u32, u32), String>),
    /// Something the user should know that does not end the call: (code, message).
    Warning(&'static str, String),
}

/// The warning when the peer takes no H.264 video: the call goes on with audio and chat.
pub const NO_COMMON_VIDEO_CODEC: &str = "no_common_video_codec";

/// Remote candidates kept until the description they belong to arrives (a peer gathers a
/// dozen or so; the hub relays at most its rate of them).
const EARLY_CANDIDATES: usize = 64;

/// How to set the call up.
pub struct CallSetup {
    pub call_id: CallId,
    /// The caller offers; the callee answers.
    pub offerer: bool,
    /// The media goes to the hub's media endpoint (which offers), not to the peer.
    pub sfu: bool,
    pub ice_servers: Vec<IceServer>,
    pub ice: IceOptions,
    /// TURN over the hub's WebSocket, when the hub offers it (used when UDP is blocked).
    pub stream_relay: Option<StreamRelay>,
    pub media: MediaConfig,
    /// Mute switches, shared with the engine.
    pub controls: Arc<Controls>,
    /// Where decoded remote pictures, and our own, go.
    pub pictures: Arc<Pictures>,
}


/// The engine's end of a call task. Dropping it closes the peer connection.
pub struct CallHandle {
    tx: mpsc::UnboundedSender<CallIn>,
}

impl CallHandle {
    pub fn send(&self, m: CallIn) {
        let _ = self.tx.send(m);
    }
}

/// Starts the call task; its reports arrive on `out`, tagged with the call id.
pub fn spawn(setup: CallSetup, out: mpsc::UnboundedSender<(CallId, CallOut)>) -> CallHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let id = setup.call_id;
        if let Err(e) = run(setup, rx, &out).await {
            let _ = out.send((id, CallOut::Failed(e.to_string())));
        }
    });
    CallHandle { tx }
}

/// The call's state while it runs.
struct Call<'a> {
    id: CallId,
    pc: Arc<dyn PeerConnection>,
    out: &'a mpsc::UnboundedSender<(CallId, CallOut)>,
    dc: Option<Arc<dyn DataChannel>>,
    dc_open: bool,
    dc_tx: mpsc::Sender<DcEvent>,
    unsent: VecDeque<String>,
    remote_set: bool,
    early_candidates: Vec<RTCIceCandidateInit>,
    /// Media has flowed at some point.
    connected: bool,
    /// Set while media is lost and being recovered.
    recovery: Option<Recovery>,
    /// The caller offers, and so restarts ICE when media is lost.
    offerer: bool,
    /// The path last reported.
    path: Option<Path>,
    remote_relays: RemoteRelays,
    /// `--relay never`: the peer's relay candidates are not used either.
    never_relay: bool,
    media: MediaConfig,
    controls: Arc<Controls>,
    pictures: Arc<Pictures>,
    tracks: Option<LocalTracks>,
    sending: Option<Sending>,
    recv: Arc<RecvCounters>,
    sent: Arc<SendCounters>,
    /// The peer connection's send estimate and pacer, as the sender sees them.
    link: Arc<SendLink>,
    clock: StatsClock,
    sfu: bool,
    /// In a call through the hub: the other participants, in the order their media came.
    remotes: Vec<Remote>,
    /// Our TURN carried over the hub's WebSocket (UDP is blocked, or `--relay tcp`).
    shim: Option<Shim>,
    /// The peer takes no video we can send (no common codec, or no video section): none is sent.
    no_video: bool,
    /// The codec our video goes in: our first as the offerer (until the answer says), the
    /// offer's first common one as the answerer.
    video_codec: VideoCodec,
    /// The speaker received audio plays on (`None`: the default); every audio track follows it.
    speaker: tokio::sync::watch::Sender<Option<String>>,
}

async fn run(setup: CallSetup, mut inbox: mpsc::UnboundedReceiver<CallIn>, out: &mpsc::UnboundedSender<(CallId, CallOut)>) -> anyhow::Result<()> {
    // The hub's media endpoint is on the hub itself, which its own TURN relay may not reach:
    // `--relay always` hides our address from peers, not from the hub, so it does not apply.
    let mut ice = setup.ice.clone();
    let shim = relay_stream::shim_for(setup.stream_relay.as_ref(), setup.ice.relay, &setup.ice.bind).await?;
    if setup.sfu && matches!(ice.relay, RelayMode::Always | RelayMode::Tcp) {
        ice.relay = RelayMode::Auto;
    }
    let audio_bps = if setup.media.audio == crate::media::audio::AudioSpec::None { 0.0 } else { crate::media::adapt::AUDIO_RESERVE_BPS };
    let (congestion, link) = peer::congestion(f64::from(setup.media.max_video_kbps()) * 1000.0 + audio_bps, setup.media.feedback);
    let (pc, mut pc_events) = peer::build(&setup.ice_servers, &ice, congestion, shim.as_ref().map(|s| s.addr), &setup.media.video_codecs).await?;
    let (dc_tx, mut dc_rx) = mpsc::channel(chat::DC_QUEUE);
    let video_codec = setup.media.video_codecs.first().copied().unwrap_or(VideoCodec::H264);
    let mut call = Call {
        id: setup.call_id,
        pc: pc.clone(),
        out,
        dc: None,
        dc_open: false,
        dc_tx,
        unsent: VecDeque::new(),
        remote_set: false,
        early_candidates: Vec::new(),
        connected: false,
        recovery: None,
        offerer: setup.offerer,
        path: None,
        remote_relays: RemoteRelays::default(),
        never_relay: setup.ice.relay == RelayMode::Never,
        media: setup.media,
        controls: setup.controls,
        pictures: setup.pictures,
        tracks: None,
        sending: None,
        recv: Arc::default(),
        sent: Arc::default(),
        link,
        clock: StatsClock::default(),
        sfu: setup.sfu,
        remotes: Vec::new(),
        shim,
        no_video: false,
        video_codec,
        speaker: tokio::sync::watch::Sender::new(None),
    };
    call.speaker.send_replace(call.media.speaker_device.clone());
    let mut stats_tick = tokio::time::interval(call.media.stats_every);
    let mut recover_tick = tokio::time::interval(Duration::from_millis(500));
    // Ticks missed while idle are not owed: recovery checks start afresh when media is lost.
    recover_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Pictures decoded before this call (from an earlier one) are not news.
    let mut pictures = call.pictures.remote.subscribe();
    pictures.mark_unchanged();
    let mut video_started = false;
    let result = async {
        if setup.offerer {
            call.add_tracks().await?;
            let dc = pc.create_data_channel("chat", None).await?;
            call.adopt_channel(dc);
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer.clone()).await?;
            call.report(CallOut::Signal(Signal::Offer { sdp: offer.sdp }));
        }
        loop {
            tokio::select! {
                m = inbox.recv() => match m {
                    None => return Ok(()),
                    Some(CallIn::Signal(s)) => call.on_remote_signal(s).await?,
                    Some(CallIn::Chat(text)) => call.chat(text).await,
                    Some(CallIn::Snapshot(path, of)) => call.snapshot(path, of),
                    Some(CallIn::Gone(name)) => call.forget(&name),
                    Some(CallIn::View { width, height, of }) => call.report(CallOut::Signal(Signal::View { width, height, of })),
                    Some(CallIn::Microphone(name)) => call.switch_microphone(name),
                    Some(CallIn::Speaker(name)) => call.switch_speaker(name),
                },
                e = pc_events.recv() => match e {
                    None => return Ok(()),
                    Some(e) => {
                        let was_connected = call.connected;
                        if !call.on_pc_event(e).await {
                            return Ok(());
                        }
                        if call.connected && !was_connected {
                            stats_tick.reset(); // the first report comes a full second after connecting
                        }
                    }
                },
                Some(d) = dc_rx.recv() => call.on_dc_event(d).await,
                Ok(()) = pictures.changed(), if !video_started => {
                    let size = pictures.borrow_and_update().as_ref().map(|f| (f.width, f.height));
                    if let Some((w, h)) = size {
                        video_started = true;
                        call.report(CallOut::VideoStarted(w, h));
                    }
                }
                _ = stats_tick.tick(), if call.connected => {
                    let stats = call.sample().await;
                    if call.sfu && !video_started {
                        if let Some(p) = stats.participants.iter().find(|p| p.video.frames_decoded > 0) {
                            video_started = true;
                            call.report(CallOut::VideoStarted(p.video.width, p.video.height));
                        }
                    }
                    call.report(CallOut::Stats(stats));
                    if call.recovery.is_none() {
                        call.check_path().await;
                    }
                }
                _ = recover_tick.tick(), if call.recovery.is_some() => call.recover().await?,
            }
        }
    }
    .await;
    drop(call.sending.take());
    // Our tiles go (only ours: the next call may have started already).
    call.pictures.remove_tiles(|t| call.remotes.iter().any(|r| Arc::ptr_eq(&r.counters, &t.counters)));
    let _ = pc.close().await;
    result
}

impl Call<'_> {
    /// How received media is played.
    fn playout(&self) -> recv::Playout {
        recv::Playout { speaker: self.media.speaker, lip_sync: self.media.lip_sync }
    }

    fn report(&self, m: CallOut) {
        let _ = self.out.send((self.id, m));
    }

    async fn add_tracks(&mut self) -> anyhow::Result<()> {
        if self.tracks.is_none() {
            let video = self.media.video != crate::media::source::VideoSpec::None && !self.no_video;
            let audio = self.media.audio != crate::media::audio::AudioSpec::None;
            // Through the hub, video goes as simulcast layers: the hub gives each receiver one.
            let codecs = (self.video_codec, self.offerer.then_some(self.media.video_codecs.as_slice()));
            self.tracks = Some(send::add_tracks(&self.pc, video, audio, self.sfu, codecs).await?);
            if self.sfu && video {
                self.report(CallOut::Signal(Signal::Simulcast { width: self.media.width, height: self.media.height }));
            }
        }
        Ok(())
    }

    /// Opens the sources and starts the media threads, once media can flow.
    async fn start_sending(&mut self) {
        let Some(tracks) = &self.tracks else { return };
        if self.sending.is_some() {
            return;
        }
        let m = &self.media;
        let video = if self.no_video { Ok(None) } else { VideoSource::open(&m.video, m.width, m.height, m.fps) };
        let video = match video {
            Ok(v) => v.map(|s| (s, VideoParams { codec: self.video_codec, width: m.width, height: m.height, fps: m.fps, max_kbps: m.max_video_kbps() })),
            Err(e) => {
                warn!("sending no video: {e}");
                None
            }
        };
        let audio = AudioSource::open(&m.audio, m.voice_processing).unwrap_or_else(|e| {
            warn!("sending no audio: {e}");
            None
        });
        let shared = Shared { controls: self.controls.clone(), counters: self.sent.clone(), pictures: self.pictures.clone(), link: self.link.clone() };
        self.sending = Some(send::start(tracks, video, audio, shared).await);
    }

    /// Returns false when the call is over.
    async fn on_pc_event(&mut self, e: PcEvent) -> bool {
        match e {
            PcEvent::LocalCandidate(s) => self.report(CallOut::Signal(s)),
            PcEvent::DataChannel(dc) => self.adopt_channel(dc),
            PcEvent::Track(track) if self.sfu => {
                let name = track.stream_id().await;
                let (counters, slot) = self.remote(&name);
                tokio::spawn(recv::run(track, counters, Screen::Tile(slot), self.link.clone(), self.playout(), self.speaker.subscribe()));
            }
            PcEvent::Track(track) => {
                tokio::spawn(recv::run(track, self.recv.clone(), Screen::Main(self.pictures.clone()), self.link.clone(), self.playout(), self.speaker.subscribe()));
            }
            PcEvent::State(state) => {
                debug!(call = self.id, "peer connection {state}");
                match state {
                    // The first time, or back after a reconnection.
                    RTCPeerConnectionState::Connected if !self.connected || self.recovery.is_some() => {
                        let first = !self.connected;
                        self.connected = true;
                        self.recovery = None;
                        self.path = self.current_path().await;
                        debug!(call = self.id, path = ?self.path, "media is up");
                        self.report(CallOut::Connected(self.path));
                        if first {
                            self.start_sending().await;
                        }
                    }
                    RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed
                        if self.connected && self.recovery.is_none() =>
                    {
                        // A network change or a new firewall rule: restart ICE, which gathers
                        // afresh (the TURN relay included) and finds whatever path works now.
                        warn!(call = self.id, "media lost ({state}): restarting ICE");
                        self.lose_media();
                        self.restart_ice().await;
                    }
                    RTCPeerConnectionState::Failed if !self.connected => {
                        self.report(CallOut::Failed("the media connection failed".into()));
                        return false;
                    }
                    RTCPeerConnectionState::Closed => return false,
                    _ => {}
                }
            }
        }
        true
    }

    async fn current_path(&self) -> Option<Path> {
        let over_stream = self.shim.is_some();
        let path = selected_path(&self.pc, &self.remote_relays, over_stream).await;
        if self.sfu && path != Some(Path::RelayTcp) {
            return Some(Path::Hub);
        }
        path
    }

    /// Reports a new path when ICE switched pairs without a break.
    async fn check_path(&mut self) {
        let path = self.current_path().await;
        if path.is_some() && path != self.path {
            self.path = path;
            self.report(CallOut::Connected(path));
        }
    }
}
