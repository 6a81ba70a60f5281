//! The hub's state machine: the roster and the calls. Pure and synchronous, so that it can be
//! tested and fuzzed without sockets: every input returns what to send to whom in an [`Outbox`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use termcall_shared::names::validate_name;

use crate::ice::IceDirectory;
use termcall_shared::{
    CallEndReason, CallId, ClientMsg, ErrorCode, ServerMsg, UserInfo, UserState,
    PROTOCOL_VERSION,
};

/// One WebSocket connection, numbered by the server as it accepts it.
pub type ConnId = u64;

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    One(ConnId),
    /// Everyone registered.
    Everyone,
}

/// What an input produced: messages to deliver, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    pub deliveries: Vec<(Target, ServerMsg)>,
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
}

struct Call {
    caller: ConnId,
    callee: ConnId,
    accepted: bool,
    rang_at: Instant,
}

impl Call {
    fn other(&self, me: ConnId) -> ConnId {
        if me == self.caller { self.callee } else { self.caller }
    }
}

/// The hub's whole state: who is online and who is calling whom.
pub struct Hub {
    members: HashMap<ConnId, Member>,
    by_name: BTreeMap<String, ConnId>,
    calls: HashMap<CallId, Call>,
    next_call: CallId,
    ice: IceDirectory,
    ring_timeout: Duration,
}

impl Hub {
    /// A hub that tells every client its ICE servers from `ice` and gives up ringing after `ring_timeout`.
    pub fn new(ice: IceDirectory, ring_timeout: Duration) -> Self {
        Hub {
            members: HashMap::new(),
            by_name: BTreeMap::new(),
            calls: HashMap::new(),
            next_call: 1,
            ice,
            ring_timeout,
        }
    }

    /// How many users are online.
    pub fn online(&self) -> usize {
        self.members.len()
    }

