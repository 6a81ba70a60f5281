//! One call's media side: a task that owns the peer connection and the chat data channel,
//! negotiates through the engine (which relays via the hub), and reports what happens.
//! In a call through the hub (group, echo) the other end is the hub's media endpoint, which
//! offers; each other participant's tracks carry their name as stream id and get a tile.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use termcall_shared::{CallId, ChatWire, IceServer, Signal};
use tokio::sync::mpsc;
use tracing::{debug, warn};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use super::api::{ParticipantStats, Path};
use super::path::{selected_path, RemoteRelays};
use super::peer::{self, candidate_init, IceOptions, PcEvent, RelayMode};
use super::stats::{totals, RecvRates, StatsClock};
use crate::media::counters::{RecvCounters, SendCounters};
use crate::media::recv::{self, FrameSlot, Screen};
use crate::media::send::{self, Controls, LocalTracks, Sending, Shared, VideoParams};
use termcall_shared::media::congestion::SendLink;
use crate::media::source::VideoSource;
use crate::media::audio::AudioSource;
use crate::media::{snapshot, MediaConfig, Pictures, Tile};
use super::api::CallStats;

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
}

/// How to set the call up.
pub struct CallSetup {
    pub call_id: CallId,
    /// The caller offers; the callee answers.
    pub offerer: bool,
    /// The media goes to the hub's media endpoint (which offers), not to the peer.
    pub sfu: bool,
    pub ice_servers: Vec<IceServer>,
    pub ice: IceOptions,
    pub media: MediaConfig,
    /// Mute switches, shared with the engine.
    pub controls: Arc<Controls>,
    /// Where decoded remote pictures, and our own, go.
    pub pictures: Arc<Pictures>,
}

/// How long a call may go without media before it is given up.
const RECOVER_DEADLINE: Duration = Duration::from_secs(30);
/// How long the offerer waits on one ICE restart before it tries another.
const RESTART_RETRY: Duration = Duration::from_secs(5);

/// A connected call whose media stopped: since when, and the offerer's last ICE restart.
struct Recovery {
    lost_at: Instant,
    restarted_at: Option<Instant>,
}

/// One other participant of a call through the hub.
struct Remote {
    name: String,
    counters: Arc<RecvCounters>,
    slot: Arc<FrameSlot>,
    rates: RecvRates,
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

enum DcEvent {
    Open,
    Text(String),
    Closed,
}

/// The call's state while it runs.
struct Call<'a> {
    id: CallId,
    pc: Arc<dyn PeerConnection>,
    out: &'a mpsc::UnboundedSender<(CallId, CallOut)>,
    dc: Option<Arc<dyn DataChannel>>,
    dc_open: bool,
    dc_tx: mpsc::UnboundedSender<DcEvent>,
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
}

