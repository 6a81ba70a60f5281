//! The heartbeat: a thread of its own, with its own Redis connection and runtime, so that a hub
//! whose runtime is busy with thousands of clients still says it lives on time.
//! Every [`HEARTBEAT`] it writes this hub's key (with its load) with a TTL of [`KEY_TTL`], keeps
//! its users' hash from expiring, and reads the others' keys: a hub whose key expired stopped
//! writing it [`KEY_TTL`] ago, whatever this hub was busy with meanwhile.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use termcall_shared::cluster::{self as wire, Load, NodeInfo, NODES_KEY};
use tokio::sync::{mpsc, watch};

use super::cpu::CpuMeter;

/// How often a hub writes its key.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a hub's key (and its users' hash) lives unless written again.
pub const KEY_TTL: Duration = Duration::from_millis(3_000);

/// What one heartbeat found.
#[derive(Debug)]
pub enum Beat {
    /// This hub as written, the others whose keys are there, and the hubs listed whose keys
    /// are gone.
    Seen { me: NodeInfo, alive: Vec<NodeInfo>, missing: Vec<String> },
    /// Redis did not answer.
    Failed(String),
}

/// Starts the heartbeat's thread, which runs until Redis fails (said on `tx` if there is
/// room, and by `tx` closing) or the session drops `tx`'s receiver.
pub fn spawn(client: redis::Client, config: redis::AsyncConnectionConfig, me: NodeInfo, load: watch::Receiver<Load>, tx: mpsc::Sender<Beat>) {
    let name = format!("heartbeat-{}", me.node);
    let started = std::thread::Builder::new().name(name).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(tx.try_send(Beat::Failed(format!("no runtime for the heartbeat: {e}")))),
        };
        rt.block_on(async move {
            match client.get_multiplexed_async_connection_with_config(&config).await {
                Ok(conn) => run(conn, me, load, tx).await,
                Err(e) => drop(tx.try_send(Beat::Failed(e.to_string()))),
            }
        });
    });
    if let Err(e) = started {
        tracing::warn!("cluster: cannot start the heartbeat thread: {e}");
    }
}

async fn run(mut conn: MultiplexedConnection, me: NodeInfo, load: watch::Receiver<Load>, tx: mpsc::Sender<Beat>) {
    let mut cpu = CpuMeter::new();
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let info = NodeInfo { load: Load { cpu: cpu.percent(), ..*load.borrow() }, ..me.clone() };
        let beat = match once(&mut conn, &info).await {
            Ok((alive, missing)) => Beat::Seen { me: info, alive, missing },
            Err(e) => Beat::Failed(e.to_string()),
        };
        let failed = matches!(beat, Beat::Failed(_));
        // Never waits for the session (busy handing the actor what Redis said): a beat it has
        // not read yet is news enough, and the key is written either way.
        match tx.try_send(beat) {
            Err(mpsc::error::TrySendError::Closed(_)) => return,
            _ if failed => return,
            _ => {}
        }
    }
}

async fn once(conn: &mut MultiplexedConnection, info: &NodeInfo) -> redis::RedisResult<(Vec<NodeInfo>, Vec<String>)> {
    let ttl = KEY_TTL.as_millis() as u64;
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg(wire::node_key(&info.node)).arg(serde_json::to_string(info).unwrap_or_default()).arg("PX").arg(ttl).ignore();
    pipe.cmd("PEXPIRE").arg(wire::users_key(&info.node)).arg(ttl).ignore();
    pipe.cmd("SADD").arg(NODES_KEY).arg(&info.node).ignore();
    pipe.cmd("SMEMBERS").arg(NODES_KEY);
    let (nodes,): (Vec<String>,) = pipe.query_async(conn).await?;
    let others: Vec<String> = nodes.into_iter().filter(|n| *n != info.node).collect();
    if others.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let keys: Vec<String> = others.iter().map(|n| wire::node_key(n)).collect();
    let found: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(conn).await?;
    let (mut alive, mut missing) = (Vec::new(), Vec::new());
    for (node, info) in others.into_iter().zip(found) {
        match info.and_then(|i| serde_json::from_str::<NodeInfo>(&i).ok()) {
            Some(info) => alive.push(info),
            None => missing.push(node),
        }
    }
    Ok((alive, missing))
}
