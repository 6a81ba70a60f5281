//! The one task that owns the [`Hub`] state: connections send it [`Input`]s, it applies them
//! and delivers the resulting messages. Each message is serialized once, however many get it.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use termcall_shared::{ClientMsg, ErrorCode, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{debug, info, warn};

use crate::cluster::{ClusterLink, FromCluster, ToCluster};
use crate::core::{ConnId, Hub, JoinRequest, Outbox, Target};
use crate::metrics::Metrics;
use crate::sfu::{Sfu, SfuOut};

/// How many messages may wait for one client's socket before the client is cut off as too slow.
pub const CLIENT_QUEUE: usize = 1024;

/// Roster changes are sent at most this often: a mass join of n users then costs each client
/// a message per interval rather than n messages, and one change still arrives within it.
pub const ROSTER_INTERVAL: Duration = Duration::from_millis(50);

/// In a cluster, a change waits this long before it is sent to the clients, so that the
/// other hubs' changes of the same moment (the other party of a call, a millisecond or two
/// away through Redis) go in the same roster message rather than the next.
pub const CLUSTER_ROSTER_HOLD: Duration = Duration::from_millis(10);

/// What a connection's writer is told to do.
#[derive(Debug)]
pub enum Outgoing {
    Text(Utf8Bytes),
    /// Close the WebSocket (after what is queued).
    Close,
}

/// A registered connection, as the hub task reaches it.
pub struct Link {
    /// Its outgoing queue.
    pub tx: mpsc::Sender<Outgoing>,
    /// Ends the connection even when its queue is full (replaced, or too slow).
    pub kick: oneshot::Sender<()>,
}

/// The answer to a join: `Ok` or the refusal to send before closing.
pub type JoinResult = Result<(), (ErrorCode, String)>;

/// What connections tell the hub task.
pub enum Input {
    Join { conn: ConnId, req: JoinRequest, link: Link, reply: oneshot::Sender<JoinResult> },
    Msg { conn: ConnId, msg: ClientMsg },
    Leave { conn: ConnId },
    Shutdown { done: oneshot::Sender<()> },
}

/// Serializes a message once for any number of recipients.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // ServerMsg holds only strings, numbers and enums: serialization cannot fail.
    Utf8Bytes::from(serde_json::to_string(msg).unwrap_or_default())
}

/// Runs the hub until a [`Input::Shutdown`] arrives or every sender is gone. The media
/// endpoint's negotiation comes back on `sfu_signals`, and goes out only to participants the
/// core still has in that call.
pub async fn run(mut hub: Hub, mut inputs: mpsc::Receiver<Input>, mut sfu: Sfu, mut sfu_signals: mpsc::UnboundedReceiver<SfuOut>, metrics: Arc<Metrics>, cluster: Option<ClusterLink>) {
    let (cluster, mut from_cluster) = match cluster {
        Some(ClusterLink { to, from }) => (Some(to), Some(from)),
        None => (None, None),
    };
    let mut clients: HashMap<ConnId, Link> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_roster = tokio::time::Instant::now();
    let hold = if cluster.is_some() { CLUSTER_ROSTER_HOLD } else { Duration::ZERO };
    // When the roster changes waiting began (`None`: none wait).
    let mut pending_since: Option<tokio::time::Instant> = None;
    loop {
        let mut out = Outbox::default();
        tokio::select! {
            _ = tokio::time::sleep_until(next_roster.max(pending_since.map_or(next_roster, |t| t + hold))), if hub.roster_pending() => {
                pending_since = None;
                hub.flush_roster(&mut out);
                next_roster = tokio::time::Instant::now() + ROSTER_INTERVAL;
            }
            input = inputs.recv() => match input {
                None => return,
                Some(Input::Join { conn, req, link, reply }) => {
                    let name = req.name.clone();
                    match hub.join(conn, req, &mut out) {
                        Ok(()) => {
                            info!(conn, %name, online = hub.online(), "joined");
                            clients.insert(conn, link);
                            let _ = reply.send(Ok(()));
                        }
                        Err(refusal) => {
                            debug!(conn, %name, code = %refusal.0, "join refused");
                            let _ = reply.send(Err(refusal));
                        }
                    }
                }
                Some(Input::Msg { conn, msg }) => hub.handle(conn, msg, &mut out),
                Some(Input::Leave { conn }) => {
                    if clients.remove(&conn).is_some() {
                        info!(conn, online = hub.online().saturating_sub(1), "left");
                    }
                    hub.leave(conn, &mut out);
                }
                Some(Input::Shutdown { done }) => {
                    hub.shutdown(&mut out);
                    deliver(&mut hub, &mut clients, &mut sfu, out, &metrics, cluster.as_ref());
                    if let Some(cluster) = &cluster {
                        // The other hubs hear that this one leaves before its clients do.
                        let (said, heard) = oneshot::channel();
                        if cluster.send(ToCluster::Leave(said)).is_ok() {
                            let _ = tokio::time::timeout(Duration::from_secs(1), heard).await;
                        }
                    }
                    for link in clients.values() {
                        let _ = link.tx.try_send(Outgoing::Close);
                    }
                    let _ = done.send(());
                    return;
                }
            },
            Some(msg) = next_from(&mut from_cluster) => match msg {
                FromCluster::Roster { node, joined, left, full } => hub.remote_roster(&node, joined, left, full, &mut out),
                FromCluster::Gone { node } => hub.node_gone(&node, &mut out),
                FromCluster::Relay { from_node, relay } => hub.relayed(&from_node, relay, &mut out),
                FromCluster::Load { node, load } => hub.set_load(&node, load),
            },
            Some(report) = sfu_signals.recv() => match report {
                SfuOut::Signal { call_id, conn, signal } => hub.media_signal(call_id, conn, signal, &mut out),
                SfuOut::Failed { call_id, conn, why } => hub.media_failed(call_id, conn, &why, &mut out),
            },
            _ = tick.tick() => {
                hub.tick(Instant::now(), &mut out);
                if let Some(cluster) = &cluster {
                    let _ = cluster.send(ToCluster::Load(hub.load()));
                }
            }
        }
        if cluster.is_some() {
            // This hub's users' changes go to the other hubs at once; only the clients'
            // roster messages are batched.
            let mut now_out = Outbox::default();
            hub.flush_presence(&mut now_out);
            deliver(&mut hub, &mut clients, &mut sfu, now_out, &metrics, cluster.as_ref());
        }
        if hub.roster_pending() {
            pending_since.get_or_insert_with(tokio::time::Instant::now);
        }
        deliver(&mut hub, &mut clients, &mut sfu, out, &metrics, cluster.as_ref());
        metrics.users_online.store(hub.online() as u64, Relaxed);
        metrics.cluster_remote_users.store(hub.remote_users() as u64, Relaxed);
        metrics.calls_active.store(hub.calls() as u64, Relaxed);
    }
}

