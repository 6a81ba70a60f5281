//! The heartbeat: a task of its own, so that a hub busy with its clients still says it lives.
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

/// Runs until Redis fails (said once on `tx`) or the session drops `tx`'s receiver.
pub async fn run(mut conn: MultiplexedConnection, me: NodeInfo, load: watch::Receiver<Load>, tx: mpsc::Sender<Beat>) {
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
        if tx.send(beat).await.is_err() || failed {
            return;
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
