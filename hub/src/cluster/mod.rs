//! `--cluster redis://…`: the task that joins this hub to the others through Redis.
//!
//! It writes this hub's users (a hash with a TTL, and an [`Event::Roster`] for each batch of
//! changes), reads the others' the same way, and carries [`Relay`]s between the hubs of a call.
//! Its heartbeat ([`beat`]) writes a key with a TTL and reads the others': a hub whose key
//! expired is gone, the actor is told, and its users leave. While Redis is away this hub works
//! on alone with what it knew, and on its return writes everything again and reads everyone
//! again, giving the others [`beat::KEY_TTL`] to do the same before any is taken for dead.

pub mod beat;
mod cpu;
pub mod liveness;
pub mod settings;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use termcall_shared::cluster::{self as wire, Envelope, Event, Load, NodeInfo, Presence, Relay, CLUSTER_VERSION, EVENTS_CHANNEL, NODES_KEY};
use tokio::sync::{mpsc, oneshot, watch};
use std::time::Instant;
use tracing::{debug, info, warn};

use beat::{Beat, KEY_TTL};
use liveness::Liveness;
pub use settings::ClusterSettings;

/// Between attempts to reach Redis.
const RETRY: Duration = Duration::from_millis(250);
/// The longest a Redis command may take before the connection is taken for lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What the actor tells the cluster task.
#[derive(Debug)]
pub enum ToCluster {
    /// This hub's users who joined, changed or left (`None`), by name.
    Presence(Vec<(String, Option<Presence>)>),
    /// Messages for other hubs, in order.
    Relay(Vec<(String, Relay)>),
    /// This hub's load (the task adds its CPU use).
    Load(Load),
    /// The hub is shutting down: say so to the others, then answer.
    Leave(oneshot::Sender<()>),
}

/// What the cluster task tells the actor.
#[derive(Debug)]
pub enum FromCluster {
    Roster { node: String, joined: Vec<Presence>, left: Vec<String>, full: bool },
    Gone { node: String },
    Relay { from_node: String, relay: Relay },
    Load { node: String, load: Load },
}

/// The actor's two ways to the cluster task.
pub struct ClusterLink {
    pub to: mpsc::UnboundedSender<ToCluster>,
    pub from: mpsc::Receiver<FromCluster>,
}

/// Starts the task.
pub fn spawn(settings: ClusterSettings) -> ClusterLink {
    let (to, rx) = mpsc::unbounded_channel();
    let (hub, from) = mpsc::channel(4096);
    tokio::spawn(run(settings, hub, rx));
    ClusterLink { to, from }
}

/// The task's state across Redis connections.
struct Node {
    settings: ClusterSettings,
    hub: mpsc::Sender<FromCluster>,
    /// This hub's users, as last told: written again whenever Redis comes back.
    mine: BTreeMap<String, Presence>,
    /// The other hubs alive.
    others: Liveness,
    /// This hub's load, for its heartbeat.
    load: watch::Sender<Load>,
}

enum Ended {
    Left,
    /// Redis is gone (or never answered: `was_up` false).
    Lost { why: String, was_up: bool },
}

async fn run(settings: ClusterSettings, hub: mpsc::Sender<FromCluster>, mut rx: mpsc::UnboundedReceiver<ToCluster>) {
    let client = match redis::Client::open(settings.redis.as_str()) {
        Ok(c) => c,
        Err(e) => {
            warn!("cluster: bad Redis URL {}: {e}", settings.redis);
            return;
        }
    };
    let mut node = Node { settings, hub, mine: BTreeMap::new(), others: Liveness::default(), load: watch::channel(Load::default()).0 };
    let mut tries = 0u32;
    loop {
        match node.session(&client, &mut rx).await {
            Ended::Left => return,
            Ended::Lost { why, was_up: true } => {
                tries = 0;
                warn!("cluster: lost Redis at {}: {why}; working alone until it is back", node.settings.redis);
            }
            Ended::Lost { why, was_up: false } => {
                // Said once, then every 40 tries (10 s), not four times a second.
                if tries.is_multiple_of(40) {
                    warn!("cluster: cannot reach Redis at {}: {why}; trying again", node.settings.redis);
                }
                tries += 1;
            }
        }
        // Until Redis is back: keep what the actor says (the users are written again then),
        // drop relays (their calls cannot be reached now).
        let retry = tokio::time::sleep(RETRY);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => break,
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(ToCluster::Leave(done)) => { let _ = done.send(()); return }
                    Some(cmd) => node.offline(cmd),
                },
            }
        }
    }
}

impl Node {
    fn me(&self) -> &str {
        &self.settings.node
    }

    /// What the actor says while Redis is away.
    fn offline(&mut self, cmd: ToCluster) {
        match cmd {
            ToCluster::Presence(changes) => self.remember(&changes),
            ToCluster::Relay(relays) => debug!("cluster: Redis is away: {} messages to other hubs dropped", relays.len()),
            ToCluster::Load(load) => {
                self.load.send_replace(load);
            }
            ToCluster::Leave(_) => {}
        }
    }

