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

/// The hubs' cost at one moment (summed over the hubs, and each hub's memory and CPU).
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    rss_kib: Vec<Option<u64>>,
    cpu: Vec<Option<Duration>>,
    sent: f64,
    roster_sent: f64,
    /// Redis's memory in bytes and commands processed so far, with `--redis`.
    redis_memory: f64,
    redis_commands: f64,
}

fn sample(opts: &Opts) -> Sample {
    let sum = |name: &str| opts.hub.iter().map(|h| probe::metric(h, name).unwrap_or(f64::NAN)).sum();
    let redis = |field: &str| opts.redis.as_deref().and_then(|r| probe::redis_info(r, field)).unwrap_or(f64::NAN);
    Sample {
        at: Instant::now(),
        rss_kib: opts.hub_pid.iter().map(|p| probe::rss_kib(*p)).collect(),
        cpu: opts.hub_pid.iter().map(|p| probe::cpu_time(*p)).collect(),
        sent: sum("termcall_messages_sent_total"),
        roster_sent: sum("termcall_roster_sent_total"),
        redis_memory: redis("used_memory"),
        redis_commands: redis("total_commands_processed"),
    }
}

/// CPU used between two samples by each hub, as a percentage of one core.
fn cpu_pct(a: &Sample, b: &Sample) -> String {
    if a.cpu.is_empty() {
        return "n/a (no --hub-pid)".into();
    }
    let each: Vec<String> = a
        .cpu
        .iter()
        .zip(&b.cpu)
        .map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => format!("{:.1}%", (*y - *x).as_secs_f64() / (b.at - a.at).as_secs_f64() * 100.0),
            _ => "n/a".into(),
        })
        .collect();
    format!("{} of a core", each.join(" / "))
}

fn mib(kib: &[Option<u64>]) -> String {
    if kib.is_empty() {
        return "n/a".into();
    }
    kib.iter().map(|k| k.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))).collect::<Vec<_>>().join(" / ")
}

