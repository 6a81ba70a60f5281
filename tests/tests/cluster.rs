//! Several hubs sharing one roster and their calls through a real Redis (`--cluster`): each
//! hub a process of its own, Redis Debian's `redis-server` on a free loopback port.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use termcall_tests::redis::Redis;
use termcall_tests::{chat_both_ways, participant, turn_credentials, Client, Hub, Raw, SOON};

const SECRET: &str = "cluster-test-turn-secret";

/// Hub `node` of the cluster at `redis`.
fn hub(redis: &Redis, node: &str) -> Hub {
    Hub::start_with(&["--cluster", &redis.url(), "--node-id", node, "--turn-secret", SECRET])
}

/// Three hubs h0, h1 and h2.
fn three_hubs(redis: &Redis) -> Vec<Hub> {
    ["h0", "h1", "h2"].iter().map(|n| hub(redis, n)).collect()
}

/// `--hub` for each of `hubs`, the first first.
fn hub_args(hubs: &[&Hub]) -> Vec<String> {
    hubs.iter().skip(1).flat_map(|h| ["--hub".to_owned(), h.url.clone()]).collect()
}

/// A client of `hubs[0]` that moves to the others in turn.
fn client(hubs: &[&Hub], name: &str, args: &[&str]) -> Client {
    let extra = hub_args(hubs);
    let all: Vec<&str> = extra.iter().map(String::as_str).chain(args.iter().copied()).collect();
    let mut c = Client::start(hubs[0], name, &all);
    c.expect("ready", SOON, |e| e["event"] == "ready");
    c
}

fn has(users: &[Value], name: &str) -> bool {
    users.iter().any(|u| u["name"] == name)
}

fn decoded(c: &Client) -> u64 {
    c.seen.iter().rev().find(|e| e["event"] == "stats").and_then(|e| e["video"]["frames_decoded"].as_u64()).unwrap_or(0)
}

/// Neither client's call ever ended.
fn never_ended(clients: &[&Client]) {
    for c in clients {
        let states: Vec<&str> = c.seen.iter().filter(|e| e["event"] == "call").filter_map(|e| e["state"].as_str()).collect();
        assert!(!states.contains(&"ended"), "{}: {states:?}", c.name);
    }
}

fn no_panics(hubs: &[Hub]) {
    for h in hubs {
        let log = std::fs::read_to_string(&h.log).unwrap_or_default();
        assert!(!log.contains("panicked"), "a hub panicked: {}", h.log.display());
    }
}

