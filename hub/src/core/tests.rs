use super::*;
use termcall_shared::Signal;

fn hub() -> Hub {
    Hub::new(Default::default(), Duration::from_secs(30))
}

fn claim(peer: &str, token: &str) -> Option<CallClaim> {
    Some(CallClaim { peer: peer.into(), token: token.into() })
}

fn req(name: &str) -> JoinRequest {
    JoinRequest { version: PROTOCOL_VERSION, name: name.into(), authenticated: false, in_call_with: None, ask_simulcast: false }
}

/// Joins and flushes the roster, as the actor would once its queue runs dry.
fn join(h: &mut Hub, conn: ConnId, name: &str) -> Outbox {
    let mut out = Outbox::default();
    h.join(conn, req(name), &mut out).expect("join");
    h.flush_roster(&mut out);
    out
}

fn to(out: &Outbox, conn: ConnId) -> Vec<&ServerMsg> {
    out.deliveries.iter().filter(|(t, _)| *t == Target::One(conn)).map(|(_, m)| m).collect()
}

fn ring(h: &mut Hub, from: ConnId, to_name: &str) -> (CallId, Outbox) {
    let mut out = Outbox::default();
    h.handle(from, ClientMsg::Call { to: to_name.into() }, &mut out);
    let id = out
        .deliveries
        .iter()
        .find_map(|(_, m)| match m {
            ServerMsg::Ringing { call_id, .. } | ServerMsg::CallEnded { call_id, .. } => Some(*call_id),
            _ => None,
        })
        .expect("a call id");
    (id, out)
}

/// alice (1) called bob (2), who accepted: the hub and the call's id.
fn alice_and_bob_in_a_call() -> (Hub, CallId) {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    let (id, _) = ring(&mut h, 1, "bob");
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    (h, id)
}

#[test]
fn welcome_lists_the_others_and_joins_are_announced() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    let out = join(&mut h, 2, "bob");
    match to(&out, 2)[0] {
        ServerMsg::Welcome { users, .. } => assert_eq!(users, &vec![UserInfo::new("echo", UserState::Idle), UserInfo::new("alice", UserState::Idle)]),
        m => panic!("{m:?}"),
    }
    assert!(out.deliveries.iter().any(|(t, m)| *t == Target::Everyone && matches!(m, ServerMsg::Roster { joined, .. } if joined[0].name == "bob")));
}

#[test]
fn a_taken_name_is_refused_and_the_first_keeps_it() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    let mut out = Outbox::default();
    let err = h.join(2, req("alice"), &mut out).unwrap_err();
    assert_eq!(err.0, ErrorCode::NameTaken);
    assert_eq!(h.online(), 1);
    assert!(out.deliveries.is_empty());
}

#[test]
fn wrong_version_and_bad_name_are_refused() {
    let mut h = hub();
    let mut out = Outbox::default();
    assert_eq!(h.join(1, JoinRequest { version: 99, ..req("alice") }, &mut out).unwrap_err().0, ErrorCode::BadVersion);
    assert_eq!(h.join(1, req("a b"), &mut out).unwrap_err().0, ErrorCode::BadName);
}

#[test]
fn call_accept_signal_hangup() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    let (id, out) = ring(&mut h, 1, "bob");
    assert!(matches!(to(&out, 2)[0], ServerMsg::Incoming { from, .. } if from == "alice"));

    // Before accept, signals are refused.
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Signal { call_id: id, signal: Signal::EndOfCandidates }, &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::Error { code: ErrorCode::NotInCall, .. }));
    assert!(to(&out, 2).is_empty());

    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::Accepted { offerer: true, .. }));
    assert!(matches!(to(&out, 2)[0], ServerMsg::Accepted { offerer: false, .. }));

    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Signal { call_id: id, signal: Signal::Offer { sdp: "v=0".into() } }, &mut out);
    assert!(matches!(to(&out, 2)[0], ServerMsg::Signal { from, .. } if from == "alice"));

    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Hangup { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. }));
    assert_eq!(h.calls(), 0);
}

