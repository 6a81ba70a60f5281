//! Several hubs wired together as Redis would: what one hub publishes or relays is fed to
//! the others, until everything is said. Checks each hub's invariants after every input.

use super::*;
use termcall_shared::cluster::{Load, Relay};
use termcall_shared::Signal;

struct Sim {
    hubs: Vec<Hub>,
    /// What each hub's own clients got: (hub, connection, message); `Everyone` as conn 0.
    got: Vec<(usize, ConnId, ServerMsg)>,
    /// Media commands each hub's SFU got.
    media: Vec<(usize, MediaCmd)>,
    /// Hubs that died: nothing reaches them any more.
    dead: Vec<usize>,
}

fn node(i: usize) -> String {
    format!("h{i}")
}

fn req(name: &str, claim: Option<CallClaim>) -> JoinRequest {
    JoinRequest { version: PROTOCOL_VERSION, name: name.into(), authenticated: false, in_call_with: claim, ask_simulcast: false }
}

impl Sim {
    fn new(n: usize) -> Sim {
        let hubs = (0..n)
            .map(|i| Hub::new(Default::default(), Duration::from_secs(30)).first_call_id(1 + i as u64 * 1_000_000).clustered(&node(i), &format!("ws://{}/ws", node(i))))
            .collect();
        Sim { hubs, got: Vec::new(), media: Vec::new(), dead: Vec::new() }
    }

    /// Delivers `out` of hub `i` and everything it leads to.
    fn pump(&mut self, i: usize, out: Outbox) {
        let mut queue = vec![(i, out)];
        loop {
            while let Some((i, mut out)) = queue.pop() {
                if let Err(e) = self.hubs[i].check_invariants() {
                    panic!("hub {i}: {e}");
                }
                self.hubs[i].route_remote(&mut out);
                for (t, m) in out.deliveries.drain(..) {
                    let conn = match t {
                        Target::One(c) => c,
                        Target::Everyone => 0,
                    };
                    assert!(!cluster::is_remote(conn), "hub {i} delivered to a user of another hub itself");
                    self.got.push((i, conn, m));
                }
                self.media.extend(out.media.drain(..).map(|m| (i, m)));
                let (joined, left): (Vec<_>, Vec<_>) = out.presence.drain(..).partition(|(_, p)| p.is_some());
                let joined: Vec<_> = joined.into_iter().filter_map(|(_, p)| p).collect();
                let left: Vec<String> = left.into_iter().map(|(n, _)| n).collect();
                for j in (0..self.hubs.len()).filter(|j| *j != i && !self.dead.contains(j)) {
                    if joined.is_empty() && left.is_empty() {
                        break;
                    }
                    let mut o = Outbox::default();
                    self.hubs[j].remote_roster(&node(i), joined.clone(), left.clone(), false, &mut o);
                    queue.push((j, o));
                }
                for (to, relay) in out.relay.drain(..) {
                    let j: usize = to[1..].parse().unwrap();
                    if self.dead.contains(&j) {
                        continue;
                    }
                    let mut o = Outbox::default();
                    self.hubs[j].relayed(&node(i), relay, &mut o);
                    queue.push((j, o));
                }
            }
            // The roster flush each actor does once its queue runs dry.
            for j in (0..self.hubs.len()).filter(|j| !self.dead.contains(j)) {
                if self.hubs[j].roster_pending() {
                    let mut o = Outbox::default();
                    self.hubs[j].flush_roster(&mut o);
                    queue.push((j, o));
                }
            }
            if queue.is_empty() {
                return;
            }
        }
    }

    fn join_with(&mut self, i: usize, conn: ConnId, name: &str, claim: Option<CallClaim>) -> Result<(), (ErrorCode, String)> {
        let mut out = Outbox::default();
        let r = self.hubs[i].join(conn, req(name, claim), &mut out);
        self.pump(i, out);
        r
    }

