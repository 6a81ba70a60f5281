use super::*;
use termcall_shared::Signal;

fn hub() -> Hub {
    Hub::new(Default::default(), Duration::from_secs(30))
}

fn join(h: &mut Hub, conn: ConnId, name: &str) -> Outbox {
    let mut out = Outbox::default();
    h.join(conn, PROTOCOL_VERSION, name, &mut out).expect("join");
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

#[test]
fn welcome_lists_the_others_and_joins_are_announced() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    let out = join(&mut h, 2, "bob");
    match to(&out, 2)[0] {
        ServerMsg::Welcome { users, .. } => assert_eq!(users, &vec![UserInfo { name: "alice".into(), state: UserState::Idle }]),
        m => panic!("{m:?}"),
    }
    assert!(out.deliveries.iter().any(|(t, m)| *t == Target::Everyone && matches!(m, ServerMsg::Roster { joined, .. } if joined[0].name == "bob")));
}

#[test]
fn a_taken_name_is_refused_and_the_first_keeps_it() {
    let mut h = hub();
    join(&mut h, 1, "alice");
    let mut out = Outbox::default();
    let err = h.join(2, PROTOCOL_VERSION, "alice", &mut out).unwrap_err();
    assert_eq!(err.0, ErrorCode::NameTaken);
    assert_eq!(h.online(), 1);
    assert!(out.deliveries.is_empty());
}

#[test]
fn wrong_version_and_bad_name_are_refused() {
    let mut h = hub();
    let mut out = Outbox::default();
    assert_eq!(h.join(1, 99, "alice", &mut out).unwrap_err().0, ErrorCode::BadVersion);
    assert_eq!(h.join(1, PROTOCOL_VERSION, "a b", &mut out).unwrap_err().0, ErrorCode::BadName);
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
    let mut h = hub();
    join(&mut h, 1, "alice");
    join(&mut h, 2, "bob");
    let (id, _) = ring(&mut h, 1, "bob");
    h.handle(2, ClientMsg::Accept { call_id: id }, &mut Outbox::default());
    let mut out = Outbox::default();
    h.leave(2, &mut out);
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
