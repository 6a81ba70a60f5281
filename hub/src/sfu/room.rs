//! One call through the hub, in a task of its own: a peer connection per participant, the
//! tracks that carry each participant's media to each other one, the forwarding loops
//! between them, and chat. [`negotiation`] follows joins and leaves with offers; [`outlets`]
//! makes the tracks that carry one participant's media to another.

mod negotiation;
mod outlets;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use termcall_shared::media::codecs::{self, VideoCodec};
use termcall_shared::names::ECHO_USER;
use termcall_shared::{CallId, Signal};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState};
use webrtc::rtp_transceiver::RtpTransceiver;

use super::receiver::ReceiverLink;
use outlets::{outlets, Outlet, Views};
use super::forward::{self, Upstream};
use super::peer::{self, PeerEvent};
use super::{chat, SfuOut, SfuSettings};
use crate::core::ConnId;
use crate::metrics::Metrics;
use crate::rate::Bucket;

/// Chat lines kept for a participant whose data channel is not open yet.
const UNSENT_CHAT: usize = 64;
/// Chat messages a participant may send a second, and at once above that; more are dropped.
const CHAT_RATE: u64 = 20;
const CHAT_BURST: u64 = 50;
/// Data-channel events waiting for the room; past this the readers wait (and SCTP pushes back).
const DC_QUEUE: usize = 256;
/// A participant that has not answered an offer after this long is taken out of the call.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// What the room's task is told.
#[derive(Debug)]
pub enum RoomCmd {
    Join { conn: ConnId, name: String, echo: bool, ask_simulcast: bool },
    Leave { conn: ConnId },
    Signal { conn: ConnId, signal: Signal },
}

enum DcEvent {
    Open,
    Message(Bytes),
    Closed,
}

struct Participant {
    name: String,
    /// Its downlink, shared by the queues of what it receives.
    receiver: Arc<ReceiverLink>,
    pc: Arc<dyn PeerConnection>,
    dc: Arc<dyn DataChannel>,
    dc_open: bool,
    unsent: VecDeque<String>,
    /// Who receives this participant's media.
    upstream: Upstream,
    /// The tracks on this participant's connection, by whose media they carry.
    outlets: HashMap<ConnId, [Outlet; 2]>,
    /// The offer that awaits its answer was sent then.
    awaiting_answer: Option<Instant>,
    /// Something changed while an offer awaited its answer: offer again after it.
    again: bool,
    remote_set: bool,
    early_candidates: Vec<RTCIceCandidateInit>,
    /// Chat allowance.
    chat: Bucket,
    /// What it shows of the others' video.
    views: Views,
    /// It refused video (no codec in common): the video tracks on its connection come off it
    /// as soon as they are made, and nothing is forwarded into them.
    no_video: bool,
    /// The video codecs it takes, from its first answer (in the hub's order).
    takes: Option<Vec<VideoCodec>>,
    /// The transceiver its own video comes in on: its offer puts the room's codec first, and
    /// offers only that one to a participant that takes it but chose another.
    upload_video: Arc<dyn RtpTransceiver>,
    /// The codecs offered for its own video now, in that order.
    upload: Vec<VideoCodec>,
    /// The codec it said it sends in (the first of ours in its answer's sending section).
    sends: Option<VideoCodec>,
    /// It was told (in the log) that it does not take the room's codec.
    told_no_common: bool,
    /// Its offers ask for its own video as simulcast layers (a browser sends them only then).
    ask_simulcast: bool,
}

impl Participant {
    /// The codec to describe a new video outlet to it in: the room's, unless it is known not
    /// to take that; `None` when it takes no video.
    fn outlet_codec(&self, room: VideoCodec) -> Option<VideoCodec> {
        if self.no_video {
            return None;
        }
        match &self.takes {
            Some(t) if !t.contains(&room) => t.first().copied(),
            _ => Some(room),
        }
    }
}

