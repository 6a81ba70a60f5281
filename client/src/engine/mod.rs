//! The call engine: everything a termcall user can do, with no UI. It takes [`Command`]s and
//! emits [`Event`]s; the headless JSON face and the TUI are thin layers over it.
//!
//! - [`api`]: the commands and events (their serde form is the headless protocol).
//! - [`signaling`]: the hub connection, with reconnect.
//! - [`connect`]: opening it: `ws://`, or `wss://` with certificate checks.
//! - [`call`]: one call's peer connection and chat channel, in a task of its own.
//! - [`peer`]: how a peer connection is built.
//! - [`path`]: p2p or relay, from the selected candidate pair.
//! - [`relay_stream`]: TURN over the hub's WebSocket when UDP is blocked (a probe and a shim).
//! - [`stats`]: the once-a-second measurements of a call.
//! - [`devices`]: the sound devices, listed and switched (the `devices` command).
//! - [`outbox`]: the events on their way to the face, bounded.

pub mod api;
pub mod call;
pub mod connect;
mod devices;
pub mod outbox;
pub mod path;
pub mod peer;
pub mod relay_stream;
pub mod signaling;
pub mod stats;

use std::collections::BTreeMap;
use std::time::Duration;

use termcall_shared::limits::MAX_CHAT_BYTES;
use termcall_shared::names::HUB_PEER;
use termcall_shared::{CallClaim, CallEndReason, CallId, Callees, ClientMsg, ErrorCode, IceServer, ServerMsg, UserInfo};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use api::{CallState, CallStats, Command, Event, HubState, Path};
use crate::media::send::Controls;
use crate::media::recv::FrameWatch;
use crate::media::{MediaConfig, Pictures, Tile};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use call::{CallHandle, CallIn, CallOut, CallSetup};
pub use peer::{IceOptions, RelayMode};
use signaling::{HubEvent, Login};

/// How an engine connects and behaves.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub login: Login,
    /// Accept every incoming call at once (for bots, tests and the demo peer).
    pub auto_accept: bool,
    pub ice: IceOptions,
    pub media: MediaConfig,
}

/// A running engine: send it commands, read its events. The events channel closes when it stops.
pub struct Engine {
    pub commands: mpsc::UnboundedSender<Command>,
    /// At most [`outbox::EVENT_QUEUE`] wait; past that events are dropped, and the reader is
    /// told how many once it catches up.
    pub events: mpsc::Receiver<Event>,
    /// The newest decoded remote picture (for the TUI's video pane).
    pub remote_video: FrameWatch,
    /// The newest picture we send (the self-view); drop it if unused.
    pub local_video: FrameWatch,
    /// In a call through the hub: a tile per other participant (for the TUI's grid).
    pub tiles: tokio::sync::watch::Receiver<Vec<Tile>>,
    pub task: JoinHandle<()>,
}

/// Starts an engine on the current tokio runtime.
pub fn start(cfg: EngineConfig) -> Engine {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = outbox::Events::new(outbox::EVENT_QUEUE);
    let (pictures, watches) = Pictures::new();
    let task = tokio::spawn(run(cfg, cmd_rx, ev_tx, Arc::new(pictures)));
    Engine { commands: cmd_tx, events: ev_rx, remote_video: watches.remote, local_video: watches.local, tiles: watches.tiles, task }
}

/// The call in progress, from the first ring to the end.
struct Active {
    /// Unknown until the hub answers an outgoing call. A hub that restarted and adopted the
    /// call again gives it a new one.
    id: Option<CallId>,
    /// The id the media task was started with, which its reports carry.
    media_id: Option<CallId>,
    /// The call's resume token, for the hello after a hub restart.
    token: String,
    /// Who the call is with, as shown: a name, or in a group call the others' names.
    peer: String,
    incoming: bool,
    /// The media goes through the hub (a group call, or echo).
    sfu: bool,
    /// A group call: invitations may be sent from it.
    group: bool,
    state: CallState,
    path: Option<Path>,
    media: Option<CallHandle>,
    controls: Option<Arc<Controls>>,
}