    fn join(&mut self, i: usize, conn: ConnId, name: &str) {
        self.join_with(i, conn, name, None).expect("join");
    }

    fn send(&mut self, i: usize, conn: ConnId, msg: ClientMsg) {
        let mut out = Outbox::default();
        self.hubs[i].handle(conn, msg, &mut out);
        self.pump(i, out);
    }

    fn leave(&mut self, i: usize, conn: ConnId) {
        let mut out = Outbox::default();
        self.hubs[i].leave(conn, &mut out);
        self.pump(i, out);
    }

    /// Hub `i` died: the others find out.
    fn kill(&mut self, i: usize) {
        self.dead.push(i);
        let live: Vec<usize> = (0..self.hubs.len()).filter(|j| !self.dead.contains(j)).collect();
        for j in live {
            let mut o = Outbox::default();
            self.hubs[j].node_gone(&node(i), &mut o);
            self.pump(j, o);
        }
    }

    /// What client `conn` of hub `i` got since the last look.
    fn take(&mut self, i: usize, conn: ConnId) -> Vec<ServerMsg> {
        let (mine, rest) = std::mem::take(&mut self.got).into_iter().partition(|(h, c, _)| *h == i && *c == conn);
        self.got = rest;
        mine.into_iter().map(|(_, _, m)| m).collect()
    }

    /// The roster hub `i` shows its users: name to state.
    fn state(&self, i: usize, name: &str) -> Option<UserState> {
        let h = &self.hubs[i];
        h.by_name.contains_key(name).then(|| h.info_by_name(name).state)
    }
}

fn cand(c: &str) -> Signal {
    Signal::Candidate { candidate: c.into(), sdp_mid: None, sdp_mline_index: None, username_fragment: None }
}