/// Sends an outbox and closes the connections it drops; a client whose queue is full is cut
/// off, and its leaving is delivered too.
/// What the other hubs said next; never, for a hub alone.
async fn next_from(cluster: &mut Option<mpsc::Receiver<FromCluster>>) -> Option<FromCluster> {
    match cluster {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn deliver(hub: &mut Hub, clients: &mut HashMap<ConnId, Link>, sfu: &mut Sfu, mut out: Outbox, metrics: &Metrics, cluster: Option<&mpsc::UnboundedSender<ToCluster>>) {
    loop {
        hub.route_remote(&mut out);
        if let Some(cluster) = cluster {
            if !out.presence.is_empty() {
                let _ = cluster.send(ToCluster::Presence(std::mem::take(&mut out.presence)));
            }
            if !out.relay.is_empty() {
                metrics.cluster_relays.fetch_add(out.relay.len() as u64, Relaxed);
                let _ = cluster.send(ToCluster::Relay(std::mem::take(&mut out.relay)));
            }
        }
        for cmd in out.media.drain(..) {
            sfu.apply(cmd);
        }
        let mut too_slow = Vec::new();
        for (target, msg) in out.deliveries.drain(..) {
            let text = encode(&msg);
            let recipients = if target == Target::Everyone { clients.len() } else { 1 } as u64;
            metrics.messages_sent.fetch_add(recipients, Relaxed);
            if matches!(msg, ServerMsg::Roster { .. }) {
                metrics.roster_sent.fetch_add(recipients, Relaxed);
            }
            let mut send = |conn: ConnId, tx: &mpsc::Sender<Outgoing>| {
                match tx.try_send(Outgoing::Text(text.clone())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(conn),
                    // Its connection task is ending and will unregister it: nothing to do.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            };
            match target {
                Target::One(conn) => {
                    if let Some(link) = clients.get(&conn) {
                        send(conn, &link.tx);
                    }
                }
                Target::Everyone => clients.iter().for_each(|(c, link)| send(*c, &link.tx)),
            }
        }
        for conn in out.closes.drain(..) {
            if let Some(link) = clients.remove(&conn) {
                // The `replaced` error is queued just before; if the queue is full, the kick still ends it.
                let _ = link.tx.try_send(Outgoing::Close);
                let _ = link.kick.send(());
            }
        }
        if too_slow.is_empty() {
            return;
        }
        for conn in too_slow {
            if let Some(link) = clients.remove(&conn) {
                let _ = link.kick.send(());
                warn!(conn, "client too slow to read its messages: disconnecting it");
                hub.leave(conn, &mut out);
            }
        }
    }
}