struct State {
    cfg: EngineConfig,
    events: outbox::Events,
    to_hub: mpsc::Sender<ClientMsg>,
    media_tx: mpsc::UnboundedSender<(CallId, CallOut)>,
    me: Option<String>,
    hub_up: bool,
    /// The hub this engine is logged in to (one of `--hub`).
    hub_url: String,
    ice_servers: Vec<IceServer>,
    roster: BTreeMap<String, UserInfo>,
    call: Option<Active>,
    /// An outgoing call hung up before the hub gave it an id: hang it up when the id comes.
    cancelled: Option<String>,
    pictures: Arc<Pictures>,
    audio_muted: bool,
    video_muted: bool,
    /// The largest picture we can show, per sender (`None`: every one), as the face last said
    /// (`view`); each call is told at its start and on every change.
    views: BTreeMap<Option<String>, (u32, u32)>,
    /// Commands given before the first welcome, replayed once registered.
    early: Vec<Command>,
    /// The peer of our connected call, which the next hello names (see [`ClientMsg::Hello`]).
    in_call_with: tokio::sync::watch::Sender<Option<CallClaim>>,
    /// TURN over the hub's WebSocket, and whether UDP reaches the hub.
    relay_routes: relay_stream::RelayRoutes,
}

/// The largest view a face may ask for, pixels each way.
const MAX_VIEW: u32 = 16_384;

/// How many commands may wait for the first connection to the hub.
const EARLY_COMMANDS: usize = 256;

async fn run(cfg: EngineConfig, mut commands: mpsc::UnboundedReceiver<Command>, events: outbox::Events, pictures: Arc<Pictures>) {
    let (to_hub, hub_outbox) = mpsc::channel(256);
    let (hub_tx, mut hub_rx) = mpsc::unbounded_channel();
    let (in_call_with, claim) = tokio::sync::watch::channel(None);
    let signaling = tokio::spawn(signaling::run(cfg.login.clone(), claim, hub_outbox, hub_tx));
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let cfg_login = cfg.login.clone();
    let mut st = State {
        cfg,
        events,
        to_hub,
        media_tx,
        me: None,
        hub_up: false,
        hub_url: cfg_login.url.clone(),
        ice_servers: Vec::new(),
        roster: BTreeMap::new(),
        call: None,
        cancelled: None,
        pictures,
        audio_muted: false,
        video_muted: false,
        views: BTreeMap::new(),
        early: Vec::new(),
        in_call_with,
        relay_routes: relay_stream::RelayRoutes::new(&cfg_login),
    };
    loop {
        tokio::select! {
            c = commands.recv() => match c {
                None | Some(Command::Quit) => break,
                Some(c) => st.on_command(c).await,
            },
            h = hub_rx.recv() => match h {
                None => break,
                Some(HubEvent::Refused { code, message }) => {
                    st.emit(Event::Error { code, message, fatal: true });
                    break;
                }
                Some(h) => st.on_hub(h).await,
            },
            Some((id, m)) = media_rx.recv() => st.on_media(id, m).await,
        }
        st.sync_claim();
    }
    if st.call.is_some() {
        st.hangup("hangup").await;
    }
    drop(st);
    // Let the signaling task send the hangup and close the WebSocket cleanly.
    let _ = tokio::time::timeout(Duration::from_millis(500), signaling).await;
}

impl State {
    /// Keeps the hello's `in_call_with` in step with the call.
    fn sync_claim(&self) {
        let claim = self
            .call
            .as_ref()
            .filter(|c| c.state == CallState::Connected && !c.token.is_empty() && !c.sfu)
            .map(|c| CallClaim { peer: c.peer.clone(), token: c.token.clone() });
        self.in_call_with.send_if_modified(|old| {
            let changed = *old != claim;
            *old = claim;
            changed
        });
    }

    fn emit(&self, e: Event) {
        self.events.emit(e);
    }

    async fn send_hub(&self, m: ClientMsg) {
        let _ = self.to_hub.send(m).await;
    }

    fn emit_call(&self) {
        if let Some(c) = &self.call {
            self.emit(Event::Call { peer: c.peer.clone(), state: c.state, path: c.path, reason: None });
        }
    }

