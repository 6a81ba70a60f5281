//! Calls whose media goes through the hub: group calls and calls to `echo`. The state machine
//! half; the media half is [`crate::sfu`], which the actor drives with the [`MediaCmd`]s this
//! puts in the [`Outbox`].

use std::time::Instant;

use termcall_shared::names::{ECHO_USER, HUB_PEER};
use termcall_shared::{CallEndReason, CallId, ErrorCode, ServerMsg, Signal};

use super::{ConnId, Hub, Outbox};

/// What the hub's media endpoint is told to do.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCmd {
    /// Open a peer connection to `conn`, which joined room `call_id` as `name`, and send it
    /// the first offer. In an `echo` room its media comes back to it. `ask_simulcast`: its
    /// offers ask for its video as simulcast layers (its hello said it needs that).
    Join { call_id: CallId, conn: ConnId, name: String, echo: bool, ask_simulcast: bool },
    /// Close `conn`'s peer connection and stop forwarding to and from it.
    Leave { call_id: CallId, conn: ConnId },
    /// Negotiation from `conn` for its peer connection.
    Signal { call_id: CallId, conn: ConnId, signal: Signal },
}

/// A call whose media the hub forwards.
pub(super) struct Room {
    /// Participants whose media flows, in the order they joined.
    pub(super) joined: Vec<ConnId>,
    /// Invited and not answered yet, with when they were rung.
    pub(super) ringing: Vec<(ConnId, Instant)>,
    /// A call to `echo`: one participant, whose media comes back to it.
    pub(super) echo: bool,
}

impl Room {
    pub(super) fn has(&self, conn: ConnId) -> bool {
        self.joined.contains(&conn) || self.ringing.iter().any(|(c, _)| *c == conn)
    }

    pub(super) fn is_joined(&self, conn: ConnId) -> bool {
        self.joined.contains(&conn)
    }

    fn size(&self) -> usize {
        self.joined.len() + self.ringing.len()
    }
}

impl Hub {
    /// A call to `echo`: accepted at once, with the hub as the other end.
    pub(super) fn call_echo(&mut self, conn: ConnId, call_id: CallId, out: &mut Outbox) {
        self.rooms.insert(call_id, Room { joined: vec![conn], ringing: Vec::new(), echo: true });
        self.enter_call(conn, call_id);
        out.to(conn, ServerMsg::Ringing { call_id, to: ECHO_USER.to_owned() });
        out.to(conn, ServerMsg::Accepted { call_id, peer: ECHO_USER.to_owned(), offerer: false, resume_token: String::new(), sfu: true, media_hub: self.media_hub() });
        out.media.push(self.joining(call_id, conn, true));
        self.announce_states(&[conn]);
    }

    /// Whether a group call to `names` may be placed: the refusal if not.
    pub(super) fn check_group(&self, names: &[String]) -> Result<(), (ErrorCode, String)> {
        // The length first, before any work that grows with it: a list longer than the group
        // may be is refused whatever it holds.
        if names.len() + 1 > self.max_group {
            let msg = format!("a group call holds at most {} people on this hub; you named {}", self.max_group, names.len() + 1);
            return Err((ErrorCode::CallFull, msg));
        }
        if names.is_empty() {
            return Err((ErrorCode::BadMessage, "a group call needs at least one name to ring".into()));
        }
        Ok(())
    }

    /// Starts group call `call_id` (checked by [`Hub::check_group`]): the caller is in it at
    /// once, the others are rung.
    pub(super) fn call_group(&mut self, conn: ConnId, call_id: CallId, names: &[String], out: &mut Outbox) {
        if let Err((code, message)) = self.check_group(names) {
            out.error(conn, code, message, Some(call_id));
            return out.to(conn, ServerMsg::CallEnded { call_id, peer: String::new(), reason: CallEndReason::UnknownUser });
        }
        // Duplicates are dropped in linear time, keeping the first of each name in order.
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        let wanted: Vec<&String> = names.iter().filter(|n| seen.insert(n.as_str())).collect();
        self.rooms.insert(call_id, Room { joined: vec![conn], ringing: Vec::new(), echo: false });
        self.enter_call(conn, call_id);
        let label = wanted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        out.to(conn, ServerMsg::Ringing { call_id, to: label.clone() });
        let mut last_refusal = CallEndReason::UnknownUser;
        for name in wanted {
            if let Err(reason) = self.ring_into(call_id, conn, name, out) {
                out.to(conn, ServerMsg::Left { call_id, name: name.clone(), reason });
                last_refusal = reason;
            }
        }
        if self.rooms.get(&call_id).is_some_and(|r| r.ringing.is_empty()) {
            // No one could be rung: the call is over before it began.
            self.rooms.remove(&call_id);
            self.leave_call(conn);
            out.to(conn, ServerMsg::CallEnded { call_id, peer: label, reason: last_refusal });
            return;
        }
        out.to(conn, ServerMsg::Accepted { call_id, peer: label, offerer: false, resume_token: String::new(), sfu: true, media_hub: self.media_hub() });
        out.media.push(self.joining(call_id, conn, false));
        self.announce_states(&[conn]);
        self.send_group(call_id, out);
    }

