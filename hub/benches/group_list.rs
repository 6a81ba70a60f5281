//! Benchmark: what a hostile group-call list costs the hub's single actor.
//!
//! A `call` whose `to` lists 7,200 names (64 KiB of JSON), measured three ways in one run:
//! parsing the message (refused by the parser's cap), the core refusing the list handed to it
//! directly (the length is checked before anything else), and, as the anchor, the quadratic
//! duplicate removal the core used to do before its size check. Beside them, a legitimate
//! 4-person group call set up by the core. Each figure is the median and 99th percentile of
//! `ROUNDS` (default 500) timed runs, in microseconds.
//!
//! `cargo bench -p termcall-hub --bench group_list`

use std::time::{Duration, Instant};

use termcall_hub::core::{Hub, JoinRequest, Outbox};
use termcall_hub::ice::IceDirectory;
use termcall_shared::{Callees, ClientMsg, PROTOCOL_VERSION};

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(500);
    let names: Vec<String> = (0..7_200).map(|i| format!("us{i:04}")).collect();
    let json = serde_json::json!({"type": "call", "to": names}).to_string();
    println!("a call listing {} names, {} bytes of JSON; {rounds} rounds each", names.len(), json.len());

    report("parse (refused by the cap)", time(rounds, || {
        let parsed = ClientMsg::parse(&json);
        assert!(parsed.is_err());
    }));

    let mut hub = Hub::new(IceDirectory::default(), Duration::from_secs(30));
    for (conn, name) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        let req = JoinRequest { version: PROTOCOL_VERSION, name: (*name).to_owned(), authenticated: false, in_call_with: None };
        hub.join(conn as u64, req, &mut Outbox::default()).expect("join");
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let msg = ClientMsg::Call { to: Callees::Group(names.clone()) };
        let mut out = Outbox::default();
        let started = Instant::now();
        hub.handle(0, msg, &mut out);
        samples.push(started.elapsed());
        assert_eq!(out.deliveries.len(), 1, "one error back");
    }
    report("core refuses the list", samples);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let list = std::hint::black_box(names.clone());
        let started = Instant::now();
        drop(list);
        samples.push(started.elapsed());
    }
    report("  of which freeing the 7,200 names", samples);

    report("anchor: the old quadratic dedup", time(rounds.min(20), || {
        let mut wanted: Vec<&String> = Vec::with_capacity(names.len());
        for n in &names {
            if !wanted.contains(&n) {
                wanted.push(n);
            }
        }
        assert_eq!(std::hint::black_box(wanted).len(), names.len());
    }));

    let mut samples = Vec::with_capacity(rounds);
    let group = ["bob", "carol", "dave"].map(String::from).to_vec();
    for _ in 0..rounds {
        let msg = ClientMsg::Call { to: Callees::Group(group.clone()) };
        let mut out = Outbox::default();
        let started = Instant::now();
        hub.handle(0, msg, &mut out);
        samples.push(started.elapsed());
        let call_id = out.deliveries.iter().find_map(|(_, m)| match m {
            termcall_shared::ServerMsg::Ringing { call_id, .. } => Some(*call_id),
            _ => None,
        });
        let call_id = call_id.expect("the group call rings");
        hub.handle(0, ClientMsg::Hangup { call_id }, &mut Outbox::default());
    }
    report("a 4-person group call set up", samples);
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    println!("{what:34} median {:>9.1} µs   p99 {:>9.1} µs", at(0.5), at(0.99));
}
