//! The hub's state machine: the roster and the calls. Pure and synchronous, so that it can be
//! tested and fuzzed without sockets: every input returns what to send to whom in an [`Outbox`].
//!
//! This file: who is online (join, leave, the batched roster), and each message's way in.
//! - `call`: calls between two people: ringing, answering, ending, adopted again.
//! - `room`: calls whose media goes through the hub: group calls and `echo`.
//! - `cluster`: users of other hubs, and calls that live on another hub (`--cluster`).
//! - `invariants`: what must always hold, checked after every input by the tests and fuzzers.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use termcall_shared::names::{validate_name, ECHO_USER};

use crate::ice::IceDirectory;
use termcall_shared::{
    CallClaim, CallEndReason, Callees, CallId, ClientMsg, ErrorCode, ServerMsg, UserInfo, UserState,
    PROTOCOL_VERSION,
};

mod call;
mod cluster;
mod invariants;
mod room;
use call::Call;
pub use cluster::{NodeId, REMOTE_CONN_BASE};
use cluster::{is_remote, Away, Cluster, Remote};
pub use room::MediaCmd;
use room::Room;

/// The most people in a group call unless the hub is told otherwise (`--max-group`).
pub const DEFAULT_MAX_GROUP: usize = 8;

/// How long a claim to a call that outlived a hub restart waits for the other party.
pub const RESUME_WAIT: Duration = Duration::from_secs(30);

/// Users listed in one welcome (or one of the roster messages that complete it).
pub const WELCOME_CHUNK: usize = 200;

/// One WebSocket connection, numbered by the server as it accepts it.
pub type ConnId = u64;

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    One(ConnId),
    /// Everyone registered.
    Everyone,
}

/// What an input produced: messages to deliver, in order, and connections to close after them.
#[derive(Debug, Default)]
pub struct Outbox {
    pub deliveries: Vec<(Target, ServerMsg)>,
    /// Connections the hub has dropped (replaced by a newer login): close them once their
    /// messages are sent.
    pub closes: Vec<ConnId>,
    /// Work for the hub's media endpoint (group calls and `echo`), in order.
    pub media: Vec<MediaCmd>,
    /// For other hubs of the cluster, in order: messages of calls that live on another hub
    /// than one of their parties (see [`termcall_shared::cluster`]).
    pub relay: Vec<(NodeId, termcall_shared::cluster::Relay)>,
    /// This hub's users who joined, changed or left, for the other hubs (by name; `None`:
    /// gone), gathered like the roster and published with it.
    pub presence: Vec<(String, Option<termcall_shared::cluster::Presence>)>,
}

impl Outbox {
    fn to(&mut self, conn: ConnId, msg: ServerMsg) {
        self.deliveries.push((Target::One(conn), msg));
    }
    fn everyone(&mut self, msg: ServerMsg) {
        self.deliveries.push((Target::Everyone, msg));
    }
    fn error(&mut self, conn: ConnId, code: ErrorCode, message: impl Into<String>, call_id: Option<CallId>) {
        self.to(conn, ServerMsg::Error { code, message: message.into(), call_id });
    }
}

struct Member {
    name: String,
    call: Option<CallId>,
    /// The call this member says it still has, after a hub restart, and since when.
    resume: Option<(CallClaim, Instant)>,
    /// Its video comes as simulcast layers through the hub only if the offer asks.
    ask_simulcast: bool,
    /// A user of another hub of the cluster, as its hub says it is.
    remote: Option<Remote>,
    /// The call this user (of this hub) is in lives on another hub.
    away: Option<Away>,
}

/// A hello the connection has already checked (size, secret): what the hub decides on.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub version: u32,
    pub name: String,
    /// The hub has access control and the secret was right: a login under a name that is
    /// online replaces the older connection instead of being refused.
    pub authenticated: bool,
    /// The hello's `in_call_with`.
    pub in_call_with: Option<CallClaim>,
    /// The hello's `ask_simulcast`.
    pub ask_simulcast: bool,
}

