//! Stateless nonces for TURN's long-term credential challenge: a nonce is the minute it was
//! issued in and an HMAC of that minute and the client's address, under a key of this process.
//! Checking one needs no memory of having issued it, so a flood of requests that are answered
//! with nonces leaves nothing behind.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A nonce is good for this long after it was issued.
pub const LIFETIME: Duration = Duration::from_secs(600);
const BUCKET_SECS: u64 = 60;
/// The nonce's prefix: it tells ours from the TURN server's own.
const PREFIX: &str = "tc1-";

/// The key nonces are made with.
pub struct Nonces {
    key: [u8; 32],
}

impl Nonces {
    /// Nonces under a fresh random key (a hub restart invalidates them: clients are challenged again).
    pub fn random() -> Nonces {
        Nonces { key: rand::random() }
    }

    /// A nonce for a client at `ip`, issued `now`.
    pub fn issue(&self, ip: IpAddr, now: SystemTime) -> String {
        let bucket = bucket(now);
        format!("{PREFIX}{bucket:08x}{}", hex(&self.mac(ip, bucket)))
    }

    /// Whether `nonce` is one of ours, for a client at `ip`, and still good `now`.
    pub fn check(&self, nonce: &str, ip: IpAddr, now: SystemTime) -> bool {
        let Some(rest) = nonce.strip_prefix(PREFIX) else { return false };
        if rest.len() != 8 + 20 || !rest.is_ascii() {
            return false;
        }
        let Ok(issued) = u64::from_str_radix(&rest[..8], 16) else { return false };
        let now = bucket(now);
        let age = now.saturating_sub(issued);
        if issued > now || age > LIFETIME.as_secs() / BUCKET_SECS {
            return false;
        }
        // Constant-time comparison of the MAC.
        let want = hex(&self.mac(ip, issued));
        want.bytes().zip(rest[8..].bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    fn mac(&self, ip: IpAddr, bucket: u64) -> [u8; 10] {
        let mut mac = <Hmac<Sha1>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        match ip {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        mac.update(&bucket.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 10];
        out.copy_from_slice(&full[..10]);
        out
    }
}

fn bucket(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / BUCKET_SECS
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_its_client_for_its_lifetime() {
        let n = Nonces::random();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let alice: IpAddr = "198.51.100.7".parse().unwrap();
        let nonce = n.issue(alice, now);
        assert!(n.check(&nonce, alice, now));
        assert!(n.check(&nonce, alice, now + LIFETIME - Duration::from_secs(60)));
        assert!(!n.check(&nonce, alice, now + LIFETIME + Duration::from_secs(60)), "too old");
        assert!(!n.check(&nonce, "198.51.100.8".parse().unwrap(), now), "another client");
        assert!(!Nonces::random().check(&nonce, alice, now), "another hub process");
        assert!(!n.check(&nonce, alice, now - Duration::from_secs(120)), "from the future");
    }

    #[test]
    fn anything_else_is_not_a_nonce_of_ours() {
        let n = Nonces::random();
        let now = SystemTime::now();
        let ip: IpAddr = "::1".parse().unwrap();
        let good = n.issue(ip, now);
        for bad in ["", "tc1-", "abc", "tc1-zzzzzzzz0000000000000000000000000000", &good[..good.len() - 1], &format!("{good}0"), "tc1-ÿÿÿÿÿÿÿÿÿÿÿÿÿÿ"] {
            assert!(!n.check(bad, ip, now), "{bad:?}");
        }
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!n.check(&String::from_utf8(flipped).unwrap(), ip, now));
    }
}
