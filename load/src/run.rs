//! The phases of a load run, each measured: a mass join, an idle hold, one more join timed
//! until every client has seen it, calls between pairs, and everyone leaving.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bot::{self, Order, Report, Tally};
use crate::probe;
use crate::Opts;

/// How long one phase may wait for the bots before the run fails.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// The hub's cost at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    rss_kib: Option<u64>,
    cpu: Option<Duration>,
    sent: f64,
    roster_sent: f64,
}

fn sample(opts: &Opts) -> Sample {
    Sample {
        at: Instant::now(),
        rss_kib: opts.hub_pid.and_then(probe::rss_kib),
        cpu: opts.hub_pid.and_then(probe::cpu_time),
        sent: probe::metric(&opts.hub, "termcall_messages_sent_total").unwrap_or(f64::NAN),
        roster_sent: probe::metric(&opts.hub, "termcall_roster_sent_total").unwrap_or(f64::NAN),
    }
}

/// CPU used between two samples, as a percentage of one core.
fn cpu_pct(a: &Sample, b: &Sample) -> String {
    match (a.cpu, b.cpu) {
        (Some(x), Some(y)) => format!("{:.1}% of a core", (y - x).as_secs_f64() / (b.at - a.at).as_secs_f64() * 100.0),
        _ => "n/a (no --hub-pid)".into(),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Waits for `n` reports that `pick` accepts, passing the rest to `other`.
async fn gather<T>(rx: &mut mpsc::UnboundedReceiver<Report>, n: usize, what: &str, mut pick: impl FnMut(Report) -> Option<T>) -> Result<Vec<T>, String> {
    let mut got = Vec::with_capacity(n);
    let until = tokio::time::Instant::now() + PHASE_LIMIT;
    while got.len() < n {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(r)) => {
                if let Some(t) = pick(r) {
                    got.push(t);
                }
            }
            Ok(None) => return Err(format!("{what}: the bots are gone")),
            Err(_) => return Err(format!("{what}: only {} of {n} within {PHASE_LIMIT:?}", got.len())),
        }
    }
    Ok(got)
}