    /// Rings `name` into a room on behalf of `by`; the reason if they cannot be rung.
    fn ring_into(&mut self, call_id: CallId, by: ConnId, name: &str, out: &mut Outbox) -> Result<(), CallEndReason> {
        let Some(&callee) = self.by_name.get(name) else {
            return Err(CallEndReason::UnknownUser);
        };
        if callee == by {
            return Err(CallEndReason::SelfCall);
        }
        if self.busy(callee) {
            return Err(CallEndReason::Busy);
        }
        let Some(room) = self.rooms.get_mut(&call_id) else { return Err(CallEndReason::PeerGone) };
        room.ringing.push((callee, Instant::now()));
        let others: Vec<ConnId> = room.joined.iter().copied().chain(room.ringing.iter().map(|(c, _)| *c)).filter(|c| *c != by && *c != callee).collect();
        self.enter_call(callee, call_id);
        let group = others.into_iter().map(|c| self.name_of(c)).collect();
        out.to(callee, ServerMsg::Incoming { call_id, from: self.name_of(by), group: Some(group) });
        self.announce_states(&[callee]);
        Ok(())
    }

    /// `conn` asks to ring `to` into its group call.
    pub(super) fn invite(&mut self, conn: ConnId, call_id: CallId, to: &str, out: &mut Outbox) {
        match self.rooms.get(&call_id) {
            Some(room) if room.is_joined(conn) && !room.echo => {
                if room.size() >= self.max_group {
                    let msg = format!("this call already has {} people, the most this hub allows", room.size());
                    return out.error(conn, ErrorCode::CallFull, msg, Some(call_id));
                }
            }
            Some(room) if room.echo && room.is_joined(conn) => {
                return out.error(conn, ErrorCode::NotGroup, "a call to echo cannot take anyone else", Some(call_id));
            }
            Some(_) => return out.error(conn, ErrorCode::NotInCall, "join the call before inviting others to it", Some(call_id)),
            None if self.party_call(conn, call_id).is_some() => {
                let msg = "invitations go to group calls; start one with a list, e.g. {\"type\":\"call\",\"to\":[\"bob\"]}";
                return out.error(conn, ErrorCode::NotGroup, msg, Some(call_id));
            }
            None => return out.error(conn, ErrorCode::NotInCall, "you are not in that call", Some(call_id)),
        }
        if self.rooms.get(&call_id).is_some_and(|r| self.by_name.get(to).is_some_and(|c| r.has(*c))) {
            return out.error(conn, ErrorCode::Busy, format!("{to} is already in this call"), Some(call_id));
        }
        match self.ring_into(call_id, conn, to, out) {
            Ok(()) => self.send_group(call_id, out),
            Err(reason) => out.to(conn, ServerMsg::Left { call_id, name: to.to_owned(), reason }),
        }
    }

    /// A ringing invitee takes the call: its media joins the others'.
    pub(super) fn accept_room(&mut self, conn: ConnId, call_id: CallId, out: &mut Outbox) {
        let Some(room) = self.rooms.get_mut(&call_id) else { return };
        let Some(i) = room.ringing.iter().position(|(c, _)| *c == conn) else {
            return out.error(conn, ErrorCode::NotInCall, "no call of yours is ringing with that id", Some(call_id));
        };
        room.ringing.remove(i);
        room.joined.push(conn);
        let others: Vec<ConnId> = room.joined.iter().copied().filter(|c| *c != conn).collect();
        let peer = others.iter().map(|c| self.name_of(*c)).collect::<Vec<_>>().join(", ");
        out.to(conn, ServerMsg::Accepted { call_id, peer, offerer: false, resume_token: String::new(), sfu: true, media_hub: self.media_hub() });
        out.media.push(self.joining(call_id, conn, false));
        self.announce_states(&[conn]);
        self.send_group(call_id, out);
    }

    /// `conn` leaves a room it is in (joined or ringing) for `reason`; the rest are told, and
    /// the call ends when fewer than two would be left in it.
    pub(super) fn leave_room(&mut self, conn: ConnId, call_id: CallId, reason: CallEndReason, out: &mut Outbox) {
        let Some(room) = self.rooms.get_mut(&call_id) else { return };
        let was_joined = room.is_joined(conn);
        room.joined.retain(|c| *c != conn);
        room.ringing.retain(|(c, _)| *c != conn);
        let name = self.name_of(conn);
        self.leave_call(conn);
        if was_joined {
            out.media.push(MediaCmd::Leave { call_id, conn });
        }
        let Some(room) = self.rooms.get(&call_id) else { return };
        for c in room.joined.clone() {
            out.to(c, ServerMsg::Left { call_id, name: name.clone(), reason });
        }
        let over = room.joined.is_empty() || (!room.echo && room.size() < 2);
        if over {
            self.end_room(call_id, &name, reason, out);
        } else {
            self.send_group(call_id, out);
        }
    }

