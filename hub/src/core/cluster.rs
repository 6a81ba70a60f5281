//! The hub as one of several (`--cluster`): users of other hubs in the roster, and calls
//! whose state lives on one hub while a party is on another. Still pure: the actor feeds in
//! what came through Redis ([`Hub::remote_roster`], [`Hub::node_gone`], [`Hub::relayed`],
//! [`Hub::set_load`]) and sends what comes out in [`Outbox::relay`] and [`Outbox::presence`].
//!
//! A user of another hub is a member here with a connection number from
//! [`REMOTE_CONN_BASE`] on: the call logic treats them as anyone else, and what it sends
//! them goes to their hub ([`Hub::route_remote`]). A one-to-one call lives on the caller's
//! hub; a room (group call or `echo`) on the hub chosen for its load. The callee's own hub
//! keeps only an [`Away`]: where the call lives, to route the callee's messages there.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use termcall_shared::cluster::{Load, Presence, Relay};
use termcall_shared::{CallClaim, CallEndReason, Callees, ClientMsg, ErrorCode, ServerMsg, UserInfo};

use super::{ConnId, Hub, Member, Outbox, Target};

/// A hub's name in its cluster (`--node-id`).
pub type NodeId = String;

/// Users of other hubs are numbered from here on, far above any connection of this hub.
pub const REMOTE_CONN_BASE: ConnId = 1 << 60;

/// A hub prefers to hold a room itself unless another carries this much less load (in
/// participants; a quarter of a core counts as one).
const PLACEMENT_MARGIN: f32 = 2.0;

/// Whether `conn` stands for a user of another hub.
pub(super) fn is_remote(conn: ConnId) -> bool {
    conn >= REMOTE_CONN_BASE
}

/// A user of another hub, as that hub last said.
pub(super) struct Remote {
    pub(super) node: NodeId,
    pub(super) info: UserInfo,
}

/// A call of a user of this hub that lives on another hub.
pub(super) struct Away {
    /// The hub it lives on.
    pub(super) owner: NodeId,
    /// A room (group call or `echo`): its media goes to the owner.
    pub(super) room: bool,
    /// A group call, shown in the roster.
    pub(super) group: bool,
    pub(super) accepted: bool,
    /// The resume token of a call between two, once accepted.
    pub(super) token: String,
    pub(super) peer: String,
}

/// What this hub knows of the others.
pub(super) struct Cluster {
    me: NodeId,
    /// This hub's public URL, told to those whose media comes to it from other hubs.
    url: String,
    /// How many members are users of other hubs.
    pub(super) remotes: usize,
    next_remote: ConnId,
    /// Every live hub's load, this one's included.
    loads: BTreeMap<NodeId, Load>,
    /// This hub's users' changes not yet published, by name (`None`: gone).
    presence: BTreeMap<String, Option<Presence>>,
    /// Relays to send after the next presence publication (a claim that a hub must read
    /// after it has heard of its sender's user).
    after_flush: Vec<(NodeId, Relay)>,
}

impl Cluster {
    pub(super) fn pending(&self) -> bool {
        !self.presence.is_empty() || !self.after_flush.is_empty()
    }

    pub(super) fn publish(&mut self, info: UserInfo, ask_simulcast: bool) {
        self.presence.insert(info.name.clone(), Some(Presence { info, ask_simulcast }));
    }
}

impl Hub {
    /// Makes this hub `me` of a cluster, reached at `url`.
    pub fn clustered(mut self, me: &str, url: &str) -> Self {
        self.cluster = Some(Cluster {
            me: me.to_owned(),
            url: url.to_owned(),
            remotes: 0,
            next_remote: REMOTE_CONN_BASE,
            loads: BTreeMap::new(),
            presence: BTreeMap::new(),
            after_flush: Vec::new(),
        });
        self
    }

    /// Where a room's media goes, for its `accepted`: this hub, when it is one of several.
    pub(super) fn media_hub(&self) -> Option<String> {
        self.cluster.as_ref().map(|c| c.url.clone())
    }

