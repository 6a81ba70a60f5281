//! The embedded TURN server against the `turn` crate's own client, over loopback: good
//! credentials get a relay that carries packets; expired and forged ones are refused; the
//! peer policy and the allocation quota hold; the metrics count what happened.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use termcall_hub::metrics::Metrics;
use termcall_hub::turn::credentials::Credentials;
use termcall_hub::turn::policy::PeerPolicy;
use termcall_hub::turn::quota::Limits;
use termcall_hub::turn::{Turn, TurnSettings, REALM};
use tokio::net::UdpSocket;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

const SECRET: &str = "test secret";
const TTL: Duration = Duration::from_secs(600);

fn settings(allow_loopback: bool, allocations: usize) -> TurnSettings {
    let allowed = if allow_loopback { vec!["127.0.0.0/8".parse().unwrap()] } else { vec![] };
    TurnSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        public_ip: "127.0.0.1".parse().unwrap(),
        relay_ports: 40000..=40999,
        policy: PeerPolicy::new(allowed),
        service_ports: vec![],
        limits: Limits { allocations, bytes_per_sec: 10_000_000, burst: Duration::from_millis(500) },
        ttl: TTL,
        secret: Some(SECRET.into()),
    }
}

async fn client(server: SocketAddr, username: &str, password: &str) -> Client {
    let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let c = Client::new(ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: username.into(),
        password: password.into(),
        realm: REALM.into(),
        software: String::new(),
        rto_in_ms: 100,
        conn,
        vnet: None,
    })
    .await
    .unwrap();
    c.listen().await.unwrap();
    c
}

/// Allocation with a deadline: a refused one must fail, not hang.
async fn allocate(c: &Client) -> Result<impl Conn, String> {
    match tokio::time::timeout(Duration::from_secs(5), c.allocate()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("allocation timed out".into()),
    }
}

fn creds() -> Credentials {
    Credentials::new(SECRET.as_bytes().to_vec(), TTL)
}

/// A running TURN server and one user's allocation on it.
struct Allocated {
    metrics: Arc<Metrics>,
    turn: Turn,
    client: Client,
    relay: Box<dyn Conn + Send + Sync>,
}

async fn allocated(allow_loopback: bool, name: &str) -> Allocated {
    let metrics = Arc::new(Metrics::default());
    let turn = Turn::start(&settings(allow_loopback, 4), None, metrics.clone()).await.unwrap();
    let (user, pass) = creds().issue(name, SystemTime::now());
    let client = client(turn.addr, &user, &pass).await;
    let relay = Box::new(allocate(&client).await.unwrap());
    Allocated { metrics, turn, client, relay }
}

impl Allocated {
    async fn close(self) {
        self.client.close().await.unwrap();
        self.turn.close().await;
    }
}

#[tokio::test]
async fn good_credentials_get_a_relay_that_carries_packets() {
    let metrics = Arc::new(Metrics::default());
    let turn = Turn::start(&settings(true, 4), None, metrics.clone()).await.unwrap();
    let servers = turn.ice_servers("alice", SystemTime::now());
    assert_eq!(servers[0].urls, vec![format!("stun:{}", turn.addr)]);
    // UDP first; TCP for browsers behind a firewall that blocks UDP (no certificate: no turns:).
    assert_eq!(servers[1].urls, vec![format!("turn:{}?transport=udp", turn.addr), format!("turn:{}?transport=tcp", turn.addr)]);
    let (user, pass) = (servers[1].username.clone().unwrap(), servers[1].credential.clone().unwrap());
    assert!(user.ends_with(":alice"), "{user}");

    let c = client(turn.addr, &user, &pass).await;
    // The same port answers STUN: our own address comes back.
    let mapped = c.send_binding_request().await.unwrap();
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");

    let relay = allocate(&c).await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    assert_eq!(relay_addr.ip().to_string(), "127.0.0.1");
    assert!((40000..=40999).contains(&relay_addr.port()), "{relay_addr}");
    assert_eq!(metrics.turn_allocations_active.load(Relaxed), 1);

    // A peer on loopback (allowed here) hears the relay and answers through it.
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    relay.send_to(b"ping", peer.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], relay_addr));
    peer.send_to(b"pong", relay_addr).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), relay.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(metrics.turn_relayed_bytes_total.load(Relaxed), 8);
    assert!(metrics.render().contains("termcall_turn_allocations_active 1\n"));

    relay.close().await.unwrap();
    c.close().await.unwrap();
    turn.close().await;
}