#[test]
fn a_third_party_cannot_signal_into_a_call() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    join(&mut h, 3, "mallory");
    let (id, _) = ring(&mut h, 1, "bob");
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    let mut out = Outbox::default();
    h.handle(3, ClientMsg::Signal { call_id: id, signal: Signal::Answer { sdp: "x".into() } }, &mut out);
    assert_eq!(out.deliveries.len(), 1);
    assert!(matches!(to(&out, 3)[0], ServerMsg::Error { code: ErrorCode::NotInCall, .. }));
    // Nor accept, decline or hang up someone else's call.
    for m in [ClientMsg::Accept { call_id: id }, ClientMsg::Decline { call_id: id }, ClientMsg::Hangup { call_id: id }] {
        let mut out = Outbox::default();
        h.handle(3, m, &mut out);
        assert!(to(&out, 1).is_empty() && to(&out, 2).is_empty());
    }
    assert_eq!(h.calls(), 1);
}

#[test]
fn busy_unknown_self_and_decline() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    join(&mut h, 3, "carol");
    let (id, _) = ring(&mut h, 1, "bob");
    let (_, out) = ring(&mut h, 3, "alice");
    assert!(matches!(to(&out, 3)[0], ServerMsg::CallEnded { reason: CallEndReason::Busy, .. }));
    let (_, out) = ring(&mut h, 3, "nobody");
    assert!(matches!(to(&out, 3)[0], ServerMsg::CallEnded { reason: CallEndReason::UnknownUser, .. }));
    let (_, out) = ring(&mut h, 3, "carol");
    assert!(matches!(to(&out, 3)[0], ServerMsg::CallEnded { reason: CallEndReason::SelfCall, .. }));
    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Decline { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::CallEnded { reason: CallEndReason::Declined, .. }));
    assert_eq!(h.calls(), 0);
}

#[test]
fn leaving_ends_the_call_and_the_roster_entry() {
    let (mut h, _) = alice_and_bob_in_a_call();
    let mut out = Outbox::default();
    h.leave(2, &mut out);
    h.flush_roster(&mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::CallEnded { reason: CallEndReason::PeerGone, .. }));
    assert!(out.deliveries.iter().any(|(_, m)| matches!(m, ServerMsg::Roster { left, .. } if left == &vec!["bob".to_string()])));
    assert_eq!((h.online(), h.calls()), (1, 0));
    // The name is free again.
    join(&mut h, 4, "bob");
}

#[test]
fn ringing_times_out() {
    let mut h = Hub::new(Default::default(), Duration::from_millis(0));
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    ring(&mut h, 1, "bob");
    let mut out = Outbox::default();
    h.tick(Instant::now(), &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::CallEnded { reason: CallEndReason::Timeout, .. }));
    assert!(matches!(to(&out, 2)[0], ServerMsg::CallEnded { reason: CallEndReason::Timeout, .. }));
    assert_eq!(h.calls(), 0);
}

#[test]
fn states_follow_the_call() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    let (id, _) = ring(&mut h, 1, "bob");
    assert_eq!(h.info_by_name("alice").state, UserState::Ringing);
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    assert_eq!(h.info_by_name("bob").state, UserState::InCall);
    h.handle(1, ClientMsg::Hangup { call_id: id }, &mut Outbox::default());
    assert_eq!(h.info_by_name("bob").state, UserState::Idle);
}

#[test]
fn with_access_control_a_second_login_replaces_the_first() {
    let (mut h, _) = alice_and_bob_in_a_call();
    let mut out = Outbox::default();
    h.join(3, JoinRequest { authenticated: true, ..req("alice") }, &mut out).expect("replaces");
    assert!(matches!(to(&out, 1)[0], ServerMsg::Error { code: ErrorCode::Replaced, .. }));
    assert_eq!(out.closes, vec![1]);
    assert!(matches!(to(&out, 2)[0], ServerMsg::CallEnded { reason: CallEndReason::PeerGone, .. }), "the old login's call ends");
    assert!(matches!(to(&out, 3)[0], ServerMsg::Welcome { .. }));
    assert_eq!((h.online(), h.calls()), (2, 0));
    // The roster's net change for alice is "online and idle", not "left".
    h.flush_roster(&mut out);
    let roster = out.deliveries.iter().find_map(|(_, m)| match m { ServerMsg::Roster { joined, left, .. } => Some((joined, left)), _ => None }).unwrap();
    assert!(roster.1.is_empty(), "{roster:?}");
    assert!(roster.0.iter().any(|u| u.name == "alice" && u.state == UserState::Idle));
}

