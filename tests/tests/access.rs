//! Who gets in: `wss://` with a self-signed certificate (trusted with `--ca`, refused without
//! it with the reason), and `--users` with secrets made by `termcall-hub add-user`.

use serde_json::json;
use termcall_tests::{scratch, Client, Hub, Raw, SOON};

fn fatal_error(c: &mut Client, code: &str) -> serde_json::Value {
    let e = c.expect(&format!("a fatal {code} error"), SOON, |e| e["event"] == "error" && e["fatal"] == true);
    assert_eq!(e["code"], code, "{e}");
    assert!(c.exit_status(SOON).is_some(), "the client stops after a refusal it cannot fix");
    e
}

#[test]
fn wss_with_a_self_signed_certificate_needs_ca() {
    let dir = scratch("tls");
    let (cert, key) = (dir.join("hub.crt"), dir.join("hub.key"));
    let (ok, _, err) = Hub::tool(&["gen-cert", "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert!(ok, "gen-cert: {err}");
    assert!(err.contains("--tls-cert"), "gen-cert says how to use the pair: {err}");
    let (again, _, err) = Hub::tool(&["gen-cert", "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert!(!again && err.contains("exists"), "gen-cert never overwrites: {err}");

    let hub = Hub::start_with(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(hub.url.starts_with("wss://"), "{}", hub.url);
    let ca = ["--ca", cert.to_str().unwrap()];
    let mut alice = Client::start_url(&hub.url, "alice", &[&ca[..], &["--video", "none", "--audio", "none"]].concat());
    alice.expect("ready over wss", SOON, |e| e["event"] == "ready");
    let mut bob = Client::start_url(&hub.url, "bob", &[&ca[..], &["--auto-accept", "--video", "none", "--audio", "none"]].concat());
    bob.expect("ready over wss", SOON, |e| e["event"] == "ready");
    alice.expect_roster("bob", SOON, |u| u.iter().any(|x| x["name"] == "bob"));
    alice.send(json!({"cmd":"call","to":"bob"}));
    alice.expect_call("connected", SOON);
    alice.send(json!({"cmd":"chat","text":"over tls signaling"}));
    bob.expect("chat", SOON, |e| e["event"] == "chat" && e["text"] == "over tls signaling");

    // Without --ca: refused at once, naming the certificate problem and the fix.
    let mut eve = Client::start_url(&hub.url, "eve", &[]);
    let e = fatal_error(&mut eve, "bad_certificate");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("UnknownIssuer") && msg.contains("--ca"), "{msg}");

    // A hub whose certificate names another host.
    let (other_cert, other_key) = (dir.join("other.crt"), dir.join("other.key"));
    let (ok, _, err) = Hub::tool(&["gen-cert", "--cert", other_cert.to_str().unwrap(), "--key", other_key.to_str().unwrap(), "--host", "hub.example.org"]);
    assert!(ok, "{err}");
    let other = Hub::start_with(&["--tls-cert", other_cert.to_str().unwrap(), "--tls-key", other_key.to_str().unwrap()]);
    let mut mallory = Client::start_url(&other.url, "mallory", &["--ca", other_cert.to_str().unwrap()]);
    let e = fatal_error(&mut mallory, "bad_certificate");
    assert!(e["message"].as_str().unwrap().contains("NotValidForName"), "{e}");

    // A plain ws:// client on the TLS port does not get in.
    let plain = hub.url.replace("wss://", "ws://");
    let mut confused = Client::start_url(&plain, "confused", &[]);
    confused.expect("an error, retrying", SOON, |e| e["event"] == "error" && e["code"] == "hub_unreachable");

    // A bad key file stops the hub at start with the reason.
    let out = std::process::Command::new(termcall_tests::bin("termcall-hub"))
        .args(["--listen", "127.0.0.1:0", "--turn-port", "0", "--tls-cert", cert.to_str().unwrap(), "--tls-key", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn users_need_their_secret_and_a_second_login_replaces_the_first() {
    let dir = scratch("users");
    let users = dir.join("users");
    let add = |name: &str| {
        let (ok, out, err) = Hub::tool(&["add-user", name, "--users", users.to_str().unwrap()]);
        assert!(ok, "add-user {name}: {err}");
        assert!(err.contains("only this once"), "{err}");
        out.trim().to_owned()
    };
    let (alice_secret, bob_secret) = (add("alice"), add("bob"));
    assert_ne!(alice_secret, bob_secret);
    let file = std::fs::read_to_string(&users).unwrap();
    assert!(!file.contains(&alice_secret), "the file holds hashes, not secrets");

    let hub = Hub::start_with(&["--users", users.to_str().unwrap()]);
    let quiet = ["--video", "none", "--audio", "none"];
    let mut alice = Client::ready(&hub, "alice", &[&["--secret", alice_secret.as_str()], &quiet[..]].concat());
    let mut bob = Client::ready(&hub, "bob", &[&["--secret", bob_secret.as_str(), "--auto-accept"], &quiet[..]].concat());
    alice.expect_roster("bob", SOON, |u| u.iter().any(|x| x["name"] == "bob"));

    // Wrong secret, someone else's secret, no secret, unknown user: all unauthorized.
    for (name, secret) in [("alice", Some("guess")), ("alice", Some(bob_secret.as_str())), ("bob", None), ("carol", Some(alice_secret.as_str()))] {
        let args: Vec<&str> = secret.map(|s| vec!["--secret", s]).unwrap_or_default();
        let mut c = Client::start(&hub, name, &args);
        let e = fatal_error(&mut c, "unauthorized");
        eprintln!("{name} with {secret:?}: {}", e["message"]);
    }
    assert!(hub.metric("termcall_logins_refused_total").unwrap_or(0.0) >= 4.0);

    // A user added while the hub runs can log in at once.
    let carol_secret = add("carol");
    let _carol = Client::ready(&hub, "carol", &[&["--secret", carol_secret.as_str()], &quiet[..]].concat());

    // alice logs in again (a second terminal): the first connection is told and closed; bob sees
    // alice online throughout, and can call the new one.
    let mut alice2 = Client::ready(&hub, "alice", &[&["--secret", alice_secret.as_str()], &quiet[..]].concat());
    let e = fatal_error(&mut alice, "replaced");
    eprintln!("first alice: {}", e["message"]);
    alice2.send(json!({"cmd":"call","to":"bob"}));
    alice2.expect_call("connected", SOON);
    bob.expect_call("connected", SOON);
    bob.expect_seen("alice in a call", SOON, |e| {
        e["event"] == "roster" && e["users"].as_array().is_some_and(|u| u.iter().any(|x| x["name"] == "alice" && x["state"] == "in_call"))
    });
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "roster" && e["users"].as_array().is_some_and(|u| !u.iter().any(|x| x["name"] == "alice"))),
        "alice never left bob's roster while she logged in again"
    );
}

#[test]
fn an_address_that_keeps_guessing_secrets_is_held_back() {
    let dir = scratch("guessing");
    let users = dir.join("users");
    let (ok, secret, err) = Hub::tool(&["add-user", "alice", "--users", users.to_str().unwrap()]);
    assert!(ok, "add-user: {err}");
    let hub = Hub::start_with(&["--users", users.to_str().unwrap()]);
    let hello = |secret: &str| {
        let mut r = Raw::connect(&hub.url);
        r.send_json(&json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":"alice","secret":secret}));
        r.expect(SOON, |m| m["type"] == "welcome" || m["type"] == "error")
    };
    // Ten wrong guesses are each told "unauthorized"; then this address is held back, even
    // with the right secret, and told to wait.
    for i in 0..10 {
        let e = hello(&format!("guess-{i}"));
        assert_eq!(e["code"], "unauthorized", "{e}");
    }
    let e = hello(secret.trim());
    assert_eq!(e["code"], "rate_limited", "{e}");
    assert!(e["message"].as_str().unwrap_or("").contains("too many failed logins"), "{e}");
    assert!(hub.log_text().contains("too many failed logins"), "the hub logs it");
    assert_eq!(hub.metric("termcall_logins_refused_total"), Some(11.0));
    // One more try is allowed every 6 s.
    std::thread::sleep(std::time::Duration::from_millis(6100));
    let welcome = hello(secret.trim());
    assert_eq!(welcome["type"], "welcome", "{welcome}");
}