#[tokio::test]
async fn expired_and_forged_credentials_are_refused() {
    let metrics = Arc::new(Metrics::default());
    let turn = Turn::start(&settings(true, 4), None, metrics.clone()).await.unwrap();

    // Issued two TTLs ago: expired.
    let (user, pass) = creds().issue("alice", SystemTime::now() - 2 * TTL);
    let c = client(turn.addr, &user, &pass).await;
    assert!(allocate(&c).await.is_err(), "expired credentials were accepted");
    c.close().await.unwrap();
    assert!(metrics.turn_auth_refused_total.load(Relaxed) >= 1);

    // Signed with another secret.
    let (user, pass) = Credentials::new(b"guess".to_vec(), TTL).issue("alice", SystemTime::now());
    let c = client(turn.addr, &user, &pass).await;
    assert!(allocate(&c).await.is_err(), "a password signed with another secret was accepted");
    c.close().await.unwrap();

    // A real password with its expiry pushed back.
    let (user, pass) = creds().issue("alice", SystemTime::now());
    let (expiry, name) = user.split_once(':').unwrap();
    let later = format!("{}:{name}", expiry.parse::<u64>().unwrap() + 86_400);
    let c = client(turn.addr, &later, &pass).await;
    assert!(allocate(&c).await.is_err(), "a forged expiry was accepted");
    c.close().await.unwrap();

    // And a plain name, not expiry:name.
    let c = client(turn.addr, "alice", &pass).await;
    assert!(allocate(&c).await.is_err(), "a static username was accepted");
    c.close().await.unwrap();

    assert_eq!(metrics.turn_allocations_total.load(Relaxed), 0);
    turn.close().await;
}

#[tokio::test]
async fn loopback_peers_are_refused_unless_allowed() {
    let a = allocated(false, "mallory").await;
    let (metrics, relay) = (&a.metrics, &a.relay);
    let victim = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    relay.send_to(b"knock", victim.local_addr().unwrap()).await.unwrap();
    // Other tests run beside this one and may reuse a port of theirs for the victim, so only
    // the knock itself counts.
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, victim.recv_from(&mut buf)).await {
        assert_ne!(&buf[..n], b"knock", "the relay reached a loopback service");
    }
    assert!(metrics.turn_refused_peer_packets_total.load(Relaxed) >= 1);
    assert_eq!(metrics.turn_relayed_bytes_total.load(Relaxed), 0);
    a.close().await;
}

#[tokio::test]
async fn strangers_spraying_a_relay_port_are_not_charged_or_relayed() {
    let a = allocated(true, "alice").await;
    let (metrics, relay) = (&a.metrics, &a.relay);
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..20 {
        stranger.send_to(&[7u8; 1000], relay.local_addr().unwrap()).await.unwrap();
    }
    let mut buf = [0u8; 2000];
    let got = tokio::time::timeout(Duration::from_millis(500), relay.recv_from(&mut buf)).await;
    assert!(got.is_err(), "a packet from a peer without a permission was relayed");
    assert_eq!(metrics.turn_relayed_bytes_total.load(Relaxed), 0, "the stranger's bytes were charged");
    a.close().await;
}

#[tokio::test]
async fn relays_never_reach_the_turn_port_itself() {
    let a = allocated(true, "mallory").await;
    // Loopback is allowed here, but the hub's own TURN port is not a peer.
    a.relay.send_to(b"loop", a.turn.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.metrics.turn_refused_peer_packets_total.load(Relaxed) >= 1);
    assert_eq!(a.metrics.turn_relayed_bytes_total.load(Relaxed), 0);
    a.close().await;
}

#[tokio::test]
async fn a_user_holds_at_most_the_allocation_quota() {
    let metrics = Arc::new(Metrics::default());
    let turn = Turn::start(&settings(true, 1), None, metrics.clone()).await.unwrap();
    let (user, pass) = creds().issue("alice", SystemTime::now());
    let first = client(turn.addr, &user, &pass).await;
    let _relay = allocate(&first).await.unwrap();
    let second = client(turn.addr, &user, &pass).await;
    assert!(allocate(&second).await.is_err(), "a second allocation passed a quota of one");
    assert_eq!(metrics.turn_allocations_refused_total.load(Relaxed), 1);
    // Another user is not affected.
    let (user, pass) = creds().issue("bob", SystemTime::now());
    let bob = client(turn.addr, &user, &pass).await;
    assert!(allocate(&bob).await.is_ok());
    for c in [first, second, bob] {
        c.close().await.unwrap();
    }
    turn.close().await;
}