    /// Users of other hubs in the roster.
    pub fn remote_users(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.remotes)
    }

    /// People in this hub's rooms, and this hub's own users.
    pub fn load(&self) -> Load {
        let participants = self.rooms.values().map(|r| r.joined.len()).sum::<usize>();
        Load { participants: participants as u32, users: self.online() as u32, cpu: 0.0 }
    }

    /// A hub's load, as its heartbeat says (this hub's own too).
    pub fn set_load(&mut self, node: &str, load: Load) {
        if let Some(c) = &mut self.cluster {
            c.loads.insert(node.to_owned(), load);
        }
    }

    /// Called when a member leaves: its hub's count, or its publication.
    pub(super) fn forget(&mut self, member: &Member) {
        let Some(c) = &mut self.cluster else { return };
        if member.remote.is_some() {
            c.remotes -= 1;
        } else {
            c.presence.insert(member.name.clone(), None);
        }
    }

    /// Moves the gathered presence changes and the relays that wait for them to `out`: the
    /// actor does it after every input (the clients' roster is batched apart, by
    /// [`Hub::flush_roster`]).
    pub fn flush_presence(&mut self, out: &mut Outbox) {
        let Some(c) = &mut self.cluster else { return };
        out.presence.extend(std::mem::take(&mut c.presence));
        out.relay.append(&mut c.after_flush);
    }

    /// Everything this hub's users are, for a hub that lost what it had heard (Redis restarted).
    pub fn presence_snapshot(&self) -> Vec<Presence> {
        self.members
            .values()
            .filter(|m| m.remote.is_none())
            .map(|m| Presence { info: self.info_by_name(&m.name), ask_simulcast: m.ask_simulcast })
            .collect()
    }

    /// Turns what the call logic sent to users of other hubs into relays to their hubs.
    pub fn route_remote(&self, out: &mut Outbox) {
        if self.cluster.is_none() || !out.deliveries.iter().any(|(t, _)| matches!(t, Target::One(c) if is_remote(*c))) {
            return;
        }
        for (target, msg) in std::mem::take(&mut out.deliveries) {
            match target {
                Target::One(conn) if is_remote(conn) => {
                    if let Some((m, r)) = self.members.get(&conn).and_then(|m| Some((m, m.remote.as_ref()?))) {
                        out.relay.push((r.node.clone(), Relay::Deliver { to: m.name.clone(), msg }));
                    }
                }
                _ => out.deliveries.push((target, msg)),
            }
        }
    }

    /// `conn`, a user of another hub, logged in here: its hub is told to close it. With
    /// `keep_call`, a call between it and a user here waits to be claimed by the new login.
    pub(super) fn kick_remote(&mut self, conn: ConnId, keep_call: bool, out: &mut Outbox) {
        if let Some((m, r)) = self.members.get(&conn).and_then(|m| Some((m, m.remote.as_ref()?))) {
            out.relay.push((r.node.clone(), Relay::Kick { name: m.name.clone() }));
        }
        if keep_call {
            self.drop_remote(conn, out);
        } else {
            self.leave(conn, out);
        }
    }

    /// Users of hub `node` joined, changed or left (`full`: these are all of its users).
    pub fn remote_roster(&mut self, node: &str, joined: Vec<Presence>, left: Vec<String>, full: bool, out: &mut Outbox) {
        if self.cluster.as_ref().is_none_or(|c| c.me == node) {
            return;
        }
        if full {
            let listed: HashSet<&str> = joined.iter().map(|p| p.info.name.as_str()).collect();
            let gone: Vec<ConnId> = self.members_of(node).filter(|c| !listed.contains(self.members[c].name.as_str())).collect();
            for conn in gone {
                self.leave(conn, out);
            }
        }
        for p in joined {
            match self.by_name.get(&p.info.name).copied() {
                Some(conn) if is_remote(conn) => {
                    let same_hub = self.members.get(&conn).and_then(|m| m.remote.as_ref()).is_some_and(|r| r.node == node);
                    if same_hub {
                        if let Some(m) = self.members.get_mut(&conn) {
                            m.ask_simulcast = p.ask_simulcast;
                            if let Some(r) = &mut m.remote {
                                r.info = p.info.clone();
                            }
                        }
                        self.roster_delta.insert(p.info.name.clone(), Some(p.info));
                        continue;
                    }
                    // It moved hubs: its old session is gone, as if its hub had died.
                    self.drop_remote(conn, out);
                    self.add_remote(node, p);
                }
                // Logged in here and there at once (within the time a join takes to spread):
                // this hub keeps its own.
                Some(_) => {}
                None => self.add_remote(node, p),
            }
        }
        for name in left {
            if let Some(conn) = self.by_name.get(&name).copied().filter(|c| self.members.get(c).and_then(|m| m.remote.as_ref()).is_some_and(|r| r.node == node)) {
                self.leave(conn, out);
            }
        }
    }

    fn members_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = ConnId> + 'a {
        self.members.iter().filter(move |(_, m)| m.remote.as_ref().is_some_and(|r| r.node == node)).map(|(c, _)| *c)
    }

    fn add_remote(&mut self, node: &str, p: Presence) {
        let Some(c) = &mut self.cluster else { return };
        let conn = c.next_remote;
        c.next_remote += 1;
        c.remotes += 1;
        let name = p.info.name.clone();
        let member = Member {
            name: name.clone(),
            call: None,
            resume: None,
            ask_simulcast: p.ask_simulcast,
            remote: Some(Remote { node: node.to_owned(), info: p.info.clone() }),
            away: None,
        };
        self.members.insert(conn, member);
        self.by_name.insert(name.clone(), conn);
        self.roster_delta.insert(name, Some(p.info));
    }

    /// Hub `node` died (or left cleanly): its users leave, and calls with them end, except
    /// calls between two people, whose parties here claim them again (their media is peer to
    /// peer and goes on; the peer claims it from the hub it comes back on).
    pub fn node_gone(&mut self, node: &str, out: &mut Outbox) {
        let Some(c) = &mut self.cluster else { return };
        if c.me == node {
            return;
        }
        c.loads.remove(node);
        let away: Vec<ConnId> = self.members.iter().filter(|(_, m)| m.away.as_ref().is_some_and(|a| a.owner == node)).map(|(c, _)| *c).collect();
        for conn in away {
            self.release_away(conn, out);
        }
        let theirs: Vec<ConnId> = self.members_of(node).collect();
        for conn in theirs {
            self.drop_remote(conn, out);
        }
    }

    /// The hub that held `conn`'s call is gone: a call between two goes on as a claim, the
    /// rest end.
    fn release_away(&mut self, conn: ConnId, out: &mut Outbox) {
        let Some(m) = self.members.get_mut(&conn) else { return };
        let (Some(away), Some(call_id)) = (m.away.take(), m.call.take()) else { return };
        if away.accepted && !away.room && !away.token.is_empty() {
            m.resume = Some((CallClaim { peer: away.peer, token: away.token }, Instant::now()));
            self.announce_states(&[conn]);
            self.try_resume(conn, out);
        } else {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: away.peer, reason: CallEndReason::PeerGone });
            self.announce_states(&[conn]);
        }
    }

    /// `conn`, a user of another hub, is gone with its session: an accepted call between it
    /// and a user of this hub becomes that user's claim; the rest ends as on a leave.
    fn drop_remote(&mut self, conn: ConnId, out: &mut Outbox) {
        let name = self.name_of(conn);
        let kept = self.members.get(&conn).and_then(|m| m.call).and_then(|id| {
            let call = self.calls.get(&id).filter(|c| c.accepted)?;
            Some((id, call.other(conn), call.token.clone()))
        });
        if let Some((id, other, token)) = kept {
            self.calls.remove(&id);
            if let Some(m) = self.members.get_mut(&conn) {
                m.call = None;
            }
            if let Some(o) = self.members.get_mut(&other) {
                o.call = None;
                o.resume = Some((CallClaim { peer: name, token }, Instant::now()));
            }
            self.leave(conn, out);
            self.announce_states(&[other]);
            self.try_resume(other, out);
        } else {
            self.leave(conn, out);
        }
    }

    /// A message from a user of this hub about a call that lives on another hub goes there;
    /// `None` if it went.
    pub(super) fn route_away(&mut self, conn: ConnId, msg: ClientMsg, out: &mut Outbox) -> Option<ClientMsg> {
        let m = self.members.get(&conn)?;
        let (Some(away), Some(id)) = (&m.away, m.call) else { return Some(msg) };
        let about = match &msg {
            ClientMsg::Accept { call_id }
            | ClientMsg::Decline { call_id }
            | ClientMsg::Hangup { call_id }
            | ClientMsg::Signal { call_id, .. }
            | ClientMsg::Invite { call_id, .. } => *call_id == id,
            _ => false,
        };
        if !about {
            return Some(msg);
        }
        let (owner, from) = (away.owner.clone(), m.name.clone());
        if matches!(msg, ClientMsg::Decline { .. } | ClientMsg::Hangup { .. }) {
            if let Some(m) = self.members.get_mut(&conn) {
                m.away = None;
            }
            self.leave_call(conn);
        }
        out.relay.push((owner, Relay::FromUser { from, msg }));
        None
    }

    /// Starts a room (`echo`, or a group call checked by [`Hub::check_group`]) on the hub
    /// with the least load: here, or another.
    pub(super) fn place_room(&mut self, conn: ConnId, to: Callees, out: &mut Outbox) {
        let call_id = self.take_call_id();
        match (self.room_node(), to) {
            (None, Callees::One(_)) => self.call_echo(conn, call_id, out),
            (None, Callees::Group(names)) => self.call_group(conn, call_id, &names, out),
            (Some(node), to) => {
                let group = matches!(to, Callees::Group(_));
                let peer = match &to {
                    Callees::One(name) => name.clone(),
                    Callees::Group(names) => names.join(", "),
                };
                let Some(m) = self.members.get_mut(&conn) else { return };
                m.call = Some(call_id);
                m.resume = None;
                m.away = Some(Away { owner: node.clone(), room: true, group, accepted: false, token: String::new(), peer });
                out.relay.push((node, Relay::PlaceRoom { from: m.name.clone(), call_id, to }));
                self.announce_states(&[conn]);
            }
        }
    }

    /// The hub a new room should live on: `None` for this one.
    fn room_node(&self) -> Option<NodeId> {
        let c = self.cluster.as_ref()?;
        let score = |l: &Load| l.participants as f32 + l.cpu / 25.0;
        let mine = Load { cpu: c.loads.get(&c.me).map_or(0.0, |l| l.cpu), ..self.load() };
        let (node, best) = c.loads.iter().filter(|(n, _)| **n != c.me).min_by(|a, b| score(a.1).total_cmp(&score(b.1)))?;
        (score(best) + PLACEMENT_MARGIN < score(&mine)).then(|| node.clone())
    }

    /// `conn` (of this hub) claims a call with `other`, a user of another hub: that hub
    /// adopts it when both claims are there. Sent after this hub's next presence
    /// publication, so that the other hub knows `conn`'s user by then.
    pub(super) fn claim_at_peer(&mut self, conn: ConnId, claim: &CallClaim, other: ConnId) {
        let node = self.members.get(&other).and_then(|m| m.remote.as_ref()).map(|r| r.node.clone());
        let (Some(node), Some(c)) = (node, self.cluster.as_mut()) else { return };
        let from = self.members.get(&conn).map(|m| m.name.clone()).unwrap_or_default();
        c.after_flush.push((node, Relay::Claim { from, claim: claim.clone() }));
    }

    /// Of a claimed call between a user here and one of another hub, the hub of the one whose
    /// name sorts first adopts it, so that two hubs never both do.
    pub(super) fn adopts_here(&self, local: &str, remote: &str) -> bool {
        local < remote
    }

    /// A message from another hub.
    pub fn relayed(&mut self, from_node: &str, relay: Relay, out: &mut Outbox) {
        if self.cluster.as_ref().is_none_or(|c| c.me == from_node) {
            return;
        }
        match relay {
            Relay::Deliver { to, msg } => self.deliver_home(from_node, &to, msg, out),
            Relay::FromUser { from, msg } => {
                let Some(conn) = self.remote_user(from_node, &from) else { return };
                let in_call = matches!(
                    msg,
                    ClientMsg::Accept { .. } | ClientMsg::Decline { .. } | ClientMsg::Hangup { .. } | ClientMsg::Signal { .. } | ClientMsg::Invite { .. }
                );
                if in_call {
                    self.handle(conn, msg, out);
                }
            }
            Relay::PlaceRoom { from, call_id, to } => {
                let Some(conn) = self.remote_user(from_node, &from) else { return };
                let taken = self.calls.contains_key(&call_id) || self.rooms.contains_key(&call_id) || self.members[&conn].call.is_some();
                match to {
                    _ if taken => out.to(conn, ServerMsg::CallEnded { call_id, peer: String::new(), reason: CallEndReason::Busy }),
                    Callees::One(_) => self.call_echo(conn, call_id, out),
                    Callees::Group(names) => self.call_group(conn, call_id, &names, out),
                }
            }
            Relay::Refuse { from, call_id, reason } => {
                let Some(conn) = self.remote_user(from_node, &from) else { return };
                if self.rooms.get(&call_id).is_some_and(|r| r.has(conn)) {
                    self.leave_room(conn, call_id, reason, out);
                } else if self.party_call(conn, call_id).is_some_and(|c| !c.accepted) {
                    self.end_call(call_id, conn, reason, out);
                }
            }
            Relay::Claim { from, claim } => {
                let Some(conn) = self.remote_user(from_node, &from) else { return };
                let Some(m) = self.members.get_mut(&conn).filter(|m| m.call.is_none()) else { return };
                m.resume = Some((claim.clone(), Instant::now()));
                if let Some(&peer) = self.by_name.get(&claim.peer).filter(|c| !is_remote(**c)) {
                    self.try_resume(peer, out);
                }
            }
            Relay::Kick { name } => {
                let Some(&conn) = self.by_name.get(&name).filter(|c| !is_remote(**c)) else { return };
                out.error(conn, ErrorCode::Replaced, format!("{name} logged in again on another hub; this connection is closed"), None);
                out.closes.push(conn);
                self.leave(conn, out);
            }
        }
    }

    /// The member standing for user `name` of hub `node`, if that is who it is.
    fn remote_user(&self, node: &str, name: &str) -> Option<ConnId> {
        let conn = *self.by_name.get(name)?;
        self.members.get(&conn)?.remote.as_ref().filter(|r| r.node == node).map(|_| conn)
    }

    /// A message for `to`, a user of this hub, from the hub its call lives on: kept track of,
    /// checked against that call, and passed on.
    fn deliver_home(&mut self, from_node: &str, to: &str, msg: ServerMsg, out: &mut Outbox) {
        let Some(&conn) = self.by_name.get(to).filter(|c| !is_remote(**c)) else { return };
        let owned_there = |m: &Member, id| m.call == Some(id) && m.away.as_ref().is_some_and(|a| a.owner == from_node);
        let Some(m) = self.members.get(&conn) else { return };
        match &msg {
            ServerMsg::Incoming { call_id, from, group } => {
                if self.busy(conn) {
                    let refusal = Relay::Refuse { from: to.to_owned(), call_id: *call_id, reason: CallEndReason::Busy };
                    return out.relay.push((from_node.to_owned(), refusal));
                }
                let room = group.is_some();
                let away = Away { owner: from_node.to_owned(), room, group: room, accepted: false, token: String::new(), peer: from.clone() };
                if let Some(m) = self.members.get_mut(&conn) {
                    m.call = Some(*call_id);
                    m.away = Some(away);
                }
                self.announce_states(&[conn]);
            }
            ServerMsg::Accepted { call_id, peer, resume_token, .. } => {
                if !owned_there(m, *call_id) {
                    return;
                }
                if let Some(a) = self.members.get_mut(&conn).and_then(|m| m.away.as_mut()) {
                    a.accepted = true;
                    a.token = resume_token.clone();
                    a.peer = peer.clone();
                }
                self.announce_states(&[conn]);
            }
            ServerMsg::Resumed { call_id, peer, resume_token } => {
                if m.call.is_some() {
                    return;
                }
                let away = Away { owner: from_node.to_owned(), room: false, group: false, accepted: true, token: resume_token.clone(), peer: peer.clone() };
                if let Some(m) = self.members.get_mut(&conn) {
                    m.call = Some(*call_id);
                    m.resume = None;
                    m.away = Some(away);
                }
                self.announce_states(&[conn]);
            }
            ServerMsg::CallEnded { call_id, .. } => {
                if !owned_there(m, *call_id) {
                    return;
                }
                if let Some(m) = self.members.get_mut(&conn) {
                    m.away = None;
                }
                self.leave_call(conn);
            }
            ServerMsg::Ringing { call_id, .. }
            | ServerMsg::Group { call_id, .. }
            | ServerMsg::Left { call_id, .. }
            | ServerMsg::Signal { call_id, .. }
            | ServerMsg::Error { call_id: Some(call_id), .. } => {
                if !owned_there(m, *call_id) {
                    return;
                }
            }
            ServerMsg::Error { call_id: None, .. } => {}
            ServerMsg::Welcome { .. } | ServerMsg::Roster { .. } => return,
        }
        out.to(conn, msg);
    }

    /// Whether a member is a user of another hub (for the invariants).
    pub(super) fn check_cluster(&self) -> Result<(), String> {
        let remotes = self.members.values().filter(|m| m.remote.is_some()).count();
        if remotes != self.cluster.as_ref().map_or(0, |c| c.remotes) {
            return Err(format!("{remotes} users of other hubs, counted otherwise"));
        }
        for (conn, m) in &self.members {
            if is_remote(*conn) != m.remote.is_some() {
                return Err(format!("{} is numbered against where they are", m.name));
            }
            if m.remote.is_some() && m.away.is_some() {
                return Err(format!("{} is of another hub and in a call away from this one", m.name));
            }
            if m.away.is_some() && m.call.is_none() {
                return Err(format!("{} is in a call elsewhere without a call", m.name));
            }
        }
        Ok(())
    }
}
