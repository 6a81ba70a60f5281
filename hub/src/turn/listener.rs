//! The TURN port's socket, with a gate in front of the `turn` crate's server. That server
//! answers a request whose nonce it does not know with a fresh nonce that it keeps, and forgets
//! a nonce only when a client presents it again after an hour, so requests with made-up nonces
//! (or none) would grow the hub's memory without bound. The gate lets the server see only
//! requests it can act on, and answers the rest itself, keeping nothing:
//!
//! - STUN Binding requests, ChannelData (media) and indications pass: they make no state.
//! - Every other request counts against a rate per source address (and all of them against a
//!   global one) before anything else is done; over it, it is dropped.
//! - A request without MESSAGE-INTEGRITY is challenged here: 401 with a stateless nonce
//!   ([`super::nonce`]), not passed on.
//! - A request with MESSAGE-INTEGRITY passes only if its USERNAME is a live TURN REST username
//!   of ours (not expired, not dated further ahead than we issue), its integrity checks out with
//!   that user's key, and its NONCE is one of our stateless ones. Otherwise: 401, or 438 for a
//!   stale nonce, with a fresh stateless nonce; nothing is kept.
//!
//! Clients only ever see the gate's stateless nonces. The server's nonce table is global (not
//! per client), so the gate keeps one server nonce, the *pool* nonce, and hands the server every
//! authenticated request re-signed with it ([`super::wire::with_nonce`]; the gate has the
//! user's key, having just checked the integrity with it). The pool nonce comes from a request
//! of the hub's own ([`super::renewal`]), sent at start and every 45 minutes, which the server
//! answers with a fresh nonce. So the server makes a nonce or two an hour whatever anyone sends.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use stun::error_code::{ErrorCode, CODE_STALE_NONCE, CODE_UNAUTHORIZED};
use stun::integrity::MessageIntegrity;
use stun::agent::TransactionId;
use stun::message::{Getter, Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_REQUEST, METHOD_REFRESH};
use stun::textattrs::TextAttribute;
use tokio::sync::Notify;
use turn::auth::generate_auth_key;

use super::credentials::Credentials;
use super::guarded::{Guard, GuardedSocket, Inbound, Outbound};
use super::nonce::Nonces;
use super::wire::{challenge, is_error_response, is_limited_request, with_nonce};
use super::REALM;
use crate::metrics::Metrics;
use crate::rate::{Bucket, PerSource};

/// Requests (other than Binding) one source address may send a second, and at once above that:
/// an office behind one NAT address starting its calls together (each a challenge, an
/// allocation, permissions and channel bindings), with room to spare.
const PER_SOURCE: u64 = 100;
const PER_SOURCE_BURST: u64 = 200;
/// Requests from everyone together, and challenges the gate answers itself.
const GLOBAL: u64 = 2_000;
const REPLIES: u64 = 2_000;
/// Source buckets: a fixed table, so spoofed sources cannot grow it.
const SLOTS: usize = 4096;
/// The pool nonce is renewed when it is this old, and used until this age (the server keeps
/// its nonces good for an hour).
pub const POOL_RENEW: Duration = Duration::from_secs(45 * 60);
const POOL_USABLE: Duration = Duration::from_secs(58 * 60);
/// The name the hub's own renewal requests are signed for.
const RENEWAL_USER: &str = "termcall-hub-nonce-renewal";
/// A username may be dated this much further ahead than the hub issues them (clock skew
/// between hubs that share a secret).
const FUTURE_SLACK: Duration = Duration::from_secs(300);

/// The gate of the TURN listening socket.
pub struct Gate {
    per_source: PerSource,
    global: Bucket,
    replies: Bucket,
    nonces: Nonces,
    creds: Credentials,
    /// The server nonce authenticated requests are handed over with, and when it was seen.
    pool: Mutex<Option<(String, Instant)>>,
    /// The address the hub's own renewal requests come from ([`super::renewal`]).
    prober: OnceLock<SocketAddr>,
    /// Woken when a request finds no usable pool nonce.
    renew: Notify,
    metrics: Arc<Metrics>,
}

/// The TURN port's socket.
pub type GuardedListener = GuardedSocket<Gate>;

