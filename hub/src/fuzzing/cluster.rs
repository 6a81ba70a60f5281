//! The cluster target: two hubs of one cluster, wired to each other as Redis would carry what
//! they say, and a script of any bytes: joins, calls, answers, signals and leaves of four fake
//! clients on either hub, clock ticks, one hub dying and coming back, and messages of any kind
//! that a hub might relay (forged names, stale call ids) thrown at the other. After every step
//! both hubs' invariants hold, nothing is delivered by a hub to another hub's user itself, the
//! hubs stop talking to each other, and no signal goes back to its sender or bears a name that
//! is no user's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use termcall_shared::cluster::{Presence, Relay};
use termcall_shared::{CallClaim, CallEndReason, Callees, ClientMsg, ServerMsg, UserInfo, UserState, PROTOCOL_VERSION};

use super::{signal, NAMES};
use crate::core::{ConnId, Hub, JoinRequest, Outbox, Target, REMOTE_CONN_BASE};
use crate::ice::IceDirectory;

fn node(i: usize) -> String {
    format!("h{i}")
}

fn fresh(i: usize) -> Hub {
    Hub::new(IceDirectory::default(), Duration::from_secs(30)).max_group(4).first_call_id(1 + i as u64 * 1000).clustered(&node(i), &format!("ws://{}/ws", node(i)))
}

struct Pair {
    hubs: [Hub; 2],
    alive: [bool; 2],
    /// Who is logged in where: (hub, connection) to name.
    names: HashMap<(usize, ConnId), &'static str>,
}

impl Pair {
    /// Delivers what hub `i` said, and everything that leads to, checking as it goes.
    fn pump(&mut self, i: usize, out: Outbox) {
        let mut queue = vec![(i, out)];
        let mut rounds = 0;
        while !queue.is_empty() {
            rounds += 1;
            assert!(rounds < 1_000, "the hubs keep talking to each other");
            while let Some((i, mut out)) = queue.pop() {
                if let Err(why) = self.hubs[i].check_invariants() {
                    panic!("hub {i}: {why}");
                }
                self.hubs[i].route_remote(&mut out);
                for (target, msg) in &out.deliveries {
                    if let Target::One(conn) = target {
                        assert!(*conn < REMOTE_CONN_BASE, "hub {i} delivered to another hub's user itself");
                        if let ServerMsg::Signal { from, .. } = msg {
                            assert_ne!(self.names.get(&(i, *conn)).copied(), Some(from.as_str()), "a signal echoed to its sender");
                            assert!(from == "hub" || NAMES.contains(&from.as_str()), "a signal stamped {from:?}");
                        }
                    }
                }
                let j = 1 - i;
                if !self.alive[j] {
                    continue;
                }
                let joined: Vec<Presence> = out.presence.iter().filter_map(|(_, p)| p.clone()).collect();
                let left: Vec<String> = out.presence.iter().filter(|(_, p)| p.is_none()).map(|(n, _)| n.clone()).collect();
                if !joined.is_empty() || !left.is_empty() {
                    let mut o = Outbox::default();
                    self.hubs[j].remote_roster(&node(i), joined, left, false, &mut o);
                    queue.push((j, o));
                }
                for (to, relay) in out.relay.drain(..) {
                    assert_eq!(to, node(j), "hub {i} relayed to a hub it does not know");
                    let mut o = Outbox::default();
                    self.hubs[j].relayed(&node(i), relay, &mut o);
                    queue.push((j, o));
                }
            }
            for j in 0..2 {
                if self.alive[j] && self.hubs[j].roster_pending() {
                    let mut o = Outbox::default();
                    self.hubs[j].flush_roster(&mut o);
                    queue.push((j, o));
                }
            }
        }
    }
}