    fn emit_roster(&self) {
        let users = self.roster.values().cloned().collect();
        self.emit(Event::Roster { users });
    }

    /// Ends the call here (the hub is told separately) and says why.
    fn end(&mut self, reason: &str) {
        if let Some(c) = self.call.take() {
            drop(c.media);
            self.emit(Event::Call { peer: c.peer, state: CallState::Ended, path: c.path, reason: Some(reason.to_owned()) });
        }
    }

    async fn hangup(&mut self, reason: &str) {
        match self.call.as_ref().map(|c| (c.id, c.peer.clone())) {
            Some((Some(id), _)) => self.send_hub(ClientMsg::Hangup { call_id: id }).await,
            Some((None, peer)) => self.cancelled = Some(peer),
            None => return,
        }
        self.end(reason);
    }

    async fn on_command(&mut self, c: Command) {
        let needs_hub = matches!(c, Command::Call { .. } | Command::Accept | Command::Decline | Command::Invite { .. });
        if needs_hub && self.me.is_none() {
            // Not registered yet: keep it for when we are, rather than refuse it.
            if self.early.len() < EARLY_COMMANDS {
                self.early.push(c);
            } else {
                self.emit(Event::error("hub_unreachable", "not connected to the hub yet; command dropped"));
            }
            return;
        }
        match c {
            Command::Call { to } => {
                if !self.hub_up {
                    return self.emit(Event::error("hub_unreachable", "not connected to the hub; retrying"));
                }
                if let Some(c) = &self.call {
                    return self.emit(Event::error(ErrorCode::Busy.as_str(), format!("already in a call with {}; hang up first", c.peer)));
                }
                if to.names().iter().any(|n| self.me.as_deref() == Some(n.as_str())) {
                    return self.emit(Event::error(ErrorCode::SelfCall.as_str(), "you cannot call yourself"));
                }
                if to.names().is_empty() {
                    return self.emit(Event::error(ErrorCode::BadMessage.as_str(), "name at least one person to call"));
                }
                let group = matches!(to, Callees::Group(_));
                self.call = Some(Active { id: None, media_id: None, token: String::new(), peer: to.label(), incoming: false, sfu: false, group, state: CallState::Ringing, path: None, media: None, controls: None });
                self.send_hub(ClientMsg::Call { to }).await;
            }
            Command::Invite { to } => match &self.call {
                Some(Active { id: Some(id), group: true, .. }) => {
                    let call_id = *id;
                    self.send_hub(ClientMsg::Invite { call_id, to }).await;
                }
                Some(_) => self.emit(Event::error(
                    ErrorCode::NotGroup.as_str(),
                    "invitations go to group calls; start one with a list, e.g. {\"cmd\":\"call\",\"to\":[\"bob\"]}",
                )),
                None => self.emit(Event::error(ErrorCode::NotInCall.as_str(), "invite needs a group call: start one first")),
            },
            Command::Accept => match &self.call {
                Some(Active { id: Some(id), incoming: true, state: CallState::Ringing, .. }) => {
                    let call_id = *id;
                    self.send_hub(ClientMsg::Accept { call_id }).await;
                }
                _ => self.emit(Event::error("no_incoming_call", "there is no incoming call to accept")),
            },
            Command::Decline => match &self.call {
                Some(Active { id: Some(id), incoming: true, state: CallState::Ringing, .. }) => {
                    let call_id = *id;
                    self.send_hub(ClientMsg::Decline { call_id }).await;
                    self.end("declined");
                }
                _ => self.emit(Event::error("no_incoming_call", "there is no incoming call to decline")),
            },
            Command::Hangup => {
                if self.call.is_none() {
                    return self.emit(Event::error(ErrorCode::NotInCall.as_str(), "there is no call to hang up"));
                }
                self.hangup("hangup").await;
            }
            Command::Chat { text } => {
                if text.len() > MAX_CHAT_BYTES {
                    return self.emit(Event::error(ErrorCode::TooLarge.as_str(), format!("a chat message is at most {MAX_CHAT_BYTES} bytes")));
                }
                match &self.call {
                    Some(Active { media: Some(m), .. }) => m.send(CallIn::Chat(text)),
                    Some(_) => self.emit(Event::error("not_connected", "the call is not connected yet; chat opens once it is accepted")),
                    None => self.emit(Event::error(ErrorCode::NotInCall.as_str(), "chat needs a call: call someone first")),
                }
            }
            Command::Snapshot { path, of } => match &self.call {
                Some(Active { media: Some(m), .. }) => m.send(CallIn::Snapshot(path, of)),
                _ => self.emit(Event::error(ErrorCode::NotInCall.as_str(), "a snapshot needs a connected call")),
            },
            Command::Mute { audio, video } => {
                self.audio_muted = audio.unwrap_or(self.audio_muted);
                self.video_muted = video.unwrap_or(self.video_muted);
                if let Some(c) = self.call.as_ref().and_then(|c| c.controls.as_ref()) {
                    c.audio_muted.store(self.audio_muted, Relaxed);
                    c.video_muted.store(self.video_muted, Relaxed);
                }
                self.emit(Event::Mute { audio: self.audio_muted, video: self.video_muted });
            }
            Command::View { width, height, of } => {
                if width == 0 || height == 0 || width > MAX_VIEW || height > MAX_VIEW {
                    return self.emit(Event::error("bad_view", format!("a view is 1 to {MAX_VIEW} pixels each way")));
                }
                // A view of everyone replaces the views of each.
                if of.is_none() {
                    self.views.clear();
                }
                if self.views.insert(of.clone(), (width, height)) == Some((width, height)) {
                    return;
                }
                if let Some(Active { media: Some(m), .. }) = &self.call {
                    m.send(CallIn::View { width, height, of });
                }
            }
            Command::Devices { mic, speaker } => self.devices(mic, speaker).await,
            Command::Quit => {}
        }
    }

