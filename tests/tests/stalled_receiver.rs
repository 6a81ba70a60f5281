//! A receiver that stops reading does not slow anyone else: four in a group call through the
//! hub, one of them stopped (SIGSTOP) for 10 s. The three others keep their frame rates of one
//! another, the hub's forwarding time (arrival to hand-over, per receiver) keeps its p99, and
//! the stopped one, resumed, has pictures again at once.
//! (A file of its own: its four clients must not share the two cores with another media test.)

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use termcall_tests::hub::{histogram_delta, quantile};
use termcall_tests::{participant, signal, Client, Hub, SOON};

const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Stats events this often: the resumed receiver's first pictures are timed to this.
const STATS_MS: u64 = 250;
const STOPPED: Duration = Duration::from_secs(10);

/// Frames decoded of each of `of` in `stats`.
fn frames(stats: &Value, of: &[&str]) -> Vec<u64> {
    of.iter().map(|n| participant(stats, n).and_then(|p| p["video"]["frames_decoded"].as_u64()).unwrap_or(0)).collect()
}

/// The newest stats event `c` has written (waiting for one if it has written none since the
/// last read): older ones are skipped.
fn latest_stats(c: &mut Client) -> Value {
    c.latest(&|e| e["event"] == "stats").unwrap_or_else(|| c.expect("stats", SOON, |e| e["event"] == "stats"))
}

/// The lowest frame rate each of `who` decoded of the others in `of(i)` over `window`, from
/// their frame counters at its start and its end, read side by side.
fn lowest_fps(clients: &mut [Client], who: &[usize], of: impl Fn(usize) -> Vec<&'static str>, window: Duration) -> Vec<f64> {
    let start: Vec<Vec<u64>> = who.iter().map(|&i| frames(&latest_stats(&mut clients[i]), &of(i))).collect();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    who.iter()
        .zip(start)
        .map(|(&i, a)| frames(&latest_stats(&mut clients[i]), &of(i)).iter().zip(&a).map(|(b, a)| b.saturating_sub(*a) as f64 / secs).fold(f64::MAX, f64::min))
        .collect()
}

#[test]
fn a_stopped_receiver_slows_no_one_else_and_has_pictures_again_once_resumed() {
    // A stopped process answers no pings either: the hub must not take carol for gone while
    // she is stopped (an operator's setting for clients that pause, such as phones).
    let hub = Hub::start_with(&["--dead-after-ms", "15000"]);
    let every = STATS_MS.to_string();
    let mut clients: Vec<Client> = NAMES
        .iter()
        .map(|n| {
            let mut args = vec!["--video-size", "320x240", "--stats-every", &every];
            if *n != "alice" {
                args.push("--auto-accept");
            }
            Client::ready(&hub, n, &args)
        })
        .collect();
    clients[0].expect_roster_now("all online", SOON, |u| NAMES[1..].iter().all(|n| u.iter().any(|x| x["name"] == *n)));
    clients[0].send(json!({"cmd":"call","to":["bob","carol","dave"]}));
    for c in clients.iter_mut() {
        c.expect_call("connected", SOON);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let others: Vec<&str> = NAMES.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| *n).collect();
        c.expect("every stream at 10 fps", Duration::from_secs(15), |e| {
            e["event"] == "stats" && others.iter().all(|n| participant(e, n).is_some_and(|p| p["video"]["fps"].as_f64() >= Some(10.0)))
        });
    }
    // The three who go on, and what each of them receives from the other two.
    let goers = [0usize, 1, 3];
    let seen_by = |i: usize| -> Vec<&'static str> { goers.iter().filter(|j| **j != i).map(|j| NAMES[*j]).collect() };

    // Before: 5 s with everyone reading.
    let hist0 = hub.forward_histogram();
    let before = lowest_fps(&mut clients, &goers, seen_by, Duration::from_secs(5));
    let hist1 = hub.forward_histogram();

    // carol stops reading anything (her process is stopped) for 10 s.
    let carol_pid = clients[2].pid();
    signal(carol_pid, libc::SIGSTOP);
    let stopped_at = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let during = lowest_fps(&mut clients, &goers, seen_by, STOPPED - Duration::from_secs(1));
    std::thread::sleep(STOPPED.saturating_sub(stopped_at.elapsed()));
    // What carol wrote before she stopped is not news.
    clients[2].latest(&|_| true);
    let hist2 = hub.forward_histogram();
    let dropped = hub.metric("termcall_sfu_queue_dropped_total").unwrap_or(0.0);

    // Resumed: the first stats event after which carol decodes each of the others steadily.
    let others_of_carol = ["alice", "bob", "dave"];
    let resumed_at = Instant::now();
    signal(carol_pid, libc::SIGCONT);
    let mut previous: Option<Vec<u64>> = None;
    let mut picture_after = None;
    // Each pair of her events after the SIGCONT: the frames decoded between them.
    while resumed_at.elapsed() < Duration::from_secs(5) {
        let s = clients[2].expect("carol's stats", SOON, |e| e["event"] == "stats");
        let now = frames(&s, &others_of_carol);
        // Two new frames of each in one 250 ms interval: live video, not the stale backlog.
        if previous.as_ref().is_some_and(|p| now.iter().zip(p).all(|(n, p)| n >= &(p + 2))) {
            picture_after = Some(resumed_at.elapsed());
            break;
        }
        previous = Some(now);
    }

    let p99_before = quantile(&histogram_delta(&hist1, &hist0), 0.99) * 1000.0;
    let p99_during = quantile(&histogram_delta(&hist2, &hist1), 0.99) * 1000.0;
    eprintln!(
        "lowest fps of one another: before {before:?}, while carol was stopped {during:?}; forwarding p99 {p99_before:.3} ms before, \
         {p99_during:.3} ms while stopped; queue drops {dropped}; carol decoding live video {picture_after:?} after SIGCONT"
    );
    for (k, &i) in goers.iter().enumerate() {
        assert!(during[k] >= 12.0 && during[k] >= before[k] - 2.0, "{} fell from {:.1} to {:.1} fps while carol was stopped", NAMES[i], before[k], during[k]);
    }
    assert!(p99_during < p99_before + 1.0, "forwarding p99 grew from {p99_before:.3} ms to {p99_during:.3} ms");
    let picture_after = picture_after.expect("carol decoded live video within 5 s of SIGCONT");
    // Stats come every 250 ms: the picture came within one interval before this event.
    assert!(picture_after <= Duration::from_millis(1000 + STATS_MS), "carol's live video came back {picture_after:?} after SIGCONT");
}