#[test]
fn a_mass_join_is_one_roster_message() {
    let mut h = hub();
    let mut out = Outbox::default();
    for i in 0..100 {
        h.join(i, req(&format!("user{i}")), &mut out).unwrap();
    }
    h.leave(7, &mut out);
    h.flush_roster(&mut out);
    let rosters: Vec<_> = out.deliveries.iter().filter(|(_, m)| matches!(m, ServerMsg::Roster { .. })).collect();
    assert_eq!(rosters.len(), 1);
    match &rosters[0].1 {
        ServerMsg::Roster { joined, left, .. } => assert_eq!((joined.len(), left.clone()), (99, vec!["user7".to_string()])),
        _ => unreachable!(),
    }
    assert!(!h.roster_pending());
}

#[test]
fn a_call_is_resumed_when_both_parties_name_each_other() {
    let mut h = hub();
    let mut out = Outbox::default();
    h.join(1, JoinRequest { in_call_with: claim("bob", "t1"), ..req("alice") }, &mut out).unwrap();
    assert_eq!(h.info_by_name("alice").state, UserState::InCall, "shown busy while waiting for bob");
    join(&mut h, 3, "carol");
    let (_, refused) = ring(&mut h, 3, "alice");
    assert!(matches!(to(&refused, 3)[0], ServerMsg::CallEnded { reason: CallEndReason::Busy, .. }));
    let mut out = Outbox::default();
    h.join(2, JoinRequest { in_call_with: claim("alice", "t1"), ..req("bob") }, &mut out).unwrap();
    let id = match to(&out, 1)[0] {
        ServerMsg::Resumed { call_id, peer, .. } if peer == "bob" => *call_id,
        m => panic!("{m:?}"),
    };
    assert!(to(&out, 2).iter().any(|m| matches!(m, ServerMsg::Resumed { peer, .. } if peer == "alice")));
    // The resumed call carries signals and hangups like any accepted call.
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Signal { call_id: id, signal: Signal::RestartIce }, &mut out);
    assert!(matches!(to(&out, 2)[0], ServerMsg::Signal { .. }));
    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Hangup { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1)[0], ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. }));
}

#[test]
fn a_one_sided_resume_claim_makes_no_call() {
    let mut h = hub();
    let mut out = Outbox::default();
    h.join(1, JoinRequest { in_call_with: claim("bob", "t1"), ..req("mallory") }, &mut out).unwrap();
    h.join(2, req("bob"), &mut out).unwrap();
    h.join(3, JoinRequest { in_call_with: claim("bob", "t1"), ..req("eve") }, &mut out).unwrap();
    // Names that match but tokens that do not: no call either.
    h.join(4, JoinRequest { in_call_with: claim("dave", "t2"), ..req("carol") }, &mut out).unwrap();
    h.join(5, JoinRequest { in_call_with: claim("carol", "guess"), ..req("dave") }, &mut out).unwrap();
    assert_eq!(h.calls(), 0);
    assert!(!out.deliveries.iter().any(|(_, m)| matches!(m, ServerMsg::Resumed { .. })));
}