fn call_id_of(msgs: &[ServerMsg]) -> CallId {
    msgs.iter()
        .find_map(|m| match m {
            ServerMsg::Incoming { call_id, .. } | ServerMsg::Ringing { call_id, .. } | ServerMsg::Accepted { call_id, .. } => Some(*call_id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no call in {msgs:?}"))
}

fn has(msgs: &[ServerMsg], pred: impl Fn(&ServerMsg) -> bool) -> bool {
    msgs.iter().any(pred)
}

/// alice (h0, 1) called bob (h1, 1), who accepted; returns the call id.
fn alice_calls_bob(sim: &mut Sim) -> CallId {
    sim.join(0, 1, "alice");
    sim.join(1, 1, "bob");
    sim.send(0, 1, ClientMsg::Call { to: "bob".into() });
    let id = call_id_of(&sim.take(1, 1));
    sim.send(1, 1, ClientMsg::Accept { call_id: id });
    id
}

fn token_of(msgs: &[ServerMsg]) -> String {
    msgs.iter()
        .find_map(|m| match m {
            ServerMsg::Accepted { resume_token, .. } | ServerMsg::Resumed { resume_token, .. } => Some(resume_token.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no token in {msgs:?}"))
}

#[test]
fn one_roster_across_hubs_and_names_unique_in_it() {
    let mut sim = Sim::new(3);
    sim.join(0, 1, "alice");
    sim.join(1, 1, "bob");
    sim.join(2, 1, "carol");
    for i in 0..3 {
        for name in ["alice", "bob", "carol"] {
            assert_eq!(sim.state(i, name), Some(UserState::Idle), "{name} on hub {i}");
        }
    }
    // carol's welcome on h2 listed the two others.
    let welcome = sim.take(2, 1);
    match &welcome[0] {
        ServerMsg::Welcome { users, .. } => assert_eq!(users.len(), 3, "{users:?}"),
        m => panic!("{m:?}"),
    }
    assert_eq!(sim.hubs[1].online(), 1);
    assert_eq!(sim.hubs[1].remote_users(), 2);
    let refused = sim.join_with(0, 2, "bob", None).unwrap_err();
    assert_eq!(refused.0, ErrorCode::NameTaken);
    sim.leave(1, 1);
    assert_eq!(sim.state(0, "bob"), None);
    sim.join(0, 2, "bob");
}

#[test]
fn a_call_across_hubs_rings_connects_signals_and_ends() {
    let mut sim = Sim::new(2);
    let id = alice_calls_bob(&mut sim);
    let alice = sim.take(0, 1);
    assert!(has(&alice, |m| matches!(m, ServerMsg::Accepted { peer, offerer: true, .. } if peer == "bob")), "{alice:?}");
    let bob = sim.take(1, 1);
    assert!(has(&bob, |m| matches!(m, ServerMsg::Accepted { peer, offerer: false, .. } if peer == "alice")), "{bob:?}");
    for i in 0..2 {
        assert_eq!(sim.state(i, "alice"), Some(UserState::InCall));
        assert_eq!(sim.state(i, "bob"), Some(UserState::InCall));
    }
    // Signals go both ways, stamped by the hub of the call.
    sim.send(1, 1, ClientMsg::Signal { call_id: id, signal: cand("c") });
    assert!(has(&sim.take(0, 1), |m| matches!(m, ServerMsg::Signal { from, .. } if from == "bob")));
    sim.send(0, 1, ClientMsg::Signal { call_id: id, signal: cand("d") });
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::Signal { from, .. } if from == "alice")));
    // bob hangs up on his hub: alice hears it, both are idle everywhere.
    sim.send(1, 1, ClientMsg::Hangup { call_id: id });
    assert!(has(&sim.take(0, 1), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. })));
    for i in 0..2 {
        assert_eq!(sim.state(i, "alice"), Some(UserState::Idle));
        assert_eq!(sim.state(i, "bob"), Some(UserState::Idle));
    }
}

#[test]
fn signals_across_hubs_go_only_inside_an_accepted_call() {
    let mut sim = Sim::new(2);
    sim.join(0, 1, "alice");
    sim.join(1, 1, "bob");
    sim.send(0, 1, ClientMsg::Call { to: "bob".into() });
    let id = call_id_of(&sim.take(1, 1));
    sim.send(1, 1, ClientMsg::Signal { call_id: id, signal: cand("x") });
    assert!(!has(&sim.take(0, 1), |m| matches!(m, ServerMsg::Signal { .. })));
    // A relay claiming to be from a user of another hub than its own is dropped.
    let mut out = Outbox::default();
    sim.hubs[0].relayed("h1", Relay::FromUser { from: "carol".into(), msg: ClientMsg::Accept { call_id: id } }, &mut out);
    assert!(out.deliveries.is_empty() && out.relay.is_empty());
    // bob declines from his hub: alice hears it.
    sim.send(1, 1, ClientMsg::Decline { call_id: id });
    assert!(has(&sim.take(0, 1), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::Declined, .. })));
}

#[test]
fn a_user_busy_on_another_hub_is_busy() {
    let mut sim = Sim::new(2);
    sim.join(1, 1, "bob");
    sim.join(1, 2, "carol");
    sim.send(1, 1, ClientMsg::Call { to: "carol".into() });
    sim.join(0, 1, "alice");
    sim.send(0, 1, ClientMsg::Call { to: "bob".into() });
    assert!(has(&sim.take(0, 1), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::Busy, .. })));
    // Rung before its hub heard: that hub refuses.
    let mut out = Outbox::default();
    sim.hubs[1].relayed("h0", Relay::Deliver { to: "bob".into(), msg: ServerMsg::Incoming { call_id: 5, from: "alice".into(), group: None } }, &mut out);
    assert!(matches!(&out.relay[..], [(n, Relay::Refuse { reason: CallEndReason::Busy, .. })] if n == "h0"));
    assert!(out.deliveries.is_empty());
}