/// The hub's whole state: who is online and who is calling whom.
pub struct Hub {
    members: HashMap<ConnId, Member>,
    by_name: BTreeMap<String, ConnId>,
    calls: HashMap<CallId, Call>,
    /// Calls whose media the hub carries: group calls and calls to `echo`.
    rooms: HashMap<CallId, Room>,
    /// The most people in one group call.
    max_group: usize,
    next_call: CallId,
    ice: IceDirectory,
    ring_timeout: Duration,
    /// Roster changes not yet announced, by name: the newest state, or `None` for gone.
    /// Sent as one message by [`Hub::flush_roster`], so that a mass join costs each client
    /// a few messages rather than one per joiner.
    roster_delta: BTreeMap<String, Option<UserInfo>>,
    /// The other hubs, with `--cluster`.
    cluster: Option<Cluster>,
}

impl Hub {
    /// Numbers calls from `first` on; the server starts from the clock, so that a restarted
    /// hub does not hand out the ids its clients still hold for calls it has forgotten.
    pub fn first_call_id(mut self, first: CallId) -> Self {
        self.next_call = first.max(1);
        self
    }

    /// Allows group calls of up to `n` people (at least 2, at most one more than a call may list).
    pub fn max_group(mut self, n: usize) -> Self {
        self.max_group = n.clamp(2, termcall_shared::limits::MAX_CALLEES + 1);
        self
    }

    /// A hub that tells every client its ICE servers from `ice` and gives up ringing after `ring_timeout`.
    pub fn new(ice: IceDirectory, ring_timeout: Duration) -> Self {
        Hub {
            members: HashMap::new(),
            by_name: BTreeMap::new(),
            calls: HashMap::new(),
            rooms: HashMap::new(),
            max_group: DEFAULT_MAX_GROUP,
            next_call: 1,
            ice,
            ring_timeout,
            roster_delta: BTreeMap::new(),
            cluster: None,
        }
    }

    /// How many users are online.
    pub fn online(&self) -> usize {
        self.members.len() - self.cluster.as_ref().map_or(0, |c| c.remotes)
    }

    /// How many calls are ringing or connected, group calls included.
    pub fn calls(&self) -> usize {
        self.calls.len() + self.rooms.len()
    }