#[test]
fn a_long_roster_comes_in_chunks_after_the_welcome() {
    let mut h = hub();
    let mut out = Outbox::default();
    for i in 0..(WELCOME_CHUNK * 2 + 5) as ConnId {
        h.join(i, req(&format!("user{i}")), &mut out).unwrap();
    }
    let mut out = Outbox::default();
    h.join(9999, req("late"), &mut out).unwrap();
    let mine = to(&out, 9999);
    let mut listed = 0;
    for m in &mine {
        match m {
            ServerMsg::Welcome { users, .. } => listed += users.len(),
            ServerMsg::Roster { joined, .. } => listed += joined.len(),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(mine[0], ServerMsg::Welcome { users, .. } if users.len() == WELCOME_CHUNK));
    // The 405 others, and echo.
    assert_eq!((mine.len(), listed), (3, WELCOME_CHUNK * 2 + 6));
}

#[test]
fn a_claim_expires_or_is_dropped_by_a_hangup() {
    let mut h = hub();
    let mut out = Outbox::default();
    h.join(1, JoinRequest { in_call_with: claim("bob", "t"), ..req("alice") }, &mut out).unwrap();
    h.join(2, JoinRequest { in_call_with: claim("bob", "t"), ..req("carol") }, &mut out).unwrap();
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Hangup { call_id: 77 }, &mut out);
    assert!(to(&out, 1).is_empty(), "a hangup of the claimed call is not an error");
    assert_eq!(h.info_by_name("alice").state, UserState::Idle);
    h.tick(Instant::now() + RESUME_WAIT, &mut Outbox::default());
    assert_eq!(h.info_by_name("carol").state, UserState::Idle, "the claim expired");
}

#[test]
fn a_replacing_login_that_names_its_call_keeps_it() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    let (id, _) = ring(&mut h, 1, "bob");
    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut out);
    let token = match to(&out, 1)[0] {
        ServerMsg::Accepted { resume_token, .. } => resume_token.clone(),
        m => panic!("{m:?}"),
    };
    let mut out = Outbox::default();
    h.join(3, JoinRequest { authenticated: true, in_call_with: claim("bob", &token), ..req("alice") }, &mut out).unwrap();
    let mine = to(&out, 3);
    assert!(matches!(mine[0], ServerMsg::Welcome { .. }));
    assert!(matches!(mine[1], ServerMsg::Resumed { call_id, peer, .. } if *call_id == id && peer == "bob"));
    assert!(to(&out, 2).is_empty(), "bob notices nothing");
    h.check_invariants().unwrap();
    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Hangup { call_id: id }, &mut out);
    assert!(matches!(to(&out, 3)[0], ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. }));
}

fn group(names: &[&str]) -> ClientMsg {
    ClientMsg::Call { to: Callees::Group(names.iter().map(|n| n.to_string()).collect()) }
}

fn joins(out: &Outbox) -> Vec<ConnId> {
    out.media.iter().filter_map(|m| if let MediaCmd::Join { conn, .. } = m { Some(*conn) } else { None }).collect()
}

#[test]
fn a_client_that_asks_for_simulcast_offers_is_joined_to_the_media_side_so() {
    let mut h = hub();
    let mut out = Outbox::default();
    h.join(1, JoinRequest { ask_simulcast: true, ..req("alice") }, &mut out).unwrap();
    let (id, out) = ring(&mut h, 1, "echo");
    assert_eq!(out.media, vec![MediaCmd::Join { call_id: id, conn: 1, name: "alice".into(), echo: true, ask_simulcast: true }]);
    h.check_invariants().unwrap();
}

#[test]
fn echo_is_accepted_at_once_with_the_hub_as_the_other_end() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    let (id, out) = ring(&mut h, 1, "echo");
    assert!(to(&out, 1).iter().any(|m| matches!(m, ServerMsg::Accepted { peer, sfu: true, offerer: false, .. } if peer == "echo")));
    assert_eq!(out.media, vec![MediaCmd::Join { call_id: id, conn: 1, name: "alice".into(), echo: true, ask_simulcast: false }]);
    h.check_invariants().unwrap();
    // Its signals go to the media endpoint, and the endpoint's come back signed by the hub.
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Signal { call_id: id, signal: Signal::EndOfCandidates }, &mut out);
    assert!(matches!(&out.media[..], [MediaCmd::Signal { conn: 1, .. }]));
    let mut out = Outbox::default();
    h.media_signal(id, 1, Signal::EndOfCandidates, &mut out);
    assert!(matches!(to(&out, 1)[..], [ServerMsg::Signal { from, .. }] if from == "hub"));
    // No one may be invited into it; hanging up ends it.
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Invite { call_id: id, to: "bob".into() }, &mut out);
    assert!(matches!(to(&out, 1)[..], [ServerMsg::Error { code: ErrorCode::NotGroup, .. }]));
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Hangup { call_id: id }, &mut out);
    assert_eq!(out.media, vec![MediaCmd::Leave { call_id: id, conn: 1 }]);
    assert_eq!(h.calls(), 0);
    h.check_invariants().unwrap();
}