    fn remember(&mut self, changes: &[(String, Option<Presence>)]) {
        for (name, p) in changes {
            match p {
                Some(p) => self.mine.insert(name.clone(), p.clone()),
                None => self.mine.remove(name),
            };
        }
    }

    /// One connection to Redis, from the first command to its loss (or the hub leaving).
    async fn session(&mut self, client: &redis::Client, rx: &mut mpsc::UnboundedReceiver<ToCluster>) -> Ended {
        let config = AsyncConnectionConfig::new().set_connection_timeout(Some(COMMAND_TIMEOUT)).set_response_timeout(Some(COMMAND_TIMEOUT));
        let mut conn = match client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(c) => c,
            Err(e) => return Ended::Lost { why: e.to_string(), was_up: false },
        };
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => return Ended::Lost { why: e.to_string(), was_up: false },
        };
        for channel in [EVENTS_CHANNEL.to_owned(), wire::to_node(self.me())] {
            if let Err(e) = pubsub.subscribe(&channel).await {
                return Ended::Lost { why: e.to_string(), was_up: false };
            }
        }
        let mut messages = pubsub.into_on_message();
        // Subscribed first, then written and read: nothing said in between is missed.
        if let Err(e) = self.announce(&mut conn).await {
            return Ended::Lost { why: e.to_string(), was_up: false };
        }
        if let Err(e) = self.read_others(&mut conn).await {
            return Ended::Lost { why: e.to_string(), was_up: false };
        }
        info!(node = %self.me(), others = self.others.len(), "cluster: joined through Redis at {}", self.settings.redis);
        // The heartbeat stops by itself once `beats` is dropped with this session.
        let (beats_tx, mut beats) = mpsc::channel(4);
        beat::spawn(client.clone(), config.clone(), self.info(), self.load.subscribe(), beats_tx);
        loop {
            let step = tokio::select! {
                msg = messages.next() => match msg {
                    None => return Ended::Lost { why: "the subscription closed".into(), was_up: true },
                    Some(msg) => { self.heard(msg.get_channel_name(), msg.get_payload_bytes()).await; Ok(()) }
                },
                cmd = rx.recv() => match cmd {
                    None => return Ended::Left,
                    Some(ToCluster::Leave(done)) => {
                        self.leave(&mut conn).await;
                        let _ = done.send(());
                        return Ended::Left;
                    }
                    Some(cmd) => self.command(&mut conn, cmd).await,
                },
                beat = beats.recv() => match beat {
                    Some(beat) => self.beat(beat).await,
                    None => return Ended::Lost { why: "the heartbeat stopped".into(), was_up: true },
                },
            };
            if let Err(e) = step {
                return Ended::Lost { why: e.to_string(), was_up: true };
            }
        }
    }

    fn info(&self) -> NodeInfo {
        NodeInfo { node: self.me().to_owned(), url: self.settings.url.clone(), load: *self.load.borrow() }
    }

    /// Writes this hub's heartbeat and all its users, and tells the others all of them.
    async fn announce(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let me = self.me().to_owned();
        let users = wire::users_key(&me);
        let mut pipe = redis::pipe();
        pipe.sadd(NODES_KEY, &me).ignore();
        pipe.cmd("SET").arg(wire::node_key(&me)).arg(json(&self.info())).arg("PX").arg(KEY_TTL.as_millis() as u64).ignore();
        pipe.del(&users).ignore();
        for (name, p) in &self.mine {
            pipe.hset(&users, name, json(p)).ignore();
        }
        pipe.pexpire(&users, KEY_TTL.as_millis() as i64).ignore();
        let all = Event::Roster { v: CLUSTER_VERSION, node: me, joined: self.mine.values().cloned().collect(), left: vec![], full: true };
        pipe.publish(EVENTS_CHANNEL, json(&all)).ignore();
        pipe.query_async::<()>(conn).await
    }

    /// Reads every other live hub and its users. A hub known before and not there now may be
    /// one that has not written itself again yet (after a Redis restart): it has [`KEY_TTL`]
    /// to be heard, like any other ([`Liveness::connected`]).
    async fn read_others(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let nodes: Vec<String> = redis::cmd("SMEMBERS").arg(NODES_KEY).query_async(conn).await?;
        let now = Instant::now();
        self.others.connected(now);
        let me = self.me().to_owned();
        for node in nodes.into_iter().filter(|n| *n != me) {
            let info: Option<String> = redis::cmd("GET").arg(wire::node_key(&node)).query_async(conn).await?;
            let Some(info) = info.and_then(|i| serde_json::from_str::<NodeInfo>(&i).ok()) else {
                // Its heartbeat expired: it is gone for good.
                let _: redis::RedisResult<()> = redis::cmd("SREM").arg(NODES_KEY).arg(&node).query_async(conn).await;
                continue;
            };
            let users: HashMap<String, String> = redis::cmd("HGETALL").arg(wire::users_key(&node)).query_async(conn).await?;
            let joined = users.values().filter_map(|u| serde_json::from_str::<Presence>(u).ok()).collect();
            self.tell(FromCluster::Load { node: node.clone(), load: info.load }).await;
            self.tell(FromCluster::Roster { node: node.clone(), joined, left: vec![], full: true }).await;
            self.others.heard(&node, now);
        }
        Ok(())
    }

    async fn command(&mut self, conn: &mut MultiplexedConnection, cmd: ToCluster) -> redis::RedisResult<()> {
        match cmd {
            ToCluster::Presence(changes) => {
                self.remember(&changes);
                let me = self.me().to_owned();
                let users = wire::users_key(&me);
                let mut pipe = redis::pipe();
                let (mut joined, mut left) = (Vec::new(), Vec::new());
                for (name, p) in changes {
                    match p {
                        Some(p) => {
                            pipe.hset(&users, &name, json(&p)).ignore();
                            joined.push(p);
                        }
                        None => {
                            pipe.hdel(&users, &name).ignore();
                            left.push(name);
                        }
                    }
                }
                pipe.pexpire(&users, KEY_TTL.as_millis() as i64).ignore();
                pipe.publish(EVENTS_CHANNEL, json(&Event::Roster { v: CLUSTER_VERSION, node: me, joined, left, full: false })).ignore();
                pipe.query_async::<()>(conn).await
            }
            ToCluster::Relay(relays) => {
                let mut pipe = redis::pipe();
                for (node, relay) in relays {
                    let env = Envelope { v: CLUSTER_VERSION, from_node: self.me().to_owned(), relay };
                    pipe.publish(wire::to_node(&node), json(&env)).ignore();
                }
                pipe.query_async::<()>(conn).await
            }
            ToCluster::Load(load) => {
                self.load.send_replace(load);
                Ok(())
            }
            ToCluster::Leave(_) => Ok(()),
        }
    }

    /// What the heartbeat found: the others' loads, and which are gone ([`Liveness::beat`]).
    async fn beat(&mut self, beat: Beat) -> redis::RedisResult<()> {
        let (me, alive, missing) = match beat {
            Beat::Seen { me, alive, missing } => (me, alive, missing),
            Beat::Failed(why) => return Err(redis::RedisError::from((redis::ErrorKind::Io, "the heartbeat failed", why))),
        };
        self.tell(FromCluster::Load { node: me.node, load: me.load }).await;
        for info in &alive {
            if !self.others.knows(&info.node) {
                info!(node = %info.node, url = %info.url, "cluster: hub {} is up", info.node);
            }
            self.tell(FromCluster::Load { node: info.node.clone(), load: info.load }).await;
        }
        let alive: Vec<String> = alive.into_iter().map(|i| i.node).collect();
        for node in self.others.beat(Instant::now(), &alive, &missing) {
            warn!(%node, "cluster: hub {node} stopped writing its heartbeat: taken for dead");
            self.tell(FromCluster::Gone { node }).await;
        }
        // The dead stay on the list of hubs (every hub reads their keys and finds them gone)
        // until a hub (re)connecting to Redis takes them off it.
        Ok(())
    }

    /// A message on one of this hub's channels.
    async fn heard(&mut self, channel: &str, payload: &[u8]) {
        if channel == EVENTS_CHANNEL {
            let event = match serde_json::from_slice::<Event>(payload) {
                Ok(e) => e,
                Err(e) => return debug!("cluster: an event this hub does not understand: {e}"),
            };
            match event {
                Event::Roster { v: CLUSTER_VERSION, node, joined, left, full } if node != self.me() => {
                    self.others.heard(&node, Instant::now());
                    self.tell(FromCluster::Roster { node, joined, left, full }).await;
                }
                Event::Leaving { v: CLUSTER_VERSION, node } if node != self.me() => {
                    info!(%node, "cluster: hub {node} is shutting down");
                    self.others.forget(&node);
                    self.tell(FromCluster::Gone { node }).await;
                }
                _ => {}
            }
            return;
        }
        match serde_json::from_slice::<Envelope>(payload) {
            Ok(env) if env.v == CLUSTER_VERSION && self.others.knows(&env.from_node) => {
                self.tell(FromCluster::Relay { from_node: env.from_node, relay: env.relay }).await;
            }
            Ok(env) => debug!(from = %env.from_node, "cluster: a message from a hub not known to be up, or of another version: dropped"),
            Err(e) => debug!("cluster: a message this hub does not understand: {e}"),
        }
    }

    /// The hub is shutting down cleanly: the others hear it at once rather than after
    /// [`DEAD_AFTER`], and its keys go.
    async fn leave(&mut self, conn: &mut MultiplexedConnection) {
        let me = self.me().to_owned();
        let mut pipe = redis::pipe();
        pipe.publish(EVENTS_CHANNEL, json(&Event::Leaving { v: CLUSTER_VERSION, node: me.clone() })).ignore();
        pipe.del(wire::node_key(&me)).ignore();
        pipe.del(wire::users_key(&me)).ignore();
        pipe.srem(NODES_KEY, &me).ignore();
        if let Err(e) = pipe.query_async::<()>(conn).await {
            warn!("cluster: could not say this hub is leaving: {e}");
        }
    }

    async fn tell(&self, msg: FromCluster) {
        let _ = self.hub.send(msg).await;
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // Cluster messages hold only strings, numbers and enums: serialization cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}
