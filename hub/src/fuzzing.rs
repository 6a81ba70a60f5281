//! What the fuzz targets in `fuzz/` run, kept here so that the unit tests replay the committed
//! corpus on every build (no nightly toolchain needed) and the targets stay one line each.
//!
//! - [`protocol`]: any bytes as a client or hub message: never a panic, and whatever parses
//!   serializes and parses back to itself.
//! - [`hub`]: any bytes as a script of joins, messages, leaves and clock ticks from six fake
//!   clients against the hub's state machine, checking its invariants after every step and
//!   that signals only ever reach the other party of an accepted call, stamped with the
//!   sender's own name.
//! - [`cluster`]: two hubs of one cluster wired together, under a script of any bytes from their
//!   clients, with one hub dying and coming back and forged messages between them.
//! - [`turn_stream`]: any bytes as what a TURN client sends on a TCP stream, delivered in
//!   chunks of any size: the messages cut are the same however the bytes arrive, none is
//!   longer than the limit, and the queue toward such a client keeps its bounds and order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use termcall_shared::{CallClaim, Callees, ClientMsg, ServerMsg, Signal, PROTOCOL_VERSION};

use crate::core::{ConnId, Hub, JoinRequest, Outbox, Target};
use crate::ice::IceDirectory;

mod cluster;
pub use cluster::cluster;

/// The decoder target.
pub fn protocol(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = ClientMsg::parse(text) {
        let again = serde_json::to_string(&m).expect("a parsed client message serializes");
        assert_eq!(ClientMsg::parse(&again).expect("and parses back"), m);
    }
    if let Ok(m) = serde_json::from_str::<ServerMsg>(text) {
        let again = serde_json::to_string(&m).expect("a parsed hub message serializes");
        assert_eq!(serde_json::from_str::<ServerMsg>(&again).expect("and parses back"), m);
    }
}

/// The TURN-over-TCP target: the first byte picks the chunk size the rest arrives in.
pub fn turn_stream(data: &[u8]) {
    use crate::turn::framing::{cut, MAX_MESSAGE};
    use bytes::BytesMut;
    let Some((&first, stream)) = data.split_first() else { return };
    let chunk = usize::from(first % 64) + 1;
    // All at once, then in chunks: the same messages, and the same verdict at the end.
    let all_at_once = |bytes: &[u8], chunk: usize| {
        let (mut buf, mut messages) = (BytesMut::new(), Vec::new());
        for piece in bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match cut(&mut buf) {
                    Ok(Some(m)) => {
                        assert!(!m.is_empty() && m.len() <= MAX_MESSAGE, "a message of {} bytes", m.len());
                        messages.push(m);
                    }
                    Ok(None) => break,
                    Err(e) => return (messages, Some(e)),
                }
            }
            assert!(buf.len() <= MAX_MESSAGE + chunk, "{} bytes held", buf.len());
        }
        (messages, None)
    };
    let (whole, whole_end) = all_at_once(stream, stream.len().max(1));
    let (pieces, pieces_end) = all_at_once(stream, chunk);
    assert_eq!(whole, pieces, "the messages depend on how the bytes arrived");
    assert_eq!(whole_end, pieces_end);
    // The messages as packets toward a slow client: bounded, in order, only video dropped.
    let mut queue = termcall_congestion::stream_queue::StreamQueue::new(Duration::from_millis(100), 8 * 1024);
    let t0 = Instant::now();
    let (mut sent, mut kept) = (Vec::new(), Vec::new());
    for (i, m) in whole.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 7);
        if queue.push(m, now) {
            kept.push(m.to_vec());
        }
        assert!(queue.bytes() <= 8 * 1024);
        if i % 3 == 0 {
            if let Some(p) = queue.pop(now) {
                sent.push(p);
            }
        }
    }
    while let Some(p) = queue.pop(t0) {
        sent.push(p);
    }
    // What was sent is what was kept, in order, less some video.
    let mut rest = kept.iter();
    for p in &sent {
        assert!(rest.any(|k| k == p), "sent out of order or never queued");
    }
    let dropped = kept.iter().filter(|k| !sent.contains(k)).all(|k| termcall_congestion::stream_queue::droppable(k));
    assert!(dropped, "only video is dropped");
}

const NAMES: [&str; 6] = ["alice", "bob", "carol", "dave", "eve", "not a name"];