#[test]
fn a_group_call_spans_three_hubs() {
    let mut sim = Sim::new(3);
    sim.join(0, 1, "alice");
    sim.join(1, 1, "bob");
    sim.join(2, 1, "carol");
    sim.send(0, 1, ClientMsg::Call { to: Callees::Group(vec!["bob".into(), "carol".into()]) });
    let id = call_id_of(&sim.take(1, 1));
    assert_eq!(call_id_of(&sim.take(2, 1)), id);
    sim.send(1, 1, ClientMsg::Accept { call_id: id });
    sim.send(2, 1, ClientMsg::Accept { call_id: id });
    // The room lives on alice's hub: it opens peer connections for all three.
    let joins = sim.media.iter().filter(|(h, m)| *h == 0 && matches!(m, MediaCmd::Join { call_id, .. } if *call_id == id)).count();
    assert_eq!(joins, 3);
    let bob = sim.take(1, 1);
    assert!(has(&bob, |m| matches!(m, ServerMsg::Accepted { sfu: true, media_hub: Some(u), .. } if u == "ws://h0/ws")), "{bob:?}");
    assert!(has(&bob, |m| matches!(m, ServerMsg::Group { joined, .. } if joined.len() == 3)));
    for i in 0..3 {
        assert_eq!(sim.hubs[i].info_by_name("carol").call, Some(id), "hub {i}");
    }
    // The hub's offer reaches bob through his hub; his answer reaches the room.
    let mut out = Outbox::default();
    let (_, conn) = sim.hubs[0].by_name.iter().find(|(n, _)| *n == "bob").map(|(n, c)| (n.clone(), *c)).unwrap();
    sim.hubs[0].media_signal(id, conn, cand("o"), &mut out);
    sim.pump(0, out);
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::Signal { .. })));
    sim.send(1, 1, ClientMsg::Signal { call_id: id, signal: cand("a") });
    assert!(sim.media.iter().any(|(h, m)| *h == 0 && matches!(m, MediaCmd::Signal { conn: c, .. } if *c == conn)));
    // carol leaves from her hub: the others are told.
    sim.send(2, 1, ClientMsg::Hangup { call_id: id });
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::Left { name, .. } if name == "carol")));
    assert_eq!(sim.state(0, "carol"), Some(UserState::Idle));
}

#[test]
fn a_room_goes_to_the_least_loaded_hub() {
    let mut sim = Sim::new(2);
    sim.join(0, 1, "alice");
    sim.join(0, 2, "bob");
    sim.hubs[0].set_load("h0", Load { participants: 0, cpu: 90.0, users: 2 });
    sim.hubs[0].set_load("h1", Load { participants: 0, cpu: 5.0, users: 0 });
    sim.send(0, 1, ClientMsg::Call { to: Callees::Group(vec!["bob".into()]) });
    let alice = sim.take(0, 1);
    assert!(has(&alice, |m| matches!(m, ServerMsg::Accepted { media_hub: Some(u), .. } if u == "ws://h1/ws")), "{alice:?}");
    let id = call_id_of(&alice);
    assert!(sim.media.iter().all(|(h, _)| *h == 1), "the room's media is on h1");
    sim.send(0, 2, ClientMsg::Accept { call_id: id });
    assert_eq!(sim.media.iter().filter(|(h, m)| *h == 1 && matches!(m, MediaCmd::Join { .. })).count(), 2);
    assert_eq!(sim.state(1, "alice"), Some(UserState::InCall));
    // echo goes by load too, and comes back accepted.
    sim.send(0, 1, ClientMsg::Hangup { call_id: id });
    sim.send(0, 1, ClientMsg::Call { to: "echo".into() });
    assert!(has(&sim.take(0, 1), |m| matches!(m, ServerMsg::Accepted { peer, sfu: true, .. } if peer == "echo")));
}