struct Room {
    call_id: CallId,
    participants: HashMap<ConnId, Participant>,
    settings: Arc<SfuSettings>,
    metrics: Arc<Metrics>,
    out: mpsc::UnboundedSender<SfuOut>,
    peer_events: mpsc::UnboundedSender<(ConnId, PeerEvent)>,
    dc_events: mpsc::Sender<(ConnId, DcEvent)>,
    echo: bool,
    /// The video codec the room's media goes in ([`super::codec`]).
    codec: VideoCodec,
}

/// Runs a room until its last participant leaves or the hub drops it.
pub async fn run(call_id: CallId, mut cmds: mpsc::UnboundedReceiver<RoomCmd>, settings: Arc<SfuSettings>, metrics: Arc<Metrics>, out: mpsc::UnboundedSender<SfuOut>) {
    let (peer_events, mut peer_rx) = mpsc::unbounded_channel();
    let (dc_events, mut dc_rx) = mpsc::channel(DC_QUEUE);
    let mut room = Room { call_id, participants: HashMap::new(), settings, metrics, out, peer_events, dc_events, echo: false, codec: VideoCodec::H264 };
    let mut answers_due = tokio::time::interval(Duration::from_secs(1));
    answers_due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None => break,
                Some(RoomCmd::Join { conn, name, echo, ask_simulcast }) => {
                    room.echo = echo;
                    if let Err(e) = room.join(conn, name.clone(), ask_simulcast).await {
                        warn!(call = call_id, %name, "cannot open the media connection: {e:#}");
                        // Undo what was wired, and end this participant's part of the call.
                        room.leave(conn).await;
                        let _ = room.out.send(SfuOut::Failed { call_id, conn, why: format!("the hub could not set up the media of this call: {e:#}") });
                    }
                }
                Some(RoomCmd::Leave { conn }) => {
                    room.leave(conn).await;
                    if room.participants.is_empty() {
                        break;
                    }
                }
                Some(RoomCmd::Signal { conn, signal }) => room.on_signal(conn, signal).await,
            },
            Some((conn, e)) = peer_rx.recv() => room.on_peer_event(conn, e).await,
            Some((conn, d)) = dc_rx.recv() => room.on_dc_event(conn, d).await,
            _ = answers_due.tick() => {
                if room.expire_offers(Instant::now()).await && room.participants.is_empty() {
                    break;
                }
            }
        }
    }
    let conns: Vec<ConnId> = room.participants.keys().copied().collect();
    for conn in conns {
        room.leave(conn).await;
    }
    debug!(call = call_id, "media room closed");
}