pub async fn run(opts: &Opts) -> Result<String, String> {
    let n = opts.clients;
    let tally = Arc::new(Tally::default());
    let (watch_tx, watch_rx) = watch::channel(None::<String>);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut orders = Vec::with_capacity(n + 1);
    let mut out = String::new();
    let spawn = |idx: usize, name: String, orders: &mut Vec<watch::Sender<Order>>| {
        let (tx, rx) = watch::channel(Order::Hold);
        orders.push(tx);
        tokio::spawn(bot::run(opts.hub.clone(), idx, name, tally.clone(), watch_rx.clone(), rx, reports_tx.clone()));
    };

    // 1. The mass join, paced.
    let before = sample(opts);
    let started = Instant::now();
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(opts.connect_rate.max(1))));
    for idx in 0..n {
        pace.tick().await;
        spawn(idx, format!("{}{idx}", opts.prefix), &mut orders);
    }
    let mut failures = Vec::new();
    let joined = gather(&mut reports, n, "joins", |r| match r {
        Report::Joined { idx, result } => {
            if let Err(e) = result {
                failures.push(format!("{}{idx}: {e}", opts.prefix));
            }
            Some(())
        }
        _ => None,
    })
    .await?;
    if let Some(first) = failures.first() {
        return Err(format!("{} of {} clients could not join; the first said: {first}", failures.len(), joined.len()));
    }
    let join_took = started.elapsed();
    // Let the last roster batch go out before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_join = sample(opts);
    let roster_per_join = (after_join.roster_sent - before.roster_sent) / n as f64;
    let _ = writeln!(out, "mass join: {n} clients in {:.2}s ({:.0}/s)", join_took.as_secs_f64(), n as f64 / join_took.as_secs_f64());
    let _ = writeln!(
        out,
        "  hub sent {:.0} messages ({:.1} per join), of them {:.0} roster updates ({:.1} per join, so {:.4} per join per client)",
        after_join.sent - before.sent,
        (after_join.sent - before.sent) / n as f64,
        after_join.roster_sent - before.roster_sent,
        roster_per_join,
        roster_per_join / n as f64,
    );
    let _ = writeln!(out, "  hub CPU during the join: {}; RSS {} -> {}", cpu_pct(&before, &after_join), mib(before.rss_kib), mib(after_join.rss_kib));

    // 2. Hold, idle.
    let hold_start = sample(opts);
    tokio::time::sleep(Duration::from_secs(opts.hold_secs)).await;
    let hold_end = sample(opts);
    let _ = writeln!(
        out,
        "idle hold of {n} clients for {}s: hub CPU {}, RSS {} ({:.1} KiB per client over the empty hub)",
        opts.hold_secs,
        cpu_pct(&hold_start, &hold_end),
        mib(hold_end.rss_kib),
        match (before.rss_kib, hold_end.rss_kib) {
            (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / n as f64,
            _ => f64::NAN,
        }
    );

    // 3. One more join, timed until every client has it in its roster.
    let probe_name = format!("{}probe", opts.prefix);
    let _ = watch_tx.send(Some(probe_name.clone()));
    let msgs_before = tally.messages.load(Relaxed);
    let probe_before = sample(opts);
    let t0 = Instant::now();
    spawn(n, probe_name, &mut orders);
    let mut saw = gather(&mut reports, n, "the probe join reaching everyone", |r| match r {
        Report::Saw { at } => Some(at.duration_since(t0)),
        _ => None,
    })
    .await?;
    saw.sort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe_after = sample(opts);
    let _ = writeln!(
        out,
        "one more join reached all {n} clients in {:.0} ms (p50 {:.0} ms); hub sent {:.0} roster updates for it, clients read {} messages",
        percentile(&saw, 1.0).as_secs_f64() * 1000.0,
        percentile(&saw, 0.5).as_secs_f64() * 1000.0,
        probe_after.roster_sent - probe_before.roster_sent,
        tally.messages.load(Relaxed) - msgs_before,
    );

    // 4. Calls between pairs.
    let calls = opts.calls.min(n / 2);
    if calls > 0 {
        let t = Instant::now();
        for k in 0..calls {
            let _ = orders[2 * k].send(Order::Call(format!("{}{}", opts.prefix, 2 * k + 1)));
        }
        let mut took = gather(&mut reports, calls, "calls", |r| match r {
            Report::CallUp { took } => Some(took),
            _ => None,
        })
        .await?;
        took.sort();
        let _ = writeln!(
            out,
            "{calls} calls rung and accepted at once in {:.0} ms: call to accepted p50 {:.1} ms, p99 {:.1} ms; {} errors",
            t.elapsed().as_secs_f64() * 1000.0,
            percentile(&took, 0.5).as_secs_f64() * 1000.0,
            percentile(&took, 0.99).as_secs_f64() * 1000.0,
            tally.errors.load(Relaxed),
        );
    }

    // 5. Everyone leaves.
    let t = Instant::now();
    for o in &orders {
        let _ = o.send(Order::Leave);
    }
    drop(reports_tx);
    let everyone = orders.len();
    gather(&mut reports, everyone, "leaving", |r| matches!(r, Report::Gone).then_some(())).await?;
    let mut online = f64::NAN;
    for _ in 0..50 {
        online = probe::metric(&opts.hub, "termcall_users_online").unwrap_or(f64::NAN);
        if online == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = sample(opts);
    let _ = writeln!(out, "all left in {:.0} ms; hub users online {online}, RSS {}", t.elapsed().as_secs_f64() * 1000.0, mib(end.rss_kib));
    let _ = write!(out, "clients read {} messages, {:.1} MiB in all", tally.messages.load(Relaxed), tally.bytes.load(Relaxed) as f64 / 1048576.0);
    Ok(out)
}
