//! The churn test: 2,000 connect/disconnect cycles of every kind. Afterwards the hub
//! holds no more file descriptors than before, and its memory has not grown past 10%.

use std::time::{Duration, Instant};

use termcall_tests::{http_get, Hub, Raw, SOON};

/// One cycle of kind `i % 5`: a polite leave, an abrupt one, one that never says hello,
/// a refused hello, a plain HTTP request.
fn cycle(hub: &Hub, i: usize) {
    let name = format!("churn{}", i % 50);
    match i % 5 {
        0 => Raw::hello(&hub.url, &name).0.close(),
        1 => drop(Raw::hello(&hub.url, &name).0),
        2 => drop(Raw::connect(&hub.url)),
        3 => {
            let (r, refusal) = Raw::hello(&hub.url, "not a name");
            assert_eq!(refusal["code"], "bad_name");
            drop(r);
        }
        _ => assert!(http_get(&hub.addr, "/healthz").contains("200")),
    }
}

#[test]
fn two_thousand_cycles_leave_no_descriptors_and_little_memory_behind() {
    let hub = Hub::start();
    // Warm up the allocator and the runtime's pools before the baseline.
    for i in 0..200 {
        cycle(&hub, i);
    }
    let settle = |want_fds: Option<usize>| {
        let until = Instant::now() + SOON;
        loop {
            let fds = hub.open_fds();
            let online = hub.metric("termcall_users_online").unwrap_or(-1.0);
            if online == 0.0 && want_fds.is_none_or(|w| fds <= w) || Instant::now() > until {
                return (fds, hub.rss_kib(), online);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (fds0, rss0, _) = settle(None);
    let started = Instant::now();
    for i in 0..2000 {
        cycle(&hub, i);
    }
    let took = started.elapsed();
    let (fds1, rss1, online) = settle(Some(fds0));
    eprintln!(
        "2000 cycles in {took:?}: fds {fds0} -> {fds1}, RSS {rss0} KiB -> {rss1} KiB ({:+.1}%), online {online}",
        (rss1 as f64 / rss0 as f64 - 1.0) * 100.0
    );
    assert_eq!(online, 0.0, "every churned user left the roster");
    assert!(fds1 <= fds0, "file descriptors leaked: {fds0} -> {fds1}");
    assert!(rss1 as f64 <= rss0 as f64 * 1.10, "RSS grew more than 10%: {rss0} -> {rss1} KiB");
}