/// The state-machine target.
pub fn hub(data: &[u8]) {
    let mut hub = Hub::new(IceDirectory::default(), Duration::from_secs(30)).max_group(4);
    let mut now = Instant::now();
    let mut names: HashMap<ConnId, &str> = HashMap::new();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let mut next = || bytes.next().unwrap_or(0);
        let conn = ConnId::from(next() % 6);
        let arg = next();
        let call_id = u64::from(next() % 8);
        let name = NAMES[usize::from(arg) % NAMES.len()];
        let mut out = Outbox::default();
        let mut from_hub = false;
        let msg = match op % 13 {
            0 => {
                let req = JoinRequest {
                    version: if arg & 0x80 != 0 { 7 } else { PROTOCOL_VERSION },
                    name: name.to_owned(),
                    authenticated: arg & 0x40 != 0,
                    in_call_with: (arg & 0x20 != 0).then(|| CallClaim { peer: NAMES[call_id as usize % NAMES.len()].to_owned(), token: "t".into() }),
                    ask_simulcast: arg & 0x10 != 0,
                };
                if hub.join(conn, req, &mut out).is_ok() {
                    names.retain(|_, n| *n != name);
                    names.insert(conn, name);
                }
                None
            }
            1 if arg & 0x80 != 0 => Some(ClientMsg::Call { to: "echo".into() }),
            1 => Some(ClientMsg::Call { to: name.into() }),
            2 => Some(ClientMsg::Accept { call_id }),
            3 => Some(ClientMsg::Decline { call_id }),
            4 => Some(ClientMsg::Hangup { call_id }),
            5 => Some(ClientMsg::Signal { call_id, signal: signal(arg) }),
            6 => Some(ClientMsg::Hello { version: PROTOCOL_VERSION, name: name.to_owned(), secret: None, in_call_with: None, ask_simulcast: false }),
            7 => {
                hub.leave(conn, &mut out);
                names.remove(&conn);
                None
            }
            8 => {
                now += Duration::from_millis(u64::from(arg) * 500);
                hub.tick(now, &mut out);
                None
            }
            10 => {
                // A group list of any length: a few names from the script, or (top bit) thousands,
                // repeats and strangers included.
                let len = if arg & 0x80 != 0 { usize::from(arg & 0x7f) * 97 } else { usize::from(arg & 0x07) };
                let seed = usize::from(next());
                let list = (0..len).map(|i| NAMES[(seed + i * 7 + i / 5) % NAMES.len()].to_owned()).collect();
                Some(ClientMsg::Call { to: Callees::Group(list) })
            }
            11 => Some(ClientMsg::Invite { call_id, to: name.to_owned() }),
            12 => {
                from_hub = true;
                hub.media_signal(call_id, conn, signal(arg), &mut out);
                None
            }
            _ => {
                hub.flush_roster(&mut out);
                None
            }
        };
        let signal_sent = matches!(msg, Some(ClientMsg::Signal { .. }));
        if let Some(msg) = msg {
            hub.handle(conn, msg, &mut out);
        }
        if let Err(why) = hub.check_invariants() {
            panic!("after op {op} from {conn}: {why}");
        }
        for (target, m) in &out.deliveries {
            if let ServerMsg::Signal { from, .. } = m {
                if from_hub {
                    assert_eq!((from.as_str(), *target), ("hub", Target::One(conn)), "the media endpoint's signal went astray");
                    continue;
                }
                assert!(signal_sent, "a signal out of nowhere");
                assert_eq!(Some(&from.as_str()), names.get(&conn), "a signal stamped with someone else's name");
                assert_ne!(*target, Target::One(conn), "a signal echoed to its sender");
                assert_ne!(*target, Target::Everyone, "a signal broadcast");
            }
        }
    }
}

fn signal(arg: u8) -> Signal {
    match arg % 5 {
        0 => Signal::Offer { sdp: "v=0".into() },
        1 => Signal::Answer { sdp: "v=0".into() },
        2 => Signal::EndOfCandidates,
        3 => Signal::RestartIce,
        _ => Signal::Candidate { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(), sdp_mid: None, sdp_mline_index: None, username_fragment: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed seed corpus and every crash-free input the fuzzer found worth keeping.
    #[test]
    fn the_committed_corpus_passes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let mut replayed = 0;
        for (target, run) in [("protocol", protocol as fn(&[u8])), ("hub", hub), ("cluster", cluster), ("turn_stream", turn_stream)] {
            let dir = root.join(target);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries.flatten() {
                run(&std::fs::read(entry.path()).unwrap());
                replayed += 1;
            }
        }
        assert!(replayed >= 10, "only {replayed} corpus files");
    }

    #[test]
    fn random_streams_pass_the_checks() {
        let mut seed = 0x2545_F491u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 300) as usize;
            // Mostly well-formed ChannelData and STUN, some noise.
            let mut data = vec![next() as u8];
            while data.len() < len {
                match next() % 3 {
                    0 => {
                        let n = (next() % 1300) as usize;
                        data.extend_from_slice(&[0x40, 0x00, (n >> 8) as u8, n as u8, 0x80, 102]);
                        data.extend(std::iter::repeat_n(0u8, n.next_multiple_of(4).saturating_sub(2)));
                    }
                    1 => data.extend_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
                    _ => data.push(next() as u8),
                }
            }
            turn_stream(&data);
        }
    }

    #[test]
    fn random_cluster_scripts_pass_the_checks() {
        let mut seed = 0x9E37_79B9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..1500 {
            let len = (next() % 400) as usize;
            // Joins first, so that there is someone to call.
            let mut data: Vec<u8> = (0..8u8).flat_map(|k| [(k & 1) << 7, k / 2, k, 0]).collect();
            data.extend((0..len).map(|_| next() as u8));
            cluster(&data);
        }
    }

    #[test]
    fn a_scripted_call_passes_the_checks() {
        // join alice(0), join bob(1), alice calls bob, bob accepts call 1, alice signals, bob leaves.
        hub(&[0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 2, 1, 0, 1, 5, 0, 0, 1, 7, 1, 0, 0, 9, 0, 0, 0]);
    }
}