/// Memory over the empty hubs, per client on them.
fn kib_per_client(before: &Sample, after: &Sample, n: usize) -> f64 {
    let grown: u64 = before.rss_kib.iter().zip(&after.rss_kib).filter_map(|(a, b)| Some(b.as_ref()?.saturating_sub(*a.as_ref()?))).sum();
    grown as f64 / n as f64
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
    let hubs = opts.hub.len();
    let spawn = |idx: usize, name: String, orders: &mut Vec<watch::Sender<Order>>| {
        let (tx, rx) = watch::channel(Order::Hold);
        orders.push(tx);
        let hub = opts.hub[idx % hubs].clone();
        tokio::spawn(bot::run(hub, idx, name, tally.clone(), watch_rx.clone(), rx, reports_tx.clone()));
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
    let _ = writeln!(out, "  hub CPU during the join: {}; RSS {} -> {}", cpu_pct(&before, &after_join), mib(&before.rss_kib), mib(&after_join.rss_kib));

    // 2. Hold, idle.
    let hold_start = sample(opts);
    tokio::time::sleep(Duration::from_secs(opts.hold_secs)).await;
    let hold_end = sample(opts);
    let _ = writeln!(
        out,
        "idle hold of {n} clients for {}s: hub CPU {}, RSS {} ({:.1} KiB per client over the empty hub)",
        opts.hold_secs,
        cpu_pct(&hold_start, &hold_end),
        mib(&hold_end.rss_kib),
        kib_per_client(&before, &hold_end, n),
    );
    if opts.redis.is_some() {
        let secs = (hold_end.at - hold_start.at).as_secs_f64();
        let _ = writeln!(
            out,
            "  redis: {:.1} MiB used, {:.0} commands a second while idle",
            hold_end.redis_memory / 1048576.0,
            (hold_end.redis_commands - hold_start.redis_commands) / secs,
        );
    }

    // 3. One more join, timed until every client has it in its roster.
    let probe_name = format!("{}probe", opts.prefix);
    let _ = watch_tx.send(Some(probe_name.clone()));
    let msgs_before = tally.messages.load(Relaxed);
    let probe_before = sample(opts);
    let t0 = Instant::now();
    spawn(n, probe_name, &mut orders);
    // Everyone still connected: a bot the hub dropped cannot see it (and is reported).
    let connected = n - tally.dropped.load(Relaxed) as usize;
    let mut saw = gather(&mut reports, connected, "the probe join reaching everyone", |r| match r {
        Report::Saw { at } => Some(at.duration_since(t0)),
        _ => None,
    })
    .await?;
    saw.sort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe_after = sample(opts);
    let _ = writeln!(
        out,
        "one more join reached all {connected} connected clients in {:.0} ms (p50 {:.0} ms, p99 {:.0} ms); hubs sent {:.0} roster updates for it, clients read {} messages",
        percentile(&saw, 1.0).as_secs_f64() * 1000.0,
        percentile(&saw, 0.5).as_secs_f64() * 1000.0,
        percentile(&saw, 0.99).as_secs_f64() * 1000.0,
        probe_after.roster_sent - probe_before.roster_sent,
        tally.messages.load(Relaxed) - msgs_before,
    );

    let dropped = tally.dropped.load(Relaxed);
    if dropped > 0 {
        let first = tally.first_drop.lock().ok().and_then(|f| f.clone()).unwrap_or_default();
        let _ = writeln!(out, "  {dropped} clients were disconnected by the hubs so far; the first: {first}");
    }

    // 4. Calls between pairs: with several hubs, between two hubs, then within one.
    let calls = opts.calls.min(n / 2);
    if calls > 0 {
        // Client i is on hub i mod hubs: i and i+1 are on two hubs (one, if there is one
        // hub); i and i+hubs on the same one. Each client is in one call at most.
        let mut plans = vec![("between two hubs", 1usize)];
        if hubs > 1 {
            plans.push(("within one hub", hubs));
        }
        let mut used = vec![false; n];
        let mut planned = Vec::new();
        for (what, step) in plans {
            let mut pairs = Vec::new();
            let mut i = 0;
            while pairs.len() < calls && i + step < n {
                if !used[i] && !used[i + step] {
                    used[i] = true;
                    used[i + step] = true;
                    pairs.push((i, i + step));
                }
                i += 1;
            }
            planned.push((if hubs == 1 { "" } else { what }, pairs, Vec::new()));
        }
        let at_once = |pairs: &[(usize, usize)]| if opts.calls_at_once == 0 { pairs.len().max(1) } else { opts.calls_at_once };
        let t = Instant::now();
        for _ in 0..opts.call_rounds.max(1) {
            for (_, pairs, took) in planned.iter_mut() {
                for wave in pairs.chunks(at_once(pairs)) {
                    for (a, b) in wave {
                        let _ = orders[*a].send(Order::Call(format!("{}{b}", opts.prefix)));
                    }
                    took.extend(
                        gather(&mut reports, wave.len(), "calls", |r| match r {
                            Report::CallUp { took } => Some(took),
                            _ => None,
                        })
                        .await?,
                    );
                }
                // Let the hang-ups settle before the next calls of these clients.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        let _ = writeln!(out, "calls done in {:.1} s ({} round(s))", t.elapsed().as_secs_f64(), opts.call_rounds.max(1));
        for (what, pairs, mut took) in planned {
            took.sort();
            let how = if at_once(&pairs) >= pairs.len() { "at once".to_owned() } else { format!("{} at a time", at_once(&pairs)) };
            let _ = writeln!(
                out,
                "{} calls {what} ({} pairs, rung {how}): call to accepted p50 {:.1} ms, p99 {:.1} ms",
                took.len(),
                pairs.len(),
                percentile(&took, 0.5).as_secs_f64() * 1000.0,
                percentile(&took, 0.99).as_secs_f64() * 1000.0,
            );
        }
        let _ = writeln!(out, "  {} errors", tally.errors.load(Relaxed));
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
        online = opts.hub.iter().map(|h| probe::metric(h, "termcall_users_online").unwrap_or(f64::NAN)).sum();
        if online == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = sample(opts);
    let _ = writeln!(out, "all left in {:.0} ms; hub users online {online}, RSS {}", t.elapsed().as_secs_f64() * 1000.0, mib(&end.rss_kib));
    let _ = write!(out, "clients read {} messages, {:.1} MiB in all", tally.messages.load(Relaxed), tally.bytes.load(Relaxed) as f64 / 1048576.0);
    Ok(out)
}