/// The target.
pub fn cluster(data: &[u8]) {
    let mut pair = Pair { hubs: [fresh(0), fresh(1)], alive: [true, true], names: HashMap::new() };
    let mut now = Instant::now();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let mut next = || bytes.next().unwrap_or(0);
        let h = usize::from(op >> 7);
        let conn = ConnId::from(next() % 4);
        let arg = next();
        let pick = next();
        let name = NAMES[usize::from(arg) % NAMES.len()];
        // Call ids of either hub, and a few that are no one's.
        let call_id = u64::from(pick % 6) + if pick & 0x40 != 0 { 1000 } else { 1 };
        if !pair.alive[h] {
            if op % 16 == 15 {
                // The dead hub comes back empty, and writes its (no) users for the other.
                pair.hubs[h] = fresh(h);
                pair.alive[h] = true;
                pair.names.retain(|(i, _), _| *i != h);
                let mut o = Outbox::default();
                pair.hubs[1 - h].remote_roster(&node(h), vec![], vec![], true, &mut o);
                pair.pump(1 - h, o);
            }
            continue;
        }
        let mut out = Outbox::default();
        let msg = match op % 16 {
            0 => {
                let req = JoinRequest {
                    version: PROTOCOL_VERSION,
                    name: name.to_owned(),
                    authenticated: arg & 0x40 != 0,
                    in_call_with: (arg & 0x20 != 0).then(|| CallClaim { peer: NAMES[usize::from(pick) % NAMES.len()].to_owned(), token: "t".into() }),
                    ask_simulcast: false,
                };
                if pair.hubs[h].join(conn, req, &mut out).is_ok() {
                    pair.names.retain(|_, n| *n != name);
                    pair.names.insert((h, conn), name);
                }
                None
            }
            1 if arg & 0x80 != 0 => Some(ClientMsg::Call { to: "echo".into() }),
            1 => Some(ClientMsg::Call { to: name.into() }),
            2 => Some(ClientMsg::Accept { call_id }),
            3 => Some(ClientMsg::Decline { call_id }),
            4 => Some(ClientMsg::Hangup { call_id }),
            5 => Some(ClientMsg::Signal { call_id, signal: signal(arg) }),
            6 => Some(ClientMsg::Call { to: Callees::Group(vec![name.to_owned(), NAMES[usize::from(pick) % NAMES.len()].to_owned()]) }),
            7 => {
                pair.hubs[h].leave(conn, &mut out);
                pair.names.remove(&(h, conn));
                None
            }
            8 => {
                now += Duration::from_millis(u64::from(arg) * 500);
                pair.hubs[h].tick(now, &mut out);
                None
            }
            9 => Some(ClientMsg::Invite { call_id, to: name.to_owned() }),
            10 => {
                pair.hubs[h].media_signal(call_id, conn, signal(arg), &mut out);
                None
            }
            11 => {
                // Hub h dies: the other finds out.
                pair.alive[h] = false;
                let mut o = Outbox::default();
                pair.hubs[1 - h].node_gone(&node(h), &mut o);
                pair.pump(1 - h, o);
                continue;
            }
            12 => {
                // Anything the other hub might say, with any names and ids.
                let from = NAMES[usize::from(pick) % NAMES.len()].to_owned();
                let relay = match arg % 7 {
                    0 => Relay::Deliver { to: name.to_owned(), msg: ServerMsg::Incoming { call_id, from, group: None } },
                    1 => Relay::Deliver {
                        to: name.to_owned(),
                        msg: ServerMsg::Accepted { call_id, peer: from, offerer: arg & 8 != 0, resume_token: "t".into(), sfu: false, media_hub: None },
                    },
                    2 => Relay::Deliver { to: name.to_owned(), msg: ServerMsg::CallEnded { call_id, peer: from, reason: CallEndReason::PeerHangup } },
                    3 => Relay::FromUser { from, msg: ClientMsg::Accept { call_id } },
                    4 => Relay::PlaceRoom { from, call_id, to: Callees::Group(vec![name.to_owned()]) },
                    5 => Relay::Claim { from, claim: CallClaim { peer: name.to_owned(), token: "t".into() } },
                    _ => Relay::Refuse { from, call_id, reason: CallEndReason::Busy },
                };
                pair.hubs[h].relayed(&node(1 - h), relay, &mut out);
                None
            }
            13 => {
                // A roster event from the other hub that may contradict what this one knows.
                let state = if arg & 1 != 0 { UserState::InCall } else { UserState::Idle };
                let p = Presence { info: UserInfo::new(name, state), ask_simulcast: false };
                pair.hubs[h].remote_roster(&node(1 - h), vec![p], vec![], arg & 2 != 0, &mut out);
                None
            }
            _ => {
                pair.hubs[h].flush_roster(&mut out);
                None
            }
        };
        if let Some(msg) = msg {
            pair.hubs[h].handle(conn, msg, &mut out);
        }
        pair.pump(h, out);
    }
}
