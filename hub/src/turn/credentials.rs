//! Time-limited TURN credentials in the TURN REST style (draft-uberti-behave-turn-rest):
//! the username is `expiry:name` and the password is base64(HMAC-SHA1(secret, username)).
//! The hub hands them out in each welcome and its TURN server checks them, so no password
//! is ever stored, and a leaked one stops working at its expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::prelude::{Engine, BASE64_STANDARD};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The secret that signs credentials, and how long they last.
#[derive(Clone)]
pub struct Credentials {
    secret: Vec<u8>,
    ttl: Duration,
}

/// Why a TURN username was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not `expiry:name`.
    Malformed,
    /// Its expiry has passed.
    Expired,
    /// Its expiry is further ahead than this hub issues them.
    TooFarAhead,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "username is not expiry:name",
            Refusal::Expired => "credentials expired",
            Refusal::TooFarAhead => "credentials dated further ahead than this hub issues them",
        })
    }
}

impl Credentials {
    /// Credentials signed with `secret`, valid for `ttl` after issue.
    pub fn new(secret: Vec<u8>, ttl: Duration) -> Self {
        Credentials { secret, ttl }
    }

    /// A fresh random secret: credentials then last only as long as this hub process.
    pub fn random(ttl: Duration) -> Self {
        let secret: [u8; 32] = rand::random();
        Credentials::new(secret.to_vec(), ttl)
    }

    /// A (username, password) pair for `name`, valid from `now` for the TTL.
    pub fn issue(&self, name: &str, now: SystemTime) -> (String, String) {
        let expiry = unix_secs(now).saturating_add(self.ttl.as_secs());
        let username = format!("{expiry}:{name}");
        let password = self.password(&username);
        (username, password)
    }

    /// How long issued credentials last.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The password that belongs to `username`, if it is well-formed and unexpired at `now`;
    /// also the user's name, for per-user quotas.
    pub fn check<'a>(&self, username: &'a str, now: SystemTime) -> Result<(&'a str, String), Refusal> {
        self.check_not_after(username, now, SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX >> 2))
    }

    /// [`Self::check`], also refusing an expiry after `latest`: no username of ours is dated
    /// further ahead than the TTL, and checking costs an HMAC, which a flood should not get.
    pub fn check_not_after<'a>(&self, username: &'a str, now: SystemTime, latest: SystemTime) -> Result<(&'a str, String), Refusal> {
        let (expiry, name) = username.split_once(':').ok_or(Refusal::Malformed)?;
        let expiry: u64 = expiry.parse().map_err(|_| Refusal::Malformed)?;
        if name.is_empty() {
            return Err(Refusal::Malformed);
        }
        if expiry <= unix_secs(now) {
            return Err(Refusal::Expired);
        }
        if expiry > unix_secs(latest) {
            return Err(Refusal::TooFarAhead);
        }
        Ok((name, self.password(username)))
    }

    fn password(&self, username: &str) -> String {
        // HMAC accepts a key of any length: new_from_slice cannot fail.
        let mut mac = <Hmac<Sha1>>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(username.as_bytes());
        BASE64_STANDARD.encode(mac.finalize().into_bytes())
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new(b"hub secret".to_vec(), Duration::from_secs(3600))
    }

    #[test]
    fn issued_credentials_check_out_until_they_expire() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (user, pass) = creds().issue("alice", now);
        assert_eq!(user, "1003600:alice");
        assert_eq!(creds().check(&user, now), Ok(("alice", pass.clone())));
        assert_eq!(creds().check(&user, now + Duration::from_secs(3599)).map(|c| c.1), Ok(pass));
        assert_eq!(creds().check(&user, now + Duration::from_secs(3600)), Err(Refusal::Expired));
    }

    #[test]
    fn usernames_dated_too_far_ahead_are_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (user, _) = creds().issue("alice", now);
        let latest = now + Duration::from_secs(3600);
        assert!(creds().check_not_after(&user, now, latest).is_ok());
        assert_eq!(creds().check_not_after("1003601:alice", now, latest), Err(Refusal::TooFarAhead));
    }

    #[test]
    fn another_secret_gives_another_password() {
        let now = SystemTime::now();
        let (user, pass) = creds().issue("alice", now);
        let other = Credentials::new(b"not the secret".to_vec(), Duration::from_secs(3600));
        assert_ne!(other.check(&user, now).unwrap().1, pass);
        // A forged later expiry changes the signed text, hence the password.
        let forged = user.replacen(|c: char| c.is_ascii_digit(), "9", 1);
        assert_ne!(creds().check(&forged, now).unwrap().1, pass);
    }

    #[test]
    fn malformed_usernames_are_refused() {
        let now = SystemTime::now();
        for bad in ["alice", ":alice", "soon:alice", "123:", ""] {
            assert_eq!(creds().check(bad, now), Err(Refusal::Malformed), "{bad}");
        }
    }

    #[test]
    fn the_password_is_the_turn_rest_hmac() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        let c = Credentials::new(b"Jefe".to_vec(), Duration::ZERO);
        let expected = BASE64_STANDARD.encode([
            0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a,
            0x7c, 0x79,
        ]);
        assert_eq!(c.password("what do ya want for nothing?"), expected);
    }
}
