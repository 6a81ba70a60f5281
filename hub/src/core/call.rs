//! Calls between two people: ringing, answering, ending, and a call taken over by a newer login
//! or adopted again after a hub restart (or, in a cluster, after its hub died).

use std::time::Instant;

use termcall_shared::{CallClaim, CallEndReason, CallId, ErrorCode, ServerMsg};

use super::cluster::is_remote;
use super::{ConnId, Hub, Outbox};

/// A fresh secret for a call, given only to its two parties.
pub(super) fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A call between two people, ringing or accepted.
pub(super) struct Call {
    pub(super) caller: ConnId,
    pub(super) callee: ConnId,
    pub(super) accepted: bool,
    pub(super) rang_at: Instant,
    /// The resume token the parties got with `accepted` or `resumed`.
    pub(super) token: String,
}

impl Call {
    pub(super) fn other(&self, me: ConnId) -> ConnId {
        if me == self.caller { self.callee } else { self.caller }
    }
}

impl Hub {
    /// A login replacing `older` that names the call `older` is in takes that call over, so
    /// that a client coming back before the hub noticed its old socket die keeps its call.
    /// The peer notices nothing. Returns the `resumed` to send after the welcome if it did.
    pub(super) fn hand_over(&mut self, older: ConnId, newer: ConnId, claim: Option<&CallClaim>) -> Option<ServerMsg> {
        let claim = claim?;
        let call_id = self.members.get(&older)?.call?;
        let call = self.calls.get_mut(&call_id)?;
        if !call.accepted || call.token != claim.token {
            return None;
        }
        let peer_conn = call.other(older);
        if call.caller == older { call.caller = newer } else { call.callee = newer }
        let token = call.token.clone();
        let mut member = self.members.remove(&older)?;
        member.resume = None;
        self.members.insert(newer, member);
        Some(ServerMsg::Resumed { call_id, peer: self.name_of(peer_conn), resume_token: token })
    }

    /// Adopts a call that outlived a hub restart, once both of its parties have named each
    /// other with the same token.
    pub(super) fn try_resume(&mut self, conn: ConnId, out: &mut Outbox) {
        let Some(me) = self.members.get(&conn) else { return };
        let Some((claim, _)) = me.resume.clone() else { return };
        let Some(&other) = self.by_name.get(&claim.peer) else { return };
        let mutual = self.members.get(&other).is_some_and(|m| {
            m.call.is_none() && m.resume.as_ref().is_some_and(|(c, _)| c.peer == me.name && c.token == claim.token)
        });
        if is_remote(other) {
            // One of two hubs adopts it (the one [`Hub::adopts_here`] names), once it has both
            // claims: this one tells the other its claim unless it adopts the call now.
            if is_remote(conn) {
                return;
            }
            if !(mutual && self.adopts_here(&me.name, &claim.peer)) {
                return self.claim_at_peer(conn, &claim, other);
            }
        }
        if !mutual {
            return;
        }
        let call_id = self.take_call_id();
        let token = new_token();
        self.calls.insert(call_id, Call { caller: other, callee: conn, accepted: true, rang_at: Instant::now(), token: token.clone() });
        for party in [conn, other] {
            self.enter_call(party, call_id);
        }
        out.to(conn, ServerMsg::Resumed { call_id, peer: claim.peer, resume_token: token.clone() });
        out.to(other, ServerMsg::Resumed { call_id, peer: self.name_of(conn), resume_token: token });
        self.announce_states(&[conn, other]);
    }

    /// Drops a member's claim to a call (it hung up, or the other party never came back).
    pub(super) fn drop_claim(&mut self, conn: ConnId) {
        if let Some(m) = self.members.get_mut(&conn) {
            if m.resume.take().is_some() {
                self.announce_states(&[conn]);
            }
        }
    }

    pub(super) fn call(&mut self, conn: ConnId, to: &str, out: &mut Outbox) {
        let call_id = self.take_call_id();
        let refuse = |out: &mut Outbox, reason| {
            out.to(conn, ServerMsg::CallEnded { call_id, peer: to.to_owned(), reason });
        };
        let Some(&callee) = self.by_name.get(to) else {
            return refuse(out, CallEndReason::UnknownUser);
        };
        if callee == conn {
            return refuse(out, CallEndReason::SelfCall);
        }
        if self.busy(callee) {
            return refuse(out, CallEndReason::Busy);
        }
        self.calls.insert(call_id, Call { caller: conn, callee, accepted: false, rang_at: Instant::now(), token: new_token() });
        for party in [conn, callee] {
            self.enter_call(party, call_id);
        }
        let from = self.name_of(conn);
        out.to(callee, ServerMsg::Incoming { call_id, from, group: None });
        out.to(conn, ServerMsg::Ringing { call_id, to: to.to_owned() });
        self.announce_states(&[conn, callee]);
    }

    pub(super) fn accept(&mut self, conn: ConnId, call_id: CallId, out: &mut Outbox) {
        let (caller, token) = match self.calls.get_mut(&call_id) {
            Some(call) if call.callee == conn && !call.accepted => {
                call.accepted = true;
                (call.caller, call.token.clone())
            }
            _ => return out.error(conn, ErrorCode::NotInCall, "no call of yours is ringing with that id", Some(call_id)),
        };
        let (caller_name, callee_name) = (self.name_of(caller), self.name_of(conn));
        out.to(caller, ServerMsg::Accepted { call_id, peer: callee_name, offerer: true, resume_token: token.clone(), sfu: false, media_hub: None });
        out.to(conn, ServerMsg::Accepted { call_id, peer: caller_name, offerer: false, resume_token: token, sfu: false, media_hub: None });
        self.announce_states(&[caller, conn]);
    }

    /// Ends a call because `by` did something (or vanished): the other party is told `reason`.
    pub(super) fn end_call(&mut self, call_id: CallId, by: ConnId, reason: CallEndReason, out: &mut Outbox) {
        let Some(call) = self.calls.get(&call_id) else { return };
        let other = call.other(by);
        let peer = self.name_of(by);
        out.to(other, ServerMsg::CallEnded { call_id, peer, reason });
        self.remove_call(call_id);
    }

    pub(super) fn remove_call(&mut self, call_id: CallId) {
        if let Some(call) = self.calls.remove(&call_id) {
            for party in [call.caller, call.callee] {
                self.leave_call(party);
            }
        }
    }

    pub(super) fn party_call(&self, conn: ConnId, call_id: CallId) -> Option<&Call> {
        self.calls.get(&call_id).filter(|c| c.caller == conn || c.callee == conn)
    }
}