#[test]
fn three_hubs_share_one_roster_calls_and_a_group_call() {
    let redis = Redis::start();
    let hubs = three_hubs(&redis);
    let small = ["--video-size", "320x240", "--audio", "none", "--auto-accept"];
    let names = [("alice", 0), ("bob", 0), ("carol", 1), ("dave", 1), ("erin", 2)];
    let mut clients: Vec<Client> = names.iter().map(|(n, h)| client(&[&hubs[*h]], n, &small)).collect();
    for c in clients.iter_mut() {
        c.expect_roster_now("the four others", SOON, |u| names.iter().filter(|(n, _)| has(u, n)).count() == 4);
    }
    // The sixth joins on h2: every other hub's clients see it within 1 s.
    let joined = Instant::now();
    let mut frank = client(&[&hubs[2]], "frank", &small);
    for c in clients.iter_mut() {
        c.expect_roster_now("frank", Duration::from_secs(1), |u| has(u, "frank"));
    }
    eprintln!("frank reached all five in {:?} (from starting his client)", joined.elapsed());
    frank.expect_roster_now("the five others", SOON, |u| names.iter().all(|(n, _)| has(u, n)));

    // A name taken on one hub is refused on another.
    let mut second = Client::start(&hubs[2], "carol", &[]);
    let err = second.expect("name_taken", SOON, |e| e["event"] == "error");
    assert_eq!(err["code"], "name_taken", "{err}");

    // alice (h0) calls carol (h1): video both ways, chat both ways.
    clients[0].send(json!({"cmd":"call","to":"carol"}));
    clients[0].expect_call("connected", Duration::from_secs(10));
    clients[2].expect_call("connected", SOON);
    for i in [0, 2] {
        clients[i].expect("video", Duration::from_secs(10), |e| e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() > Some(20));
    }
    let (a, c) = clients.split_at_mut(2);
    chat_both_ways(&mut a[0], &mut c[0], "across hubs");
    // Both show in a call on the third hub.
    frank.expect_roster_now("alice and carol in a call", SOON, |u| {
        u.iter().filter(|x| (x["name"] == "alice" || x["name"] == "carol") && x["state"] == "in_call").count() == 2
    });
    c[0].send(json!({"cmd":"hangup"}));
    let ended = a[0].expect_call("ended", SOON);
    assert_eq!(ended["reason"], "peer_hangup", "{ended}");

    // bob (h0) calls dave (h1) and erin (h2) together: each decodes the two others.
    clients[1].send(json!({"cmd":"call","to":["dave","erin"]}));
    for i in [1, 3, 4] {
        clients[i].expect_call("connected", Duration::from_secs(10));
    }
    let trio = ["bob", "dave", "erin"];
    for i in [1, 3, 4] {
        let me = trio[[1, 3, 4].iter().position(|x| *x == i).unwrap()];
        let others: Vec<&str> = trio.iter().copied().filter(|n| *n != me).collect();
        let s = clients[i].expect(&format!("{me} decodes {others:?}"), Duration::from_secs(15), |e| {
            e["event"] == "stats" && others.iter().all(|n| participant(e, n).is_some_and(|p| p["video"]["fps"].as_f64() >= Some(5.0)))
        });
        eprintln!("{me}: {}", others.iter().map(|n| format!("{n} {} fps", participant(&s, n).unwrap()["video"]["fps"])).collect::<Vec<_>>().join(", "));
    }
    // The group call is one, with one id, in everyone's roster.
    frank.expect_roster_now("three in one call", SOON, |u| {
        let ids: Vec<&Value> = u.iter().filter(|x| trio.contains(&x["name"].as_str().unwrap_or(""))).map(|x| &x["call"]).collect();
        ids.len() == 3 && ids[0].is_u64() && ids.iter().all(|id| *id == ids[0])
    });
    drop(clients);
    no_panics(&hubs);
}