#[test]
fn a_group_call_rings_everyone_and_goes_on_while_two_remain() {
    let mut h = hub();
    for (c, n) in [(1, "alice"), (2, "bob"), (3, "carol"), (4, "dave"), (5, "erin")] {
        join(&mut h, c, n);
    }
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol", "dave", "nobody", "bob"]), &mut out);
    let id = match to(&out, 1)[0] {
        ServerMsg::Ringing { call_id, .. } => *call_id,
        m => panic!("{m:?}"),
    };
    assert!(to(&out, 1).iter().any(|m| matches!(m, ServerMsg::Left { name, reason: CallEndReason::UnknownUser, .. } if name == "nobody")));
    assert!(matches!(to(&out, 3)[0], ServerMsg::Incoming { from, group: Some(g), .. } if from == "alice" && g == &vec!["bob".to_owned()]));
    assert_eq!(joins(&out), vec![1]);
    h.check_invariants().unwrap();
    for c in [2, 3, 4] {
        let mut out = Outbox::default();
        h.handle(c, ClientMsg::Accept { call_id: id }, &mut out);
        assert_eq!(joins(&out), vec![c]);
        h.check_invariants().unwrap();
    }
    // The roster says who is in which call.
    let mut out = Outbox::default();
    h.flush_roster(&mut out);
    let infos: Vec<UserInfo> = out.deliveries.iter().flat_map(|(_, m)| match m {
        ServerMsg::Roster { joined, .. } => joined.clone(),
        _ => vec![],
    }).collect();
    assert!(infos.iter().filter(|u| u.call == Some(id)).count() == 4, "{infos:?}");
    // A fifth by invite.
    let mut out = Outbox::default();
    h.handle(2, ClientMsg::Invite { call_id: id, to: "erin".into() }, &mut out);
    assert!(matches!(to(&out, 5)[0], ServerMsg::Incoming { from, .. } if from == "bob"));
    assert!(to(&out, 1).iter().any(|m| matches!(m, ServerMsg::Group { ringing, .. } if ringing == &vec!["erin".to_owned()])));
    h.handle(5, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    // One leaves: the others are told and go on.
    let mut out = Outbox::default();
    h.leave(3, &mut out);
    for c in [1, 2, 4, 5] {
        assert!(to(&out, c).iter().any(|m| matches!(m, ServerMsg::Left { name, reason: CallEndReason::PeerGone, .. } if name == "carol")));
        assert!(!to(&out, c).iter().any(|m| matches!(m, ServerMsg::CallEnded { .. })));
    }
    assert_eq!(out.media, vec![MediaCmd::Leave { call_id: id, conn: 3 }]);
    h.check_invariants().unwrap();
    // Down to one: the call ends for the last one.
    for c in [2, 4] {
        h.handle(c, ClientMsg::Hangup { call_id: id }, &mut Outbox::default());
    }
    let mut out = Outbox::default();
    h.handle(5, ClientMsg::Hangup { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1).last(), Some(ServerMsg::CallEnded { reason: CallEndReason::PeerHangup, .. })));
    assert_eq!(h.calls(), 0);
    h.check_invariants().unwrap();
}