    async fn on_hub(&mut self, h: HubEvent) {
        match h {
            HubEvent::Up(ServerMsg::Welcome { name, ice_servers, users, turn_stream, .. }, url) => {
                let first = self.me.is_none();
                self.me = Some(name.clone());
                self.hub_url = url;
                self.relay_routes.on_welcome(&self.hub_url, turn_stream.as_deref(), &ice_servers, self.cfg.ice.relay, &self.cfg.ice.bind);
                self.ice_servers = ice_servers;
                self.hub_up = true;
                self.roster = users.into_iter().filter(|u| u.name != name).map(|u| (u.name.clone(), u)).collect();
                if first {
                    self.emit(Event::Ready { name });
                } else {
                    self.emit(Event::Hub { state: HubState::Connected, url: self.hub_url.clone() });
                }
                self.emit_roster();
                for c in std::mem::take(&mut self.early) {
                    Box::pin(self.on_command(c)).await;
                }
            }
            HubEvent::Up(..) | HubEvent::Refused { .. } => {}
            HubEvent::Down { why, retry_in } => {
                if self.hub_up {
                    self.hub_up = false;
                    self.emit(Event::Hub { state: HubState::Disconnected, url: self.hub_url.clone() });
                    // A call being set up or recovering its media path needs the hub for
                    // signaling; a connected one does not, unless its media goes through the hub.
                    if self.call.as_ref().is_some_and(|c| c.state != CallState::Connected || c.sfu) {
                        self.end("hub_lost");
                    }
                }
                self.emit(Event::error("hub_unreachable", format!("{why}; retrying in {:.1}s", retry_in.as_secs_f32())));
            }
            HubEvent::Msg(m) => self.on_hub_msg(m).await,
        }
    }