#[test]
fn a_killed_hub_s_users_leave_and_its_call_goes_on_through_another() {
    let redis = Redis::start();
    let mut hubs = three_hubs(&redis);
    let small = ["--video-size", "320x240", "--audio", "none"];
    // alice is on h0 and knows all three; bob on h1; carol on h2 watches; dave only knows h0.
    let mut alice = client(&[&hubs[0], &hubs[1], &hubs[2]], "alice", &small);
    let mut bob = client(&[&hubs[1], &hubs[2], &hubs[0]], "bob", &[&small[..], &["--auto-accept"]].concat());
    let mut carol = client(&[&hubs[2]], "carol", &["--video", "none", "--audio", "none"]);
    let mut dave = client(&[&hubs[0]], "dave", &["--video", "none", "--audio", "none"]);
    carol.expect_roster_now("the three others", SOON, |u| ["alice", "bob", "dave"].iter().all(|n| has(u, n)));
    alice.expect_roster_now("bob", SOON, |u| has(u, "bob"));
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", Duration::from_secs(10));
    bob.expect_call("connected", SOON);
    chat_both_ways(&mut alice, &mut bob, "before");
    bob.expect("video", Duration::from_secs(10), |e| e["event"] == "stats" && e["video"]["frames_decoded"].as_u64() > Some(20));

    hubs[0].kill9();
    let killed = Instant::now();
    let before = decoded(&bob);
    // dave, who knew only h0, leaves the others' rosters.
    carol.expect_roster_now("dave gone", Duration::from_secs(5), |u| !has(u, "dave"));
    let gone = killed.elapsed();
    // alice is back through another hub.
    alice.expect("back on a hub", Duration::from_secs(5), |e| e["event"] == "hub" && e["state"] == "connected");
    let back = killed.elapsed();
    let url = alice.seen.iter().rev().find(|e| e["event"] == "hub" && e["state"] == "connected").map(|e| e["url"].clone()).unwrap_or_default();
    assert_ne!(url, json!(hubs[0].url), "alice came back to the dead hub?");
    eprintln!("dave left the roster {gone:?} after the kill; alice back on {url} after {back:?}");
    // The call went on: media and chat.
    chat_both_ways(&mut alice, &mut bob, "after");
    bob.idle(Duration::from_secs(2));
    let after = decoded(&bob);
    eprintln!("bob decoded {before} frames at the kill, {after} now ({:?} after it)", killed.elapsed());
    assert!(after >= before + 30, "video went on: {before} -> {after}");
    never_ended(&[&alice, &bob]);
    // The call is known again: both in a call in the roster, and a hang-up reaches bob.
    carol.expect_roster_now("alice and bob in a call", SOON, |u| {
        u.iter().filter(|x| (x["name"] == "alice" || x["name"] == "bob") && x["state"] == "in_call").count() == 2
    });
    alice.expect_seen("the call adopted again", SOON, |e| e["event"] == "roster" && e["users"].as_array().is_some_and(|u| u.iter().any(|x| x["name"] == "bob" && x["state"] == "in_call")));
    alice.idle(Duration::from_millis(500));
    alice.send(json!({"cmd":"hangup"}));
    let ended = bob.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "peer_hangup", "{ended}");
    dave.kill9();
    hubs.remove(0);
    no_panics(&hubs);
}