/// What the gate makes of a request with MESSAGE-INTEGRITY.
enum Judgement {
    /// Hand it over re-signed with this key, carrying the pool nonce.
    Renonce(Vec<u8>),
    Drop,
    /// Challenge again with this code.
    Challenge(ErrorCode),
}

impl Gate {
    pub fn new(creds: Credentials, metrics: Arc<Metrics>) -> Self {
        Gate {
            per_source: PerSource::new(SLOTS, || Bucket::with_burst_count(PER_SOURCE, PER_SOURCE_BURST)),
            global: Bucket::with_burst_count(GLOBAL, GLOBAL),
            replies: Bucket::with_burst_count(REPLIES, REPLIES),
            nonces: Nonces::random(),
            creds,
            pool: Mutex::new(None),
            prober: OnceLock::new(),
            renew: Notify::new(),
            metrics,
        }
    }

    fn judge(&self, packet: &[u8], from: SocketAddr, now: Instant, wall: SystemTime) -> Inbound {
        if !is_limited_request(packet) || self.prober.get() == Some(&from) {
            return Inbound::Pass;
        }
        if !(self.per_source.of(from.ip()).take(1, now) && self.global.take(1, now)) {
            Metrics::add(&self.metrics.turn_unauthenticated_dropped_total, 1);
            return Inbound::Drop;
        }
        let mut m = Message::new();
        if m.unmarshal_binary(packet).is_err() {
            return Inbound::Drop;
        }
        let code = if m.contains(ATTR_MESSAGE_INTEGRITY) {
            match self.check_authenticated(&m, from.ip(), now, wall) {
                Judgement::Drop => return Inbound::Drop,
                Judgement::Renonce(key) => {
                    let pool = self.pool_nonce(now, POOL_USABLE);
                    return match pool.and_then(|nonce| with_nonce(&m, &nonce, Some(&key))) {
                        Some(raw) => Inbound::Rewrite(raw),
                        None => Inbound::Drop,
                    };
                }
                Judgement::Challenge(code) => code,
            }
        } else {
            CODE_UNAUTHORIZED
        };
        Metrics::add(&self.metrics.turn_challenged_total, 1);
        if !self.replies.take(1, now) {
            return Inbound::Drop;
        }
        match challenge(&m, code, &self.nonces.issue(from.ip(), wall), REALM) {
            Some(reply) => Inbound::Reply(reply),
            None => Inbound::Drop,
        }
    }

    /// A request with MESSAGE-INTEGRITY: username, integrity, then nonce.
    fn check_authenticated(&self, m: &Message, ip: IpAddr, now: Instant, wall: SystemTime) -> Judgement {
        let text = |attr| {
            let mut t = TextAttribute::new(attr, String::new());
            t.get_from(m).ok().map(|()| t.text)
        };
        let (Some(username), Some(realm), Some(nonce)) = (text(ATTR_USERNAME), text(ATTR_REALM), text(ATTR_NONCE)) else {
            return Judgement::Challenge(CODE_UNAUTHORIZED);
        };
        let Ok((_, password)) = self.creds.check_not_after(&username, wall, wall + self.creds.ttl() + FUTURE_SLACK) else {
            Metrics::add(&self.metrics.turn_auth_refused_total, 1);
            return Judgement::Challenge(CODE_UNAUTHORIZED);
        };
        if realm != REALM {
            return Judgement::Challenge(CODE_UNAUTHORIZED);
        }
        let key = generate_auth_key(&username, &realm, &password);
        if MessageIntegrity(key.clone()).check(&mut m.clone()).is_err() {
            Metrics::add(&self.metrics.turn_auth_refused_total, 1);
            return Judgement::Challenge(CODE_UNAUTHORIZED);
        }
        if !self.nonces.check(&nonce, ip, wall) {
            return Judgement::Challenge(CODE_STALE_NONCE);
        }
        if self.pool_nonce(now, POOL_USABLE).is_some() {
            Judgement::Renonce(key)
        } else {
            // None yet (or the renewal is late): ask for one; the client sends again.
            self.renew.notify_one();
            Judgement::Drop
        }
    }

    /// Whether the pool nonce wants renewing `now`.
    pub fn needs_renewal(&self, now: Instant) -> bool {
        self.pool_nonce(now, POOL_RENEW).is_none()
    }

    /// Resolves when a request found no usable pool nonce.
    pub async fn renewal_wanted(&self) {
        self.renew.notified().await;
    }