#[test]
fn group_calls_have_a_size_limit_and_refusals_end_an_empty_one() {
    let mut h = hub().max_group(3);
    for (c, n) in [(1, "alice"), (2, "bob"), (3, "carol"), (4, "dave")] {
        join(&mut h, c, n);
    }
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol", "dave"]), &mut out);
    assert!(matches!(to(&out, 1)[..], [ServerMsg::Error { code: ErrorCode::CallFull, .. }]));
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol"]), &mut out);
    let id = match to(&out, 1)[0] {
        ServerMsg::Ringing { call_id, .. } => *call_id,
        m => panic!("{m:?}"),
    };
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Invite { call_id: id, to: "dave".into() }, &mut out);
    assert!(matches!(to(&out, 1)[..], [ServerMsg::Error { code: ErrorCode::CallFull, .. }]));
    // Both decline: alice is alone, and the call is over.
    h.handle(2, ClientMsg::Decline { call_id: id }, &mut Outbox::default());
    let mut out = Outbox::default();
    h.handle(3, ClientMsg::Decline { call_id: id }, &mut out);
    assert!(matches!(to(&out, 1).last(), Some(ServerMsg::CallEnded { reason: CallEndReason::Declined, .. })));
    assert_eq!(h.calls(), 0);
    // Nobody to ring at all: over at once.
    let mut out = Outbox::default();
    h.handle(1, group(&["nobody"]), &mut out);
    assert!(matches!(to(&out, 1).last(), Some(ServerMsg::CallEnded { reason: CallEndReason::UnknownUser, .. })));
    assert!(out.media.is_empty());
    h.check_invariants().unwrap();
}

#[test]
fn a_huge_group_list_is_refused_at_once_and_duplicates_do_not_count() {
    let mut h = hub();
    for (c, n) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        join(&mut h, c, n);
    }
    // 7,200 names, 64 KiB of JSON: more than the parser lets through, handed to the core directly.
    let names: Vec<String> = (0..7_200).map(|i| format!("us{i:04}")).collect();
    let mut out = Outbox::default();
    h.handle(1, ClientMsg::Call { to: Callees::Group(names) }, &mut out);
    match &to(&out, 1)[..] {
        [ServerMsg::Error { code: ErrorCode::CallFull, message, .. }] => assert!(message.contains("at most 8 people"), "{message}"),
        other => panic!("{other:?}"),
    }
    // (How long that takes is measured by `cargo bench -p termcall-hub --bench group_list`.)
    assert_eq!(h.calls(), 0);
    // Repeated names within the limit ring each person once.
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol", "bob", "carol"]), &mut out);
    let rung: Vec<_> = out.deliveries.iter().filter(|(_, m)| matches!(m, ServerMsg::Incoming { .. })).collect();
    assert_eq!(rung.len(), 2, "{:?}", out.deliveries);
    h.check_invariants().unwrap();
}

#[test]
fn an_unanswered_invitation_lapses() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    join(&mut h, 3, "carol");
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol"]), &mut out);
    h.handle(2, ClientMsg::Accept { call_id: first_id(&out) }, &mut Outbox::default());
    let mut out = Outbox::default();
    h.tick(Instant::now() + Duration::from_secs(31), &mut out);
    assert!(matches!(to(&out, 3)[..], [ServerMsg::CallEnded { reason: CallEndReason::Timeout, .. }]));
    assert!(to(&out, 1).iter().any(|m| matches!(m, ServerMsg::Left { reason: CallEndReason::Timeout, .. })));
    assert_eq!(h.calls(), 1);
    h.check_invariants().unwrap();
}

fn first_id(out: &Outbox) -> CallId {
    out.deliveries.iter().find_map(|(_, m)| if let ServerMsg::Ringing { call_id, .. } = m { Some(*call_id) } else { None }).unwrap()
}

#[test]
fn a_participant_whose_media_fails_leaves_the_call() {
    let mut h = hub();
    for (c, n) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        join(&mut h, c, n);
    }
    let mut out = Outbox::default();
    h.handle(1, group(&["bob", "carol"]), &mut out);
    let id = first_id(&out);
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    h.handle(3, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    let mut out = Outbox::default();
    h.media_failed(id, 3, "the hub could not set up the media of this call", &mut out);
    assert!(to(&out, 3).iter().any(|m| matches!(m, ServerMsg::CallEnded { reason: CallEndReason::PeerGone, .. })));
    assert!(to(&out, 1).iter().any(|m| matches!(m, ServerMsg::Left { name, .. } if name == "carol")));
    assert_eq!(out.media, vec![MediaCmd::Leave { call_id: id, conn: 3 }]);
    h.check_invariants().unwrap();
    // A stale report about someone no longer in the call does nothing.
    let mut out = Outbox::default();
    h.media_failed(id, 3, "the hub could not set up the media of this call", &mut out);
    assert!(out.deliveries.is_empty() && out.media.is_empty());
}