impl Room {
    async fn join(&mut self, conn: ConnId, name: String, ask_simulcast: bool) -> anyhow::Result<()> {
        if self.participants.contains_key(&conn) {
            return Ok(());
        }
        // A place under --max-media-peers first; `leave` gives it back once in the room.
        let max = self.settings.max_peers;
        if self.metrics.sfu_peers.fetch_update(Relaxed, Relaxed, |n| (n < max as u64).then_some(n + 1)).is_err() {
            Metrics::add(&self.metrics.sfu_peers_refused_total, 1);
            anyhow::bail!("the hub's media endpoint is full ({max} connections, --max-media-peers); try again later");
        }
        let built = async {
            let (pc, link) = peer::build(&self.settings, conn, self.peer_events.clone()).await?;
            match prepare(&pc, self.codec).await {
                Ok(made) => anyhow::Ok((pc, link, made)),
                Err(e) => {
                    let _ = pc.close().await;
                    Err(e)
                }
            }
        };
        let (pc, link, (dc, upload_video)) = match built.await {
            Ok(made) => made,
            Err(e) => {
                self.metrics.sfu_peers.fetch_sub(1, Relaxed);
                return Err(e);
            }
        };
        self.read_channel(conn, dc.clone());
        let p = Participant {
            receiver: Arc::new(ReceiverLink::new(link, self.metrics.receivers.of(&name))),
            name: name.clone(),
            pc,
            dc,
            dc_open: false,
            unsent: VecDeque::new(),
            upstream: Upstream::default(),
            outlets: HashMap::new(),
            awaiting_answer: None,
            again: false,
            remote_set: false,
            early_candidates: Vec::new(),
            chat: Bucket::with_burst_count(CHAT_RATE, CHAT_BURST),
            views: Views::default(),
            no_video: false,
            takes: None,
            upload_video,
            upload: super::codec::ordered(self.codec),
            sends: None,
            told_no_common: false,
            ask_simulcast,
        };
        // In the room from here on, so that a failure below is undone by `leave`.
        self.participants.insert(conn, p);
        let mut renegotiate = Vec::new();
        let others: Vec<ConnId> = self.participants.keys().copied().filter(|c| *c != conn).collect();
        // Each set of outlets is recorded as soon as it exists, so that `leave` finds it.
        if self.echo {
            let p = &self.participants[&conn];
            let own = outlets(&p.pc, &p.receiver, ECHO_USER, &p.upstream, p.views.of(ECHO_USER), p.outlet_codec(self.codec), &self.metrics).await?;
            if let Some(p) = self.participants.get_mut(&conn) {
                p.outlets.insert(conn, own);
            }
        } else {
            for other_conn in others {
                let (Some(p), Some(other)) = (self.participants.get(&conn), self.participants.get(&other_conn)) else { continue };
                let theirs = outlets(&p.pc, &p.receiver, &other.name, &other.upstream, p.views.of(&other.name), p.outlet_codec(self.codec), &self.metrics).await?;
                if let Some(p) = self.participants.get_mut(&conn) {
                    p.outlets.insert(other_conn, theirs);
                }
                let (Some(p), Some(other)) = (self.participants.get(&conn), self.participants.get(&other_conn)) else { continue };
                let ours = outlets(&other.pc, &other.receiver, &name, &p.upstream, other.views.of(&name), other.outlet_codec(self.codec), &self.metrics).await?;
                if let Some(other) = self.participants.get_mut(&other_conn) {
                    other.outlets.insert(conn, ours);
                }
                renegotiate.push(other_conn);
            }
        }
        info!(call = self.call_id, %name, participants = self.participants.len(), "joined the media room");
        self.negotiate(conn).await;
        for c in renegotiate {
            self.negotiate(c).await;
        }
        Ok(())
    }

    async fn leave(&mut self, conn: ConnId) {
        let Some(p) = self.participants.remove(&conn) else { return };
        let mut renegotiate = Vec::new();
        for (&other_conn, other) in self.participants.iter_mut() {
            // What carried the leaver's media to this one goes; so does the other way.
            if let Some(outlets) = other.outlets.remove(&conn) {
                other.receiver.video_streams.fetch_sub(1, Relaxed);
                for o in &outlets {
                    if let Err(e) = other.pc.remove_track(&o.sender).await {
                        debug!("removing a track: {e}");
                    }
                }
                renegotiate.push(other_conn);
            }
            if let Some(outlets) = p.outlets.get(&other_conn) {
                other.upstream.remove(&[outlets[0].track.clone(), outlets[1].track.clone()]);
            }
        }
        info!(call = self.call_id, name = %p.name, participants = self.participants.len(), "left the media room");
        self.metrics.sfu_peers.fetch_sub(1, Relaxed);
        let pc = p.pc.clone();
        drop(p); // ends the leaver's forwarding loops
        tokio::spawn(async move {
            let _ = pc.close().await;
        });
        for c in renegotiate {
            self.negotiate(c).await;
        }
        // Who left may have been the one the room's codec was for.
        self.choose_codec().await;
    }