#[test]
fn a_redis_restart_is_survived() {
    let mut redis = Redis::start();
    let port = redis.port;
    let hubs: Vec<Hub> = ["h0", "h1"].iter().map(|n| hub(&redis, n)).collect();
    let small = ["--video-size", "320x240", "--audio", "none"];
    let mut alice = client(&[&hubs[0]], "alice", &small);
    let mut bob = client(&[&hubs[1]], "bob", &[&small[..], &["--auto-accept"]].concat());
    alice.expect_roster_now("bob", SOON, |u| has(u, "bob"));
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", Duration::from_secs(10));
    bob.expect_call("connected", SOON);

    redis.kill9();
    alice.idle(Duration::from_secs(1));
    // Alone meanwhile: the call goes on, and the roster is not emptied.
    chat_both_ways(&mut alice, &mut bob, "without redis");
    let redis = Redis::start_on(port);
    let restarted = Instant::now();
    // Both hubs write themselves and their users again.
    let until = restarted + Duration::from_secs(5);
    loop {
        let users = |node: &str| redis.cmd(&["HKEYS", &format!("termcall:users:{node}")]).unwrap_or_default();
        if users("h0").contains("alice") && users("h1").contains("bob") {
            break;
        }
        assert!(Instant::now() < until, "presence not rebuilt within 5 s: h0 {:?}, h1 {:?}", users("h0"), users("h1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("presence rebuilt {:?} after Redis came back", restarted.elapsed());
    // Roster changes flow again: carol joins h1, alice on h0 sees her.
    let _carol = client(&[&hubs[1]], "carol", &["--video", "none", "--audio", "none"]);
    alice.expect_roster_now("carol", SOON, |u| has(u, "carol") && has(u, "bob"));
    // The call went on, and still ends through the cluster.
    chat_both_ways(&mut alice, &mut bob, "after redis");
    never_ended(&[&alice, &bob]);
    bob.send(json!({"cmd":"hangup"}));
    let ended = alice.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "peer_hangup", "{ended}");
    no_panics(&hubs);
}

#[test]
fn a_hub_that_stops_cleanly_hands_its_users_over() {
    let redis = Redis::start();
    let mut hubs: Vec<Hub> = ["h0", "h1"].iter().map(|n| hub(&redis, n)).collect();
    let small = ["--video-size", "320x240", "--audio", "none"];
    let mut alice = client(&[&hubs[0], &hubs[1]], "alice", &small);
    let mut bob = client(&[&hubs[1], &hubs[0]], "bob", &[&small[..], &["--auto-accept"]].concat());
    let mut carol = client(&[&hubs[1]], "carol", &["--video", "none", "--audio", "none"]);
    alice.expect_roster_now("bob", SOON, |u| has(u, "bob"));
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", Duration::from_secs(10));
    bob.expect_call("connected", SOON);

    let status = hubs[0].terminate(SOON).expect("h0 exits on SIGTERM");
    assert!(status.success(), "h0 exited with {status}");
    let stopped = Instant::now();
    alice.expect("moved to h1", SOON, |e| e["event"] == "hub" && e["state"] == "connected" && e["url"] == hubs[1].url.as_str());
    eprintln!("alice moved to h1 {:?} after h0 stopped", stopped.elapsed());
    carol.expect_roster_now("alice and bob in a call", SOON, |u| {
        u.iter().filter(|x| (x["name"] == "alice" || x["name"] == "bob") && x["state"] == "in_call").count() == 2
    });
    chat_both_ways(&mut alice, &mut bob, "handed over");
    never_ended(&[&alice, &bob]);
    bob.send(json!({"cmd":"hangup"}));
    let ended = alice.expect_call("ended", SOON);
    assert_eq!(ended["reason"], "peer_hangup", "{ended}");
    no_panics(&hubs[1..]);
}

/// An allocation on the TURN server at `server` with these credentials: `Ok` or why not.
fn allocate(server: &str, user: &str, pass: &str) -> Result<(), String> {
    use std::sync::Arc;
    use turn::client::{Client as TurnClient, ClientConfig};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let conn = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let config = ClientConfig {
            stun_serv_addr: server.to_owned(),
            turn_serv_addr: server.to_owned(),
            username: user.to_owned(),
            password: pass.to_owned(),
            realm: "termcall".into(),
            software: String::new(),
            rto_in_ms: 0,
            conn,
            vnet: None,
        };
        let client = TurnClient::new(config).await.map_err(|e| e.to_string())?;
        client.listen().await.map_err(|e| e.to_string())?;
        let allocated = tokio::time::timeout(Duration::from_secs(5), client.allocate()).await;
        let _ = client.close().await;
        match allocated {
            Ok(Ok(_relay)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 5 s".into()),
        }
    })
}

#[test]
fn turn_credentials_of_one_hub_are_good_on_another_s_relay() {
    let redis = Redis::start();
    let hubs = [hub(&redis, "h0"), hub(&redis, "h1")];
    let (_alice, welcome0) = Raw::hello(&hubs[0].url, "alice");
    let (_bob, welcome1) = Raw::hello(&hubs[1].url, "bob");
    let (relay0, user, pass) = turn_credentials(&welcome0);
    let (relay1, ..) = turn_credentials(&welcome1);
    assert_ne!(relay0, relay1, "two hubs, two relays");
    allocate(&relay0, &user, &pass).expect("alice's credentials on her own hub's relay");
    allocate(&relay1, &user, &pass).expect("alice's credentials from h0 on h1's relay");
    // A hub with another secret refuses them: the check is real.
    let stranger = Hub::start_with(&["--cluster", &redis.url(), "--node-id", "h9", "--turn-secret", "another secret"]);
    let (_carol, welcome9) = Raw::hello(&stranger.url, "carol");
    let (relay9, ..) = turn_credentials(&welcome9);
    let refused = allocate(&relay9, &user, &pass).expect_err("credentials signed with another secret");
    eprintln!("h1's relay took h0's credentials; a hub with another secret said: {refused}");
}