async fn run(setup: CallSetup, mut inbox: mpsc::UnboundedReceiver<CallIn>, out: &mpsc::UnboundedSender<(CallId, CallOut)>) -> anyhow::Result<()> {
    // The hub's media endpoint is on the hub itself, which its own TURN relay may not reach:
    // `--relay always` hides our address from peers, not from the hub, so it does not apply.
    let mut ice = setup.ice.clone();
    if setup.sfu && ice.relay == RelayMode::Always {
        ice.relay = RelayMode::Auto;
    }
    let audio_bps = if setup.media.audio == crate::media::audio::AudioSpec::None { 0.0 } else { crate::media::adapt::AUDIO_RESERVE_BPS };
    let (congestion, link) = peer::congestion(f64::from(setup.media.max_video_kbps()) * 1000.0 + audio_bps, setup.media.feedback);
    let (pc, mut pc_events) = peer::build(&setup.ice_servers, &ice, congestion).await?;
    let (dc_tx, mut dc_rx) = mpsc::unbounded_channel();
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
    };
    let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
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
    fn report(&self, m: CallOut) {
        let _ = self.out.send((self.id, m));
    }

    async fn add_tracks(&mut self) -> anyhow::Result<()> {
        if self.tracks.is_none() {
            let video = self.media.video != crate::media::source::VideoSpec::None;
            let audio = self.media.audio != crate::media::audio::AudioSpec::None;
            self.tracks = Some(send::add_tracks(&self.pc, video, audio).await?);
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
        let video = match VideoSource::open(&m.video, m.width, m.height, m.fps) {
            Ok(v) => v.map(|s| (s, VideoParams { width: m.width, height: m.height, fps: m.fps, max_kbps: m.max_video_kbps() })),
            Err(e) => {
                warn!("sending no video: {e}");
                None
            }
        };
        let audio = AudioSource::open(&m.audio).unwrap_or_else(|e| {
            warn!("sending no audio: {e}");
            None
        });
        let shared = Shared { controls: self.controls.clone(), counters: self.sent.clone(), pictures: self.pictures.clone(), link: self.link.clone() };
        self.sending = Some(send::start(tracks, video, audio, shared).await);
    }

    /// The second's measurements; through the hub, per participant as well.
    async fn sample(&mut self) -> CallStats {
        let mut stats = self.clock.sample(&self.pc, &self.recv, &self.sent, &self.link).await;
        if self.sfu {
            let now = Instant::now();
            stats.participants = self
                .remotes
                .iter_mut()
                .map(|r| {
                    let (video, audio) = r.rates.sample(&r.counters, now);
                    ParticipantStats { name: r.name.clone(), video, audio }
                })
                .collect();
            (stats.video, stats.audio) = totals(&stats.participants);
        }
        stats
    }

    /// The participant whose media arrives under stream id `name`, made on first sight.
    fn remote(&mut self, name: &str) -> (Arc<RecvCounters>, Arc<FrameSlot>) {
        if let Some(r) = self.remotes.iter().find(|r| r.name == name) {
            return (r.counters.clone(), r.slot.clone());
        }
        let (slot, frame) = tokio::sync::watch::channel(None);
        let (counters, slot) = (Arc::new(RecvCounters::default()), Arc::new(slot));
        self.remotes.push(Remote { name: name.to_owned(), counters: counters.clone(), slot: slot.clone(), rates: RecvRates::default() });
        let tile = Tile { name: name.to_owned(), frame, counters: counters.clone() };
        self.pictures.tiles.send_modify(|t| t.push(tile));
        (counters, slot)
    }

    fn forget(&mut self, name: &str) {
        self.remotes.retain(|r| r.name != name);
        self.pictures.remove_tiles(|t| t.name == name);
    }

    fn snapshot(&self, path: String, of: Option<String>) {
        let frame = if self.sfu {
            let remote = match &of {
                Some(name) => self.remotes.iter().find(|r| r.name == *name),
                None => self.remotes.iter().find(|r| r.slot.borrow().is_some()),
            };
            remote.and_then(|r| r.slot.borrow().clone())
        } else {
            self.pictures.remote.borrow().clone()
        };
        let (id, out) = (self.id, self.out.clone());
        tokio::task::spawn_blocking(move || {
            let result = match frame {
                None => Err("no remote picture has been decoded yet".to_owned()),
                Some(f) => snapshot::write_png(&f, std::path::Path::new(&path)).map(|()| (path, f.width, f.height)),
            };
            let _ = out.send((id, CallOut::Snapshot(result)));
        });
    }

    fn adopt_channel(&mut self, dc: Arc<dyn DataChannel>) {
        if self.dc.is_some() {
            debug!("ignoring a second data channel");
            return;
        }
        let tx = self.dc_tx.clone();
        let reader = dc.clone();
        tokio::spawn(async move {
            while let Some(ev) = reader.poll().await {
                let m = match ev {
                    DataChannelEvent::OnOpen => DcEvent::Open,
                    DataChannelEvent::OnMessage(msg) => DcEvent::Text(String::from_utf8_lossy(&msg.data).into_owned()),
                    DataChannelEvent::OnClose => DcEvent::Closed,
                    _ => continue,
                };
                if tx.send(m).is_err() {
                    return;
                }
            }
            let _ = tx.send(DcEvent::Closed);
        });
        self.dc = Some(dc);
    }

    async fn on_remote_signal(&mut self, s: Signal) -> anyhow::Result<()> {
        match s {
            Signal::Offer { sdp } => {
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| anyhow::anyhow!("the peer's offer is not valid SDP: {e}"))?;
                self.pc.set_remote_description(offer).await?;
                self.remote_description_set().await;
                // Answer with our tracks in the transceivers the offer made.
                self.add_tracks().await?;
                let answer = self.pc.create_answer(None).await?;
                self.pc.set_local_description(answer.clone()).await?;
                self.report(CallOut::Signal(Signal::Answer { sdp: answer.sdp }));
            }
            Signal::Answer { sdp } => {
                let answer = RTCSessionDescription::answer(sdp).map_err(|e| anyhow::anyhow!("the peer's answer is not valid SDP: {e}"))?;
                if let Err(e) = self.pc.set_remote_description(answer).await {
                    // The first answer is vital; a late one to an ICE restart offer is not.
                    if !self.remote_set {
                        return Err(e.into());
                    }
                    warn!(call = self.id, "ignoring an answer that does not fit: {e}");
                    return Ok(());
                }
                self.remote_description_set().await;
            }
            Signal::RestartIce if self.offerer && self.connected => {
                debug!(call = self.id, "the peer lost media: restarting ICE");
                self.lose_media();
                self.restart_ice().await;
            }
            Signal::RestartIce => debug!(call = self.id, "ignoring a restart request: not the offerer, or not connected yet"),
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
                } else {
                    self.early_candidates.push(init);
                }
            }
            Signal::EndOfCandidates => {}
        }
        Ok(())
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

    /// Returns false when the call is over.
    async fn on_pc_event(&mut self, e: PcEvent) -> bool {
        match e {
            PcEvent::LocalCandidate(s) => self.report(CallOut::Signal(s)),
            PcEvent::DataChannel(dc) => self.adopt_channel(dc),
            PcEvent::Track(track) if self.sfu => {
                let name = track.stream_id().await;
                let (counters, slot) = self.remote(&name);
                tokio::spawn(recv::run(track, counters, Screen::Tile(slot), self.media.speaker));
            }
            PcEvent::Track(track) => {
                tokio::spawn(recv::run(track, self.recv.clone(), Screen::Main(self.pictures.clone()), self.media.speaker));
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
        if self.sfu {
            return Some(Path::Hub);
        }
        selected_path(&self.pc, &self.remote_relays).await
    }

    /// Reports a new path when ICE switched pairs without a break.
    async fn check_path(&mut self) {
        let path = self.current_path().await;
        if path.is_some() && path != self.path {
            self.path = path;
            self.report(CallOut::Connected(path));
        }
    }

    /// Starts recovering the media path (once), and says so.
    fn lose_media(&mut self) {
        if self.recovery.is_none() {
            self.recovery = Some(Recovery { lost_at: Instant::now(), restarted_at: None });
            self.report(CallOut::Reconnecting);
        }
    }

    /// The offerer restarts ICE with a new offer; the answerer asks it to and answers the
    /// offer when it comes. An offer still waiting for its answer is left to finish.
    async fn restart_ice(&mut self) {
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
    async fn recover(&mut self) -> anyhow::Result<()> {
        let Some(r) = &self.recovery else { return Ok(()) };
        if r.lost_at.elapsed() > RECOVER_DEADLINE {
            anyhow::bail!("the media connection was lost and did not come back within {} s", RECOVER_DEADLINE.as_secs());
        }
        if r.restarted_at.is_none_or(|t| t.elapsed() > RESTART_RETRY) {
            self.restart_ice().await;
        }
        Ok(())
    }

    async fn on_dc_event(&mut self, d: DcEvent) {
        match d {
            DcEvent::Open => {
                self.dc_open = true;
                while let Some(text) = self.unsent.pop_front() {
                    if !self.send_now(&text).await {
                        self.unsent.push_front(text);
                        break;
                    }
                }
            }
            DcEvent::Text(raw) => {
                // A peer that sends plain text (a browser, say) is shown as it is. Only the hub
                // may say who sent a line; a peer's own `from` is not believed.
                let (from, text) = match serde_json::from_str::<ChatWire>(&raw) {
                    Ok(w) => (w.from.filter(|_| self.sfu), w.text),
                    Err(_) => (None, raw),
                };
                self.report(CallOut::Chat { from, text });
            }
            DcEvent::Closed => self.dc_open = false,
        }
    }

    async fn chat(&mut self, text: String) {
        if self.dc_open && self.unsent.is_empty() && self.send_now(&text).await {
            return;
        }
        self.unsent.push_back(text);
    }

    async fn send_now(&self, text: &str) -> bool {
        let Some(dc) = &self.dc else { return false };
        let wire = ChatWire { text: text.to_owned(), sent_ms: now_ms(), from: None };
        let json = serde_json::to_string(&wire).unwrap_or_default();
        match dc.send_text(&json).await {
            Ok(()) => true,
            Err(e) => {
                warn!("chat not sent yet: {e}");
                false
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