    /// Where the hub's own renewal requests come from: they pass as they are.
    pub fn set_prober(&self, addr: SocketAddr) {
        let _ = self.prober.set(addr);
    }

    /// A request the server cannot take but answers with a fresh nonce: signed for the hub's own
    /// user, carrying a stateless nonce, which the server does not know.
    pub fn renewal_request(&self, wall: SystemTime) -> Option<Vec<u8>> {
        let from = *self.prober.get()?;
        let (username, password) = self.creds.issue(RENEWAL_USER, wall);
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_REFRESH, CLASS_REQUEST)),
            Box::new(TextAttribute::new(ATTR_USERNAME, username.clone())),
            Box::new(TextAttribute::new(ATTR_REALM, REALM.to_owned())),
            Box::new(TextAttribute::new(ATTR_NONCE, self.nonces.issue(from.ip(), wall))),
            Box::new(MessageIntegrity::new_long_term_integrity(username, REALM.to_owned(), password)),
        ];
        let mut m = Message::new();
        m.build(&setters).ok()?;
        Some(m.raw)
    }

    /// The pool nonce, if there is one younger than `age`.
    fn pool_nonce(&self, now: Instant, age: Duration) -> Option<String> {
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.as_ref().filter(|(_, seen)| now.saturating_duration_since(*seen) < age).map(|(n, _)| n.clone())
    }

    /// The server's answers: a nonce it gives becomes the pool nonce, and the client gets a
    /// stateless one of ours in its place.
    fn outbound_at(&self, packet: &[u8], to: SocketAddr, now: Instant, wall: SystemTime) -> Outbound {
        if !is_error_response(packet) {
            return Outbound::Pass;
        }
        let mut m = Message::new();
        if m.unmarshal_binary(packet).is_err() || m.typ.class != CLASS_ERROR_RESPONSE {
            return Outbound::Pass;
        }
        let mut nonce = TextAttribute::new(ATTR_NONCE, String::new());
        if nonce.get_from(&m).is_err() || self.nonces.check(&nonce.text, to.ip(), wall) {
            return Outbound::Pass;
        }
        *self.pool.lock().unwrap_or_else(|p| p.into_inner()) = Some((nonce.text, now));
        if self.prober.get() == Some(&to) {
            return Outbound::Pass;
        }
        match with_nonce(&m, &self.nonces.issue(to.ip(), wall), None) {
            Some(raw) => Outbound::Rewrite(raw),
            None => Outbound::Pass,
        }
    }
}

impl Guard for Gate {
    fn inbound(&self, packet: &[u8], from: SocketAddr) -> Inbound {
        self.judge(packet, from, Instant::now(), SystemTime::now())
    }