    async fn on_peer_event(&mut self, conn: ConnId, e: PeerEvent) {
        let Some(p) = self.participants.get(&conn) else { return };
        match e {
            PeerEvent::Candidate(c) => self.signal(conn, c),
            PeerEvent::Track(track) => {
                let kind = track.kind().await;
                let sinks = p.upstream.sinks(kind).subscribe();
                debug!(call = self.call_id, name = %p.name, ?kind, "forwarding a track");
                let (out, call_id) = (self.out.clone(), self.call_id);
                let tell: forward::Tell = Arc::new(move |signal| {
                    let _ = out.send(SfuOut::Signal { call_id, conn, signal });
                });
                let link = forward::SenderLink { keyframe: p.upstream.keyframe.clone(), full_size: p.upstream.full_size.clone(), tell };
                tokio::spawn(forward::run(track, sinks, link, self.metrics.clone()));
            }
            PeerEvent::State(state) => {
                debug!(call = self.call_id, name = %p.name, "media connection {state}");
                if state == RTCPeerConnectionState::Failed {
                    warn!(call = self.call_id, name = %p.name, "media connection failed; waiting for an ICE restart or a hangup");
                }
            }
            PeerEvent::DataChannel(_) => debug!(call = self.call_id, "a data channel the client opened: ignored, chat is on ours"),
        }
    }

    fn read_channel(&self, conn: ConnId, dc: Arc<dyn DataChannel>) {
        let tx = self.dc_events.clone();
        tokio::spawn(async move {
            while let Some(ev) = dc.poll().await {
                let d = match ev {
                    DataChannelEvent::OnOpen => DcEvent::Open,
                    DataChannelEvent::OnMessage(m) => DcEvent::Message(m.data.into()),
                    DataChannelEvent::OnClose => DcEvent::Closed,
                    _ => continue,
                };
                if tx.send((conn, d)).await.is_err() {
                    return;
                }
            }
        });
    }

    async fn on_dc_event(&mut self, conn: ConnId, d: DcEvent) {
        match d {
            DcEvent::Open => {
                let Some(p) = self.participants.get_mut(&conn) else { return };
                p.dc_open = true;
                while let Some(text) = p.unsent.pop_front() {
                    if let Err(e) = p.dc.try_send_text(&text).await {
                        debug!("chat not delivered: {e}");
                    }
                }
            }
            DcEvent::Closed => {
                if let Some(p) = self.participants.get_mut(&conn) {
                    p.dc_open = false;
                }
            }
            DcEvent::Message(raw) => {
                let Some(sender) = self.participants.get(&conn) else { return };
                if !sender.chat.take(1, std::time::Instant::now()) {
                    return debug!(call = self.call_id, name = %sender.name, "chat over the rate: dropped");
                }
                let from = if self.echo { ECHO_USER } else { sender.name.as_str() };
                let text = match chat::stamp(&raw, from) {
                    Ok(t) => t,
                    Err(why) => return warn!(call = self.call_id, name = %sender.name, "chat dropped: {why}"),
                };
                let targets: Vec<ConnId> = if self.echo { vec![conn] } else { self.participants.keys().copied().filter(|c| *c != conn).collect() };
                for c in targets {
                    let Some(p) = self.participants.get_mut(&c) else { continue };
                    if p.dc_open {
                        match p.dc.try_send_text(&text).await {
                            Ok(()) => Metrics::add(&self.metrics.sfu_chat_forwarded_total, 1),
                            Err(e) => debug!("chat not delivered: {e}"),
                        }
                    } else if p.unsent.len() < UNSENT_CHAT {
                        p.unsent.push_back(text.clone());
                    }
                }
            }
        }
    }
}

/// Makes a new participant's connection ready for its first offer: the transceivers its own
/// media comes in on (video: every codec the hub has, the room's `codec` first), and the
/// chat channel.
async fn prepare(pc: &Arc<dyn PeerConnection>, codec: VideoCodec) -> anyhow::Result<(Arc<dyn DataChannel>, Arc<dyn RtpTransceiver>)> {
    let init = || RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
    pc.add_transceiver_from_kind(RtpCodecKind::Audio, Some(init())).await?;
    let video = pc.add_transceiver_from_kind(RtpCodecKind::Video, Some(init())).await?;
    video.set_codec_preferences(codecs::preferences(codecs::Repairs::InBand, &super::codec::ordered(codec))).await?;
    Ok((pc.create_data_channel("chat", None).await?, video))
}