    async fn on_hub_msg(&mut self, m: ServerMsg) {
        match m {
            ServerMsg::Roster { joined, left, changed } => {
                let me = self.me.clone().unwrap_or_default();
                let mut dirty = false;
                for u in joined.into_iter().chain(changed).filter(|u| u.name != me) {
                    dirty |= self.roster.get(&u.name) != Some(&u);
                    self.roster.insert(u.name.clone(), u);
                }
                for name in left {
                    dirty |= self.roster.remove(&name).is_some();
                }
                if dirty {
                    self.emit_roster();
                }
            }
            ServerMsg::Incoming { call_id, from, group } => {
                if self.call.is_some() {
                    return self.send_hub(ClientMsg::Decline { call_id }).await;
                }
                let peer = match &group {
                    Some(others) if !others.is_empty() => format!("{from}, {}", others.join(", ")),
                    _ => from.clone(),
                };
                self.call = Some(Active { id: Some(call_id), media_id: None, token: String::new(), peer, incoming: true, sfu: false, group: group.is_some(), state: CallState::Ringing, path: None, media: None, controls: None });
                self.emit(Event::Incoming { from, group });
                self.emit_call();
                if self.cfg.auto_accept {
                    self.send_hub(ClientMsg::Accept { call_id }).await;
                }
            }
            ServerMsg::Ringing { call_id, to } => {
                if self.cancelled.as_deref() == Some(to.as_str()) {
                    self.cancelled = None;
                    return self.send_hub(ClientMsg::Hangup { call_id }).await;
                }
                // A group call's label is the hub's (it drops repeated names).
                if let Some(c) = self.call.as_mut().filter(|c| c.id.is_none() && (c.peer == to || c.group)) {
                    c.peer = to;
                    c.id = Some(call_id);
                    self.emit_call();
                }
            }
            ServerMsg::Accepted { call_id, peer, offerer, resume_token, sfu, .. } => {
                let Some(c) = self.call.as_mut().filter(|c| c.id == Some(call_id)) else {
                    return self.send_hub(ClientMsg::Hangup { call_id }).await;
                };
                c.state = CallState::Connecting;
                c.sfu = sfu;
                if sfu && !peer.is_empty() {
                    c.peer = peer.clone();
                }
                c.media_id = Some(call_id);
                c.token = resume_token;
                // No picture from an earlier call.
                self.pictures.remote.send_replace(None);
                self.pictures.local.send_replace(None);
                self.pictures.tiles.send_replace(Vec::new());
                let controls = Arc::new(Controls::default());
                controls.audio_muted.store(self.audio_muted, Relaxed);
                controls.video_muted.store(self.video_muted, Relaxed);
                c.controls = Some(controls.clone());
                let setup = CallSetup {
                    call_id,
                    offerer,
                    sfu,
                    ice_servers: self.ice_servers.clone(),
                    ice: self.cfg.ice.clone(),
                    stream_relay: self.relay_routes.for_call(),
                    media: self.cfg.media.clone(),
                    controls,
                    pictures: self.pictures.clone(),
                };
                let media = call::spawn(setup, self.media_tx.clone());
                for (of, &(width, height)) in &self.views {
                    media.send(CallIn::View { width, height, of: of.clone() });
                }
                c.media = Some(media);
                tracing::debug!(call_id, %peer, offerer, "accepted");
                self.emit_call();
            }
            ServerMsg::Signal { call_id, from, signal } => {
                if let Some(Active { media: Some(m), peer, sfu, .. }) = self.call.as_ref().filter(|c| c.id == Some(call_id)) {
                    let expected = if *sfu { HUB_PEER } else { peer.as_str() };
                    if from == expected {
                        m.send(CallIn::Signal(signal));
                    }
                }
            }
            ServerMsg::Group { call_id, joined, ringing } => {
                let me = self.me.clone().unwrap_or_default();
                if let Some(c) = self.call.as_mut().filter(|c| c.id == Some(call_id)) {
                    let others: Vec<&str> = joined.iter().map(String::as_str).filter(|n| *n != me).collect();
                    if !others.is_empty() {
                        c.peer = others.join(", ");
                    }
                    self.emit(Event::Group { joined, ringing });
                }
            }
            ServerMsg::Left { call_id, name, reason } => {
                if let Some(c) = self.call.as_ref().filter(|c| c.id == Some(call_id)) {
                    if let Some(m) = &c.media {
                        m.send(CallIn::Gone(name.clone()));
                    }
                    self.emit(Event::Left { name, reason: reason.as_str().to_owned() });
                }
            }
            ServerMsg::CallEnded { call_id, peer, reason } => {
                let ours = self.call.as_ref().is_some_and(|c| c.id == Some(call_id) || (c.id.is_none() && c.peer == peer));
                if !ours {
                    return;
                }
                self.end(reason.as_str());
                // Refusals of a call request also get an error that says what to do.
                let explain = match reason {
                    CallEndReason::UnknownUser => Some(format!("{peer} is not online")),
                    CallEndReason::Busy => Some(format!("{peer} is in another call; try later")),
                    CallEndReason::SelfCall => Some("you cannot call yourself".to_owned()),
                    _ => None,
                };
                if let Some(message) = explain {
                    self.emit(Event::error(reason.as_str(), message));
                }
            }
            ServerMsg::Resumed { call_id, peer, resume_token } => {
                if let Some(c) = self.call.as_mut().filter(|c| c.peer == peer && c.media.is_some()) {
                    tracing::info!(call_id, %peer, "the hub adopted our call again");
                    c.id = Some(call_id);
                    c.token = resume_token;
                } else {
                    // Our side of it is over: tell the hub, so that the peer hears too.
                    self.send_hub(ClientMsg::Hangup { call_id }).await;
                }
            }
            ServerMsg::Error { code, message, call_id: None } if self.refuses_our_call_request(code) => {
                // The hub's answer to our call request: no call was made.
                self.end(code.as_str());
                self.emit(Event::error(code.as_str(), message));
            }
            ServerMsg::Error { code, message, .. } => self.emit(Event::error(code.as_str(), message)),
            ServerMsg::Welcome { .. } => {}
        }
    }