    fn outbound(&self, packet: &[u8], to: SocketAddr) -> Outbound {
        self.outbound_at(packet, to, Instant::now(), SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::error_code::ErrorCodeAttribute;
    use stun::message::{METHOD_ALLOCATE, METHOD_BINDING};

    const CLIENT: &str = "198.51.100.7:50000";

    fn gate() -> Gate {
        Gate::new(Credentials::new(b"secret".to_vec(), Duration::from_secs(3600)), Arc::default())
    }

    /// An Allocate request, with MESSAGE-INTEGRITY under `password` when given (a zeroed one
    /// when only a username is).
    fn allocate(username: Option<&str>, nonce: Option<&str>, password: Option<&str>) -> Vec<u8> {
        let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(TransactionId::new()), Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST))];
        if let Some(u) = username {
            setters.push(Box::new(TextAttribute::new(ATTR_USERNAME, u.to_owned())));
            setters.push(Box::new(TextAttribute::new(ATTR_REALM, REALM.to_owned())));
        }
        if let Some(n) = nonce {
            setters.push(Box::new(TextAttribute::new(ATTR_NONCE, n.to_owned())));
        }
        match (username, password) {
            (Some(u), Some(p)) => setters.push(Box::new(MessageIntegrity::new_long_term_integrity(u.to_owned(), REALM.to_owned(), p.to_owned()))),
            (Some(_), None) => setters.push(Box::new(MessageIntegrity(vec![0; 16]))),
            _ => {}
        }
        let mut m = Message::new();
        m.build(&setters).unwrap();
        m.raw
    }

    /// The server's 438 with its own nonce.
    fn server_stale(nonce: &str) -> Vec<u8> {
        let mut m = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
            Box::new(ErrorCodeAttribute { code: CODE_STALE_NONCE, reason: Vec::new() }),
            Box::new(TextAttribute::new(ATTR_NONCE, nonce.to_owned())),
            Box::new(TextAttribute::new(ATTR_REALM, REALM.to_owned())),
        ];
        m.build(&setters).unwrap();
        m.raw
    }

    fn parse(raw: &[u8]) -> Message {
        let mut m = Message::new();
        m.unmarshal_binary(raw).unwrap();
        m
    }

    fn nonce_of(m: &Message) -> String {
        let mut nonce = TextAttribute::new(ATTR_NONCE, String::new());
        nonce.get_from(m).unwrap();
        nonce.text
    }

    /// The code and nonce of a challenge the gate answered itself.
    fn reply_nonce(v: &Inbound) -> (u16, String) {
        let Inbound::Reply(raw) = v else { panic!("expected a reply, got {v:?}") };
        let m = parse(raw);
        let mut code = ErrorCodeAttribute::default();
        code.get_from(&m).unwrap();
        (code.code.0, nonce_of(&m))
    }

    /// The hub's own renewal, as `renewal::run` does it: the server answers with `nonce`.
    fn renew(g: &Gate, nonce: &str, now: Instant, wall: SystemTime) {
        let prober: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        g.set_prober(prober);
        let request = g.renewal_request(wall).unwrap();
        assert_eq!(g.judge(&request, prober, now, wall), Inbound::Pass, "the renewal request reaches the server as it is");
        assert_eq!(g.outbound_at(&server_stale(nonce), prober, now, wall), Outbound::Pass);
    }

    #[test]
    fn a_client_sees_only_stateless_nonces_and_the_server_only_its_own() {
        let g = gate();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let from: SocketAddr = CLIENT.parse().unwrap();
        let (code, nonce) = reply_nonce(&g.judge(&allocate(None, None, None), from, now, wall));
        assert_eq!(code, 401);
        assert!(g.nonces.check(&nonce, from.ip(), wall));
        let (user, pass) = g.creds.issue("alice", wall);
        let request = allocate(Some(&user), Some(&nonce), Some(&pass));
        // No pool nonce yet: dropped (the client sends again) while the hub asks for one.
        assert!(g.needs_renewal(now));
        assert_eq!(g.judge(&request, from, now, wall), Inbound::Drop);
        renew(&g, "a-server-nonce", now, wall);
        assert!(!g.needs_renewal(now));
        // The request reaches the server with the pool nonce, still signed by the client's key.
        let Inbound::Rewrite(handed) = g.judge(&request, from, now, wall) else { panic!("re-signed") };
        let handed = parse(&handed);
        assert_eq!(nonce_of(&handed), "a-server-nonce");
        MessageIntegrity(generate_auth_key(&user, REALM, &pass)).check(&mut handed.clone()).expect("integrity under the user's key");
        // Should the server answer a client with a nonce of its own, the client gets ours instead.
        let Outbound::Rewrite(out) = g.outbound_at(&server_stale("another-server-nonce"), from, now, wall) else { panic!("replaced") };
        let ours = nonce_of(&parse(&out));
        assert!(g.nonces.check(&ours, from.ip(), wall), "the client gets a stateless nonce: {ours}");
        // Another client, with its own stateless nonce, is handed over with the same pool nonce.
        let other: SocketAddr = "198.51.100.8:50000".parse().unwrap();
        let (bob, bobs) = g.creds.issue("bob", wall);
        let theirs = g.nonces.issue(other.ip(), wall);
        let Inbound::Rewrite(handed) = g.judge(&allocate(Some(&bob), Some(&theirs), Some(&bobs)), other, now, wall) else { panic!() };
        assert_eq!(nonce_of(&parse(&handed)), "another-server-nonce");
        assert_eq!(reply_nonce(&g.judge(&allocate(Some(&bob), Some(&ours), Some(&bobs)), other, now, wall)).0, 438, "not someone else's nonce");
        assert_eq!(reply_nonce(&g.judge(&allocate(Some(&user), Some("a-server-nonce"), Some(&pass)), from, now, wall)).0, 438, "never the server's own");
    }

    #[test]
    fn the_pool_nonce_is_renewed_before_the_server_forgets_it() {
        let g = gate();
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let from: SocketAddr = CLIENT.parse().unwrap();
        let (user, pass) = g.creds.issue("alice", wall);
        let ours = g.nonces.issue(from.ip(), wall);
        let request = allocate(Some(&user), Some(&ours), Some(&pass));
        renew(&g, "old", t0, wall);
        let at = |mins: u64| t0 + Duration::from_secs(mins * 60);
        assert!(!g.needs_renewal(at(44)));
        assert!(g.needs_renewal(at(46)), "renewed well before the server's hour is up");
        assert!(matches!(g.judge(&request, from, at(46), wall), Inbound::Rewrite(_)), "still used meanwhile");
        assert_eq!(g.judge(&request, from, at(59), wall), Inbound::Drop, "not past its use");
        renew(&g, "new", at(59), wall);
        let Inbound::Rewrite(raw) = g.judge(&request, from, at(59), wall) else { panic!() };
        assert_eq!(nonce_of(&parse(&raw)), "new");
    }

    #[test]
    fn made_up_nonces_forged_integrity_and_bad_usernames_never_reach_the_server() {
        let g = gate();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let from: SocketAddr = CLIENT.parse().unwrap();
        let (user, pass) = g.creds.issue("alice", wall);
        let ours = g.nonces.issue(from.ip(), wall);
        let secs = wall.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let expired = format!("{}:alice", secs - 10);
        let far = format!("{}:alice", secs + 10 * 86_400);
        let cases = [
            ("a random nonce, bogus integrity", allocate(Some(&user), Some("deadbeef"), None), 401),
            ("our nonce, bogus integrity", allocate(Some(&user), Some(&ours), None), 401),
            ("a random nonce, good integrity", allocate(Some(&user), Some("deadbeef"), Some(&pass)), 438),
            ("an expired username", allocate(Some(&expired), Some(&ours), Some("x")), 401),
            ("a username dated ten days ahead", allocate(Some(&far), Some(&ours), Some("x")), 401),
            ("no username", allocate(None, Some(&ours), None), 401),
        ];
        for (what, packet, code) in cases {
            assert_eq!(reply_nonce(&g.judge(&packet, from, now, wall)).0, code, "{what}");
        }
        assert!(g.pool.lock().unwrap().is_none(), "nothing is kept");
    }

    #[test]
    fn a_flood_from_one_source_is_cut_and_others_still_pass() {
        let g = gate();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let flooder: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let request = allocate(None, None, None);
        let answered = (0..1000).filter(|_| g.judge(&request, flooder, now, wall) != Inbound::Drop).count();
        assert!(answered <= PER_SOURCE_BURST as usize, "{answered} of 1000 answered from one source");
        assert!(matches!(g.judge(&request, CLIENT.parse().unwrap(), now, wall), Inbound::Reply(_)), "another source still gets in");
        let mut binding = Message::new();
        binding.build(&[Box::new(TransactionId::new()) as Box<dyn Setter>, Box::new(MessageType::new(METHOD_BINDING, CLASS_REQUEST))]).unwrap();
        assert_eq!(g.judge(&binding.raw, flooder, now, wall), Inbound::Pass, "Binding requests are never limited");
        assert_eq!(g.judge(&[0x40, 0, 0, 4, 1, 2, 3, 4], flooder, now, wall), Inbound::Pass, "ChannelData");
        let dropped = g.metrics.turn_unauthenticated_dropped_total.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(dropped as usize, 1000 - answered, "every request over the limit is counted");
    }

    #[test]
    fn garbage_is_dropped_or_passed_never_a_panic() {
        let g = gate();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut seed = 0x1234_5678u32;
        for i in 0..5000 {
            let mut p = allocate(Some("1:alice"), Some("x"), None);
            for _ in 0..(i % 7) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % p.len();
                p[at] = (seed >> 8) as u8;
            }
            p.truncate(20 + seed as usize % p.len());
            let from = format!("10.0.{}.{}:1", i / 250, i % 250).parse().unwrap();
            let _ = g.judge(&p, from, now, wall);
            let _ = g.outbound_at(&p, from, now, wall);
        }
    }
}