#[test]
fn a_call_between_two_outlives_the_death_of_its_hub() {
    let mut sim = Sim::new(3);
    let _ = alice_calls_bob(&mut sim);
    let token = token_of(&sim.take(1, 1));
    sim.kill(0);
    // bob's call goes on: nothing is said to him, alice is out of the roster.
    let bob = sim.take(1, 1);
    assert!(!has(&bob, |m| matches!(m, ServerMsg::CallEnded { .. })), "{bob:?}");
    assert_eq!(sim.state(1, "alice"), None);
    assert_eq!(sim.state(2, "bob"), Some(UserState::InCall), "bob claims his call");
    // alice comes back on h2 naming the call: it is known again, on one hub.
    sim.join_with(2, 7, "alice", Some(CallClaim { peer: "bob".into(), token })).unwrap();
    let bob = sim.take(1, 1);
    let alice = sim.take(2, 7);
    let ids: Vec<CallId> = [&bob, &alice].iter().filter_map(|msgs| msgs.iter().find_map(|m| if let ServerMsg::Resumed { call_id, .. } = m { Some(*call_id) } else { None })).collect();
    assert_eq!(ids.len(), 2, "both resumed: bob {bob:?}, alice {alice:?}");
    assert_eq!(ids[0], ids[1]);
    assert_eq!(bob.iter().filter(|m| matches!(m, ServerMsg::Resumed { .. })).count(), 1, "resumed once: {bob:?}");
    // A hang-up reaches the peer.
    sim.send(2, 7, ClientMsg::Hangup { call_id: ids[0] });
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. })));
}

#[test]
fn a_call_whose_hub_lives_is_claimed_back_on_it() {
    let mut sim = Sim::new(2);
    sim.join(0, 1, "alice");
    sim.join(1, 1, "bob");
    // bob calls: the call lives on h1, and alice's hub h0 dies.
    sim.send(1, 1, ClientMsg::Call { to: "alice".into() });
    let id = call_id_of(&sim.take(0, 1));
    sim.send(0, 1, ClientMsg::Accept { call_id: id });
    let token = token_of(&sim.take(0, 1));
    sim.kill(0);
    assert!(!has(&sim.take(1, 1), |m| matches!(m, ServerMsg::CallEnded { .. })));
    sim.join_with(1, 9, "alice", Some(CallClaim { peer: "bob".into(), token })).unwrap();
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::Resumed { .. })));
    assert!(has(&sim.take(1, 9), |m| matches!(m, ServerMsg::Resumed { .. })));
}

#[test]
fn a_ringing_call_or_a_room_on_a_dead_hub_ends() {
    let mut sim = Sim::new(2);
    sim.join(0, 1, "alice");
    sim.join(0, 2, "dave");
    sim.join(1, 1, "bob");
    sim.join(1, 2, "carol");
    sim.send(0, 1, ClientMsg::Call { to: "bob".into() });
    sim.send(0, 2, ClientMsg::Call { to: Callees::Group(vec!["carol".into()]) });
    let id = call_id_of(&sim.take(1, 2));
    sim.send(1, 2, ClientMsg::Accept { call_id: id });
    sim.kill(0);
    assert!(has(&sim.take(1, 1), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::PeerGone, .. })));
    assert!(has(&sim.take(1, 2), |m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::PeerGone, .. })));
    assert_eq!(sim.state(1, "bob"), Some(UserState::Idle));
    assert_eq!(sim.state(1, "carol"), Some(UserState::Idle));
}

#[test]
fn a_login_on_another_hub_replaces_the_first_with_access_control() {
    let mut sim = Sim::new(2);
    sim.join(0, 1, "alice");
    let mut out = Outbox::default();
    let r = JoinRequest { authenticated: true, ..req("alice", None) };
    sim.hubs[1].join(5, r, &mut out).unwrap();
    sim.pump(1, out);
    let old = sim.take(0, 1);
    assert!(has(&old, |m| matches!(m, ServerMsg::Error { code: ErrorCode::Replaced, .. })), "{old:?}");
    assert_eq!(sim.hubs[0].online(), 0);
    assert_eq!(sim.state(0, "alice"), Some(UserState::Idle));
}