    /// Whether an error without a call id answers the call request we are waiting on: the hub
    /// answers a call with `ringing` or `call_ended`, or with one of these when it makes none.
    fn refuses_our_call_request(&self, code: ErrorCode) -> bool {
        let waiting = self.call.as_ref().is_some_and(|c| c.id.is_none() && !c.incoming && c.state == CallState::Ringing);
        waiting && matches!(code, ErrorCode::CallFull | ErrorCode::BadMessage | ErrorCode::Busy)
    }

    async fn on_media(&mut self, id: CallId, m: CallOut) {
        let Some(call_id) = self.call.as_ref().filter(|c| c.media_id == Some(id)).and_then(|c| c.id) else {
            return; // a report from a call that is already over
        };
        match m {
            CallOut::Signal(signal) => self.send_hub(ClientMsg::Signal { call_id, signal }).await,
            CallOut::Connected(path) => {
                if let Some(c) = self.call.as_mut() {
                    c.state = CallState::Connected;
                    c.path = path;
                }
                self.emit_call();
            }
            CallOut::Reconnecting => {
                if let Some(c) = self.call.as_mut() {
                    c.state = CallState::Reconnecting;
                }
                self.emit_call();
            }
            CallOut::Chat { from, text } => {
                let from = from.or_else(|| self.call.as_ref().map(|c| c.peer.clone())).unwrap_or_default();
                self.emit(Event::Chat { from, text });
            }
            CallOut::Stats(stats) => {
                if let Some(c) = &self.call {
                    self.emit(Event::Stats { peer: c.peer.clone(), path: c.path, stats });
                }
            }
            CallOut::VideoStarted(width, height) => {
                if let Some(c) = &self.call {
                    self.emit(Event::VideoStarted { peer: c.peer.clone(), width, height });
                }
            }
            CallOut::Snapshot(Ok((path, width, height))) => self.emit(Event::Snapshot { path, width, height }),
            CallOut::Snapshot(Err(why)) => self.emit(Event::error("snapshot_failed", why)),
            CallOut::Warning(code @ call::NO_COMMON_VIDEO_CODEC, why) => {
                let peer = self.call.as_ref().map_or("the other side", |c| c.peer.as_str());
                self.emit(Event::error(code, format!("no common video codec with {peer}: {why}")));
            }
            CallOut::Warning(code, why) => self.emit(Event::error(code, why)),
            CallOut::Failed(why) => {
                self.emit(Event::error("media_failed", why));
                self.hangup("media_failed").await;
            }
        }
    }
}