    /// How many calls are ringing or connected.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Registers a connection under a name. On refusal returns the code and a message;
    /// the caller sends them and closes the connection.
    pub fn join(&mut self, conn: ConnId, version: u32, name: &str, out: &mut Outbox) -> Result<(), (ErrorCode, String)> {
        if version != PROTOCOL_VERSION {
            return Err((ErrorCode::BadVersion, format!("this hub speaks protocol {PROTOCOL_VERSION}, not {version}")));
        }
        validate_name(name).map_err(|why| (ErrorCode::BadName, why))?;
        if self.by_name.contains_key(name) {
            return Err((ErrorCode::NameTaken, format!("{name} is already online")));
        }
        if self.members.contains_key(&conn) {
            return Err((ErrorCode::BadMessage, "this connection is already registered".into()));
        }
        let users = self.by_name.keys().map(|n| self.info_by_name(n)).collect();
        self.members.insert(conn, Member { name: name.to_owned(), call: None });
        self.by_name.insert(name.to_owned(), conn);
        out.to(conn, ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            ice_servers: self.ice.for_user(name),
            users,
        });
        out.everyone(ServerMsg::Roster {
            joined: vec![UserInfo { name: name.to_owned(), state: UserState::Idle }],
            left: vec![],
            changed: vec![],
        });
        Ok(())
    }

    /// A connection closed or stopped answering: end its call and drop it from the roster.
    pub fn leave(&mut self, conn: ConnId, out: &mut Outbox) {
        let Some(member) = self.members.get(&conn) else { return };
        if let Some(call_id) = member.call {
            self.end_call(call_id, conn, CallEndReason::PeerGone, out);
        }
        if let Some(member) = self.members.remove(&conn) {
            self.by_name.remove(&member.name);
            out.everyone(ServerMsg::Roster { joined: vec![], left: vec![member.name], changed: vec![] });
        }
    }

    /// The hub is stopping: everyone in a call is told so.
    pub fn shutdown(&mut self, out: &mut Outbox) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            if let Some(call) = self.calls.remove(&id) {
                for (me, other) in [(call.caller, call.callee), (call.callee, call.caller)] {
                    let peer = self.name_of(other);
                    out.to(me, ServerMsg::CallEnded { call_id: id, peer, reason: CallEndReason::HubShutdown });
                }
            }
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
        match msg {
            ClientMsg::Hello { .. } => out.error(conn, ErrorCode::BadMessage, "already registered; hello comes once", None),
            ClientMsg::Call { to } => self.call(conn, &to, out),
            ClientMsg::Accept { call_id } => self.accept(conn, call_id, out),
            ClientMsg::Decline { call_id } => match self.party_call(conn, call_id) {
                Some(call) if call.callee == conn && !call.accepted => {
                    self.end_call(call_id, conn, CallEndReason::Declined, out)
                }
                _ => out.error(conn, ErrorCode::NotInCall, "no call of yours is ringing with that id", Some(call_id)),
            },
            ClientMsg::Hangup { call_id } => match self.party_call(conn, call_id) {
                Some(_) => self.end_call(call_id, conn, CallEndReason::PeerHangup, out),
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

    /// Ends calls that rang too long. Call it about once a second.
    pub fn tick(&mut self, now: Instant, out: &mut Outbox) {
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
                self.remove_call(id, out);
            }
        }
    }

    fn call(&mut self, conn: ConnId, to: &str, out: &mut Outbox) {
        let call_id = self.next_call;
        self.next_call += 1;
        let refuse = |out: &mut Outbox, reason| {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: to.to_owned(), reason });
        };
        if self.members[&conn].call.is_some() {
            out.error(conn, ErrorCode::Busy, "you are already in a call; hang up first", None);
            return;
        }
        let Some(&callee) = self.by_name.get(to) else {
            return refuse(out, CallEndReason::UnknownUser);
        };
        if callee == conn {
            return refuse(out, CallEndReason::SelfCall);
        }
        if self.members[&callee].call.is_some() {
            return refuse(out, CallEndReason::Busy);
        }
        self.calls.insert(call_id, Call { caller: conn, callee, accepted: false, rang_at: Instant::now() });
        for party in [conn, callee] {
            if let Some(m) = self.members.get_mut(&party) {
                m.call = Some(call_id);
            }
        }
        let from = self.name_of(conn);
        out.to(callee, ServerMsg::Incoming { call_id, from });
        out.to(conn, ServerMsg::Ringing { call_id, to: to.to_owned() });
        self.announce_states(&[conn, callee], out);
    }

    fn accept(&mut self, conn: ConnId, call_id: CallId, out: &mut Outbox) {
        let caller = match self.calls.get_mut(&call_id) {
            Some(call) if call.callee == conn && !call.accepted => {
                call.accepted = true;
                call.caller
            }
            _ => return out.error(conn, ErrorCode::NotInCall, "no call of yours is ringing with that id", Some(call_id)),
        };
        let (caller_name, callee_name) = (self.name_of(caller), self.name_of(conn));
        out.to(caller, ServerMsg::Accepted { call_id, peer: callee_name, offerer: true });
        out.to(conn, ServerMsg::Accepted { call_id, peer: caller_name, offerer: false });
        self.announce_states(&[caller, conn], out);
    }

    /// Ends a call because `by` did something (or vanished): the other party is told `reason`.
    fn end_call(&mut self, call_id: CallId, by: ConnId, reason: CallEndReason, out: &mut Outbox) {
        let Some(call) = self.calls.get(&call_id) else { return };
        let other = call.other(by);
        let peer = self.name_of(by);
        out.to(other, ServerMsg::CallEnded { call_id, peer, reason });
        self.remove_call(call_id, out);
    }

    fn remove_call(&mut self, call_id: CallId, out: &mut Outbox) {
        if let Some(call) = self.calls.remove(&call_id) {
            let mut parties = Vec::with_capacity(2);
            for party in [call.caller, call.callee] {
                if let Some(m) = self.members.get_mut(&party) {
                    m.call = None;
                    parties.push(party);
                }
            }
            self.announce_states(&parties, out);
        }
    }

    fn announce_states(&self, parties: &[ConnId], out: &mut Outbox) {
        let changed: Vec<UserInfo> = parties
            .iter()
            .filter_map(|c| self.members.get(c))
            .map(|m| self.info_by_name(&m.name))
            .collect();
        if !changed.is_empty() {
            out.everyone(ServerMsg::Roster { joined: vec![], left: vec![], changed });
        }
    }

    fn party_call(&self, conn: ConnId, call_id: CallId) -> Option<&Call> {
        self.calls.get(&call_id).filter(|c| c.caller == conn || c.callee == conn)
    }

    fn name_of(&self, conn: ConnId) -> String {
        self.members.get(&conn).map(|m| m.name.clone()).unwrap_or_default()
    }

    fn info_by_name(&self, name: &str) -> UserInfo {
        let state = self
            .by_name
            .get(name)
            .and_then(|c| self.members.get(c))
            .and_then(|m| m.call)
            .and_then(|id| self.calls.get(&id))
            .map_or(UserState::Idle, |c| if c.accepted { UserState::InCall } else { UserState::Ringing });
        UserInfo { name: name.to_owned(), state }
    }
}

#[cfg(test)]
mod tests;