    /// Ends a room: everyone still in it is told `reason`, with `by` as the peer.
    pub(super) fn end_room(&mut self, call_id: CallId, by: &str, reason: CallEndReason, out: &mut Outbox) {
        let Some(room) = self.rooms.remove(&call_id) else { return };
        for conn in room.joined {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: by.to_owned(), reason });
            out.media.push(MediaCmd::Leave { call_id, conn });
            self.leave_call(conn);
        }
        // The invitation is withdrawn: whoever rang is gone (or the hub is).
        let withdrawn = if reason == CallEndReason::HubShutdown { reason } else { CallEndReason::PeerHangup };
        for (conn, _) in room.ringing {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: by.to_owned(), reason: withdrawn });
            self.leave_call(conn);
        }
    }

    /// Negotiation from a participant goes to the hub's media endpoint.
    pub(super) fn signal_room(&mut self, conn: ConnId, call_id: CallId, signal: Signal, out: &mut Outbox) {
        match self.rooms.get(&call_id) {
            Some(room) if room.is_joined(conn) => out.media.push(MediaCmd::Signal { call_id, conn, signal }),
            _ => out.error(conn, ErrorCode::NotInCall, "signals go only to a call you have joined", Some(call_id)),
        }
    }

    /// Negotiation from the hub's media endpoint to a participant, if it is still in the room.
    pub fn media_signal(&mut self, call_id: CallId, conn: ConnId, signal: Signal, out: &mut Outbox) {
        if self.rooms.get(&call_id).is_some_and(|r| r.is_joined(conn)) {
            out.to(conn, ServerMsg::Signal { call_id, from: HUB_PEER.to_owned(), signal });
        }
    }

    /// The media endpoint could not set up `conn`'s media: its part of the call is over.
    pub fn media_failed(&mut self, call_id: CallId, conn: ConnId, why: &str, out: &mut Outbox) {
        if self.rooms.get(&call_id).is_some_and(|r| r.is_joined(conn)) {
            out.error(conn, ErrorCode::Internal, why, Some(call_id));
            out.to(conn, ServerMsg::CallEnded { call_id, peer: HUB_PEER.to_owned(), reason: CallEndReason::PeerGone });
            self.leave_room(conn, call_id, CallEndReason::PeerGone, out);
        }
    }

    /// Invitations that rang too long are withdrawn.
    pub(super) fn expire_invitations(&mut self, now: Instant, out: &mut Outbox) {
        let expired: Vec<(CallId, ConnId)> = self
            .rooms
            .iter()
            .flat_map(|(id, r)| r.ringing.iter().filter(|(_, at)| now.duration_since(*at) >= self.ring_timeout).map(|(c, _)| (*id, *c)))
            .collect();
        for (call_id, conn) in expired {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: self.room_label(call_id, conn), reason: CallEndReason::Timeout });
            self.leave_room(conn, call_id, CallEndReason::Timeout, out);
        }
    }

    /// Tells every participant who is in the call now.
    fn send_group(&self, call_id: CallId, out: &mut Outbox) {
        let Some(room) = self.rooms.get(&call_id) else { return };
        let joined: Vec<String> = room.joined.iter().map(|c| self.name_of(*c)).collect();
        let ringing: Vec<String> = room.ringing.iter().map(|(c, _)| self.name_of(*c)).collect();
        for c in &room.joined {
            out.to(*c, ServerMsg::Group { call_id, joined: joined.clone(), ringing: ringing.clone() });
        }
    }

    /// The others in a room, as `conn` would see the call named.
    fn room_label(&self, call_id: CallId, conn: ConnId) -> String {
        let Some(room) = self.rooms.get(&call_id) else { return String::new() };
        room.joined.iter().filter(|c| **c != conn).map(|c| self.name_of(*c)).collect::<Vec<_>>().join(", ")
    }

    /// The rooms' half of [`Hub::check_invariants`].
    pub(super) fn check_rooms(&self) -> Result<(), String> {
        for (id, r) in &self.rooms {
            if self.calls.contains_key(id) {
                return Err(format!("{id} is both a call and a room"));
            }
            if r.joined.is_empty() {
                return Err(format!("room {id} has no one in it"));
            }
            if r.echo && (r.joined.len() != 1 || !r.ringing.is_empty()) {
                return Err(format!("echo room {id} has more than its caller"));
            }
            if r.size() > self.max_group {
                return Err(format!("room {id} holds {} people, over {}", r.size(), self.max_group));
            }
            let mut all: Vec<ConnId> = r.joined.iter().copied().chain(r.ringing.iter().map(|(c, _)| *c)).collect();
            for c in &all {
                if self.members.get(c).and_then(|m| m.call) != Some(*id) {
                    return Err(format!("room {id}'s member {c} is not in it"));
                }
            }
            all.sort_unstable();
            all.dedup();
            if all.len() != r.size() {
                return Err(format!("room {id} lists someone twice"));
            }
        }
        Ok(())
    }
}