    /// Registers a connection under a name. On refusal returns the code and a message;
    /// the caller sends them and closes the connection.
    pub fn join(&mut self, conn: ConnId, req: JoinRequest, out: &mut Outbox) -> Result<(), (ErrorCode, String)> {
        let JoinRequest { version, name, authenticated, in_call_with, ask_simulcast } = req;
        if version != PROTOCOL_VERSION {
            return Err((ErrorCode::BadVersion, format!("this hub speaks protocol {PROTOCOL_VERSION}, not {version}")));
        }
        validate_name(&name).map_err(|why| (ErrorCode::BadName, why))?;
        if self.members.contains_key(&conn) {
            return Err((ErrorCode::BadMessage, "this connection is already registered".into()));
        }
        let mut handed_over = None;
        if self.by_name.contains_key(&name) && !authenticated {
            return Err((ErrorCode::NameTaken, format!("{name} is already online")));
        }
        if let Some(&older) = self.by_name.get(&name).filter(|c| is_remote(**c)) {
            // Logged in on another hub of the cluster: that hub closes it, and it leaves here now
            // (its call between two waits to be claimed, if this login names one).
            self.kick_remote(older, in_call_with.is_some(), out);
        } else if let Some(&older) = self.by_name.get(&name) {
            out.error(older, ErrorCode::Replaced, format!("{name} logged in again elsewhere; this connection is closed"), None);
            out.closes.push(older);
            handed_over = self.hand_over(older, conn, in_call_with.as_ref());
            if handed_over.is_none() {
                self.leave(older, out);
            }
        }
        // Everyone else: after a hand-over the name is still mapped to the older connection.
        // `echo` is always there to call, first.
        let echo = UserInfo::new(ECHO_USER, UserState::Idle);
        let mut users: Vec<UserInfo> = std::iter::once(echo).chain(self.by_name.keys().filter(|n| **n != name).map(|n| self.info_by_name(n))).collect();
        // A welcome lists at most WELCOME_CHUNK users; the rest follow as roster messages of the
        // same size, so that no message (and no connection's write buffer) grows with the team.
        let rest: Vec<Vec<UserInfo>> = if users.len() > WELCOME_CHUNK {
            users.split_off(WELCOME_CHUNK).chunks(WELCOME_CHUNK).map(<[UserInfo]>::to_vec).collect()
        } else {
            Vec::new()
        };
        match self.members.entry(conn) {
            std::collections::hash_map::Entry::Vacant(v) => {
                let resume = in_call_with.filter(|c| c.peer != name && !c.token.is_empty()).map(|c| (c, Instant::now()));
                v.insert(Member { name: name.clone(), call: None, resume, ask_simulcast, remote: None, away: None });
            }
            // Handed over: this connection's hello decides.
            std::collections::hash_map::Entry::Occupied(mut m) => m.get_mut().ask_simulcast = ask_simulcast,
        }
        self.by_name.insert(name.clone(), conn);
        out.to(conn, ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            ice_servers: self.ice.for_user(&name),
            name: name.clone(),
            users,
            turn_stream: self.ice.turn_stream(),
        });
        for joined in rest {
            out.to(conn, ServerMsg::Roster { joined, left: vec![], changed: vec![] });
        }
        if let Some(resumed) = handed_over {
            out.to(conn, resumed);
        }
        self.announce_states(&[conn]);
        self.try_resume(conn, out);
        Ok(())
    }

    /// A connection closed or stopped answering: end its call and drop it from the roster.
    pub fn leave(&mut self, conn: ConnId, out: &mut Outbox) {
        let Some(member) = self.members.get(&conn) else { return };
        if let Some(call_id) = member.call {
            if self.rooms.contains_key(&call_id) {
                self.leave_room(conn, call_id, CallEndReason::PeerGone, out);
            } else {
                self.end_call(call_id, conn, CallEndReason::PeerGone, out);
            }
        }
        if let Some(member) = self.members.remove(&conn) {
            self.by_name.remove(&member.name);
            self.forget(&member);
            self.roster_delta.insert(member.name, None);
        }
    }

    /// Sends the roster changes gathered since the last flush as one message to everyone.
    /// The actor calls it while changes are pending, at most every [`crate::actor::ROSTER_INTERVAL`].
    pub fn flush_roster(&mut self, out: &mut Outbox) {
        self.flush_presence(out);
        if self.roster_delta.is_empty() {
            return;
        }
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        for (name, info) in std::mem::take(&mut self.roster_delta) {
            match info {
                Some(info) => joined.push(info),
                None => left.push(name),
            }
        }
        out.everyone(ServerMsg::Roster { joined, left, changed: vec![] });
    }

    /// Whether roster changes are waiting for [`Hub::flush_roster`].
    pub fn roster_pending(&self) -> bool {
        !self.roster_delta.is_empty() || self.cluster.as_ref().is_some_and(Cluster::pending)
    }

    /// The hub is stopping: everyone in a call is told so.
    pub fn shutdown(&mut self, out: &mut Outbox) {
        // In a cluster, calls between two people go on: their parties claim them again on the
        // hubs they move to. (Alone, the hub tells them, and they claim them when it is back.)
        let keep_calls = self.cluster.is_some();
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            if let Some(call) = self.calls.remove(&id).filter(|c| !keep_calls || !c.accepted) {
                for (me, other) in [(call.caller, call.callee), (call.callee, call.caller)] {
                    let peer = self.name_of(other);
                    out.to(me, ServerMsg::CallEnded { call_id: id, peer, reason: CallEndReason::HubShutdown });
                }
            }
        }
        let rooms: Vec<CallId> = self.rooms.keys().copied().collect();
        for id in rooms {
            self.end_room(id, "", CallEndReason::HubShutdown, out);
        }
        let everyone: Vec<ConnId> = self.members.keys().copied().collect();
        for conn in everyone {
            out.error(conn, ErrorCode::ShuttingDown, "the hub is shutting down", None);
        }
    }

    /// A message from a registered connection.
    pub fn handle(&mut self, conn: ConnId, msg: ClientMsg, out: &mut Outbox) {
        if !self.members.contains_key(&conn) {
            out.error(conn, ErrorCode::NotRegistered, "send a hello first", None);
            return;
        }
        // A message about a call that lives on another hub goes there.
        let Some(msg) = self.route_away(conn, msg, out) else { return };
        match msg {
            ClientMsg::Hello { .. } => out.error(conn, ErrorCode::BadMessage, "already registered; hello comes once", None),
            ClientMsg::Call { to } => {
                if self.members[&conn].call.is_some() {
                    return out.error(conn, ErrorCode::Busy, "you are already in a call; hang up first", None);
                }
                if is_remote(conn) {
                    // A user's calls start on their own hub, which places rooms itself.
                    return;
                }
                match to {
                    Callees::One(name) if name == ECHO_USER => self.place_room(conn, Callees::One(name), out),
                    Callees::One(name) => self.call(conn, &name, out),
                    Callees::Group(names) => {
                        if let Err(refusal) = self.check_group(&names) {
                            return out.error(conn, refusal.0, refusal.1, None);
                        }
                        self.place_room(conn, Callees::Group(names), out)
                    }
                }
            }
            ClientMsg::Invite { call_id, to } => self.invite(conn, call_id, &to, out),
            ClientMsg::Accept { call_id } if self.rooms.contains_key(&call_id) => self.accept_room(conn, call_id, out),
            ClientMsg::Accept { call_id } => self.accept(conn, call_id, out),
            ClientMsg::Decline { call_id } | ClientMsg::Hangup { call_id }
                if self.rooms.get(&call_id).is_some_and(|r| r.has(conn)) =>
            {
                let reason = if matches!(msg, ClientMsg::Decline { .. }) { CallEndReason::Declined } else { CallEndReason::PeerHangup };
                self.leave_room(conn, call_id, reason, out);
            }
            ClientMsg::Signal { call_id, signal } if self.rooms.contains_key(&call_id) => self.signal_room(conn, call_id, signal, out),
            ClientMsg::Decline { call_id } => match self.party_call(conn, call_id) {
                Some(call) if call.callee == conn && !call.accepted => {
                    self.end_call(call_id, conn, CallEndReason::Declined, out)
                }
                _ => out.error(conn, ErrorCode::NotInCall, "no call of yours is ringing with that id", Some(call_id)),
            },
            ClientMsg::Hangup { call_id } => match self.party_call(conn, call_id) {
                Some(_) => self.end_call(call_id, conn, CallEndReason::PeerHangup, out),
                // The call it claimed after a hub restart is over on its side.
                None if self.members.get(&conn).is_some_and(|m| m.resume.is_some()) => self.drop_claim(conn),
                None => out.error(conn, ErrorCode::NotInCall, "you are not in that call", Some(call_id)),
            },
            ClientMsg::Signal { call_id, signal } => match self.party_call(conn, call_id) {
                Some(call) if call.accepted => {
                    let to = call.other(conn);
                    let from = self.name_of(conn);
                    out.to(to, ServerMsg::Signal { call_id, from, signal });
                }
                _ => out.error(conn, ErrorCode::NotInCall, "signals go only to the other party of an accepted call", Some(call_id)),
            },
        }
    }

    /// Ends calls that rang too long, and drops claims whose other party never came back.
    /// Call it about once a second.
    pub fn tick(&mut self, now: Instant, out: &mut Outbox) {
        let stale: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| m.resume.as_ref().is_some_and(|(_, since)| now.duration_since(*since) >= RESUME_WAIT))
            .map(|(c, _)| *c)
            .collect();
        for conn in stale {
            self.drop_claim(conn);
        }
        self.expire_invitations(now, out);
        let expired: Vec<(CallId, ConnId)> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.accepted && now.duration_since(c.rang_at) >= self.ring_timeout)
            .map(|(id, c)| (*id, c.caller))
            .collect();
        for (id, caller) in expired {
            if let Some(call) = self.calls.get(&id) {
                let callee = call.callee;
                let callee_name = self.name_of(callee);
                let caller_name = self.name_of(caller);
                out.to(callee, ServerMsg::CallEnded { call_id: id, peer: caller_name, reason: CallEndReason::Timeout });
                out.to(caller, ServerMsg::CallEnded { call_id: id, peer: callee_name, reason: CallEndReason::Timeout });
                self.remove_call(id);
            }
        }
    }

    fn take_call_id(&mut self) -> CallId {
        let id = self.next_call;
        self.next_call += 1;
        id
    }

    /// `conn` is in call (or room) `call_id` now; any claim to an older call is dropped.
    fn enter_call(&mut self, conn: ConnId, call_id: CallId) {
        if let Some(m) = self.members.get_mut(&conn) {
            m.call = Some(call_id);
            m.resume = None;
        }
    }

    /// `conn` is in no call now; the roster is told.
    fn leave_call(&mut self, conn: ConnId) {
        if let Some(m) = self.members.get_mut(&conn) {
            m.call = None;
        }
        self.announce_states(&[conn]);
    }

    /// Queues the parties' new states for the next roster message.
    /// A user of another hub is announced by that hub, not this one.
    fn announce_states(&mut self, parties: &[ConnId]) {
        for c in parties {
            if let Some(m) = self.members.get(c).filter(|m| m.remote.is_none()) {
                let info = self.info_by_name(&m.name);
                if let Some(cluster) = &mut self.cluster {
                    cluster.publish(info.clone(), m.ask_simulcast);
                }
                self.roster_delta.insert(info.name.clone(), Some(info));
            }
        }
    }

    /// In a call or claiming one: not free to be rung. A user of another hub is also busy
    /// when that hub says so.
    fn busy(&self, conn: ConnId) -> bool {
        self.members.get(&conn).is_none_or(|m| {
            m.call.is_some() || m.resume.is_some() || m.remote.as_ref().is_some_and(|r| r.info.state != UserState::Idle)
        })
    }

    fn name_of(&self, conn: ConnId) -> String {
        self.members.get(&conn).map(|m| m.name.clone()).unwrap_or_default()
    }

    /// A participant of a call through the hub, as the media side is told of it.
    fn joining(&self, call_id: CallId, conn: ConnId, echo: bool) -> MediaCmd {
        let ask_simulcast = self.members.get(&conn).is_some_and(|m| m.ask_simulcast);
        MediaCmd::Join { call_id, conn, name: self.name_of(conn), echo, ask_simulcast }
    }

    fn info_by_name(&self, name: &str) -> UserInfo {
        let conn = self.by_name.get(name).copied();
        let member = conn.and_then(|c| self.members.get(&c));
        if let Some(m) = member {
            if let Some(remote) = &m.remote {
                return remote.info.clone();
            }
            if let (Some(away), Some(id)) = (&m.away, m.call) {
                let state = if away.accepted { UserState::InCall } else { UserState::Ringing };
                return UserInfo { name: name.to_owned(), state, call: away.group.then_some(id) };
            }
        }
        let call = member.and_then(|m| m.call);
        if let Some((id, room)) = call.and_then(|id| self.rooms.get(&id).map(|r| (id, r))) {
            let joined = conn.is_some_and(|c| room.is_joined(c));
            let state = if joined { UserState::InCall } else { UserState::Ringing };
            return UserInfo { name: name.to_owned(), state, call: (!room.echo).then_some(id) };
        }
        let state = match call.and_then(|id| self.calls.get(&id)) {
            Some(c) if c.accepted => UserState::InCall,
            Some(_) => UserState::Ringing,
            // Back after a hub restart, in a call the hub has not adopted again yet.
            None if member.is_some_and(|m| m.resume.is_some()) => UserState::InCall,
            None => UserState::Idle,
        };
        UserInfo::new(name, state)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod cluster_tests;
