//! Which peers the TURN server relays to. A TURN server that relays anywhere is an open door
//! into the network it sits in, so loopback, private, link-local and other special ranges are
//! refused unless the operator allows them with `--allow-peer CIDR`.

use std::net::IpAddr;

use ipnet::IpNet;

/// The peer addresses the relay may exchange packets with.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    allowed: Vec<IpNet>,
}

/// Ranges refused by default: not the public internet.
const SPECIAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

impl PeerPolicy {
    /// Refuses the special ranges, except those inside `allowed`.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        PeerPolicy { allowed }
    }

    /// Whether the relay may send to or take packets from `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        !special_ranges().iter().any(|n| n.contains(&ip))
    }
}

fn special_ranges() -> &'static [IpNet] {
    static RANGES: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    // The table above is constant and valid: parse cannot fail.
    RANGES.get_or_init(|| SPECIAL.iter().map(|s| s.parse().expect("valid CIDR")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ranges_are_refused_by_default() {
        let p = PeerPolicy::default();
        for bad in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "172.20.0.1", "169.254.1.1", "100.64.0.1", "::1", "fe80::1", "fd00::1", "224.0.0.251", "0.0.0.0", "::ffff:127.0.0.1"] {
            assert!(!p.permits(ip(bad)), "{bad}");
        }
        for good in ["8.8.8.8", "203.0.113.7", "2001:db8::1"] {
            assert!(p.permits(ip(good)), "{good}");
        }
    }

    #[test]
    fn allowed_ranges_open_only_themselves() {
        let p = PeerPolicy::new(vec!["127.0.0.0/8".parse().unwrap(), "10.77.0.0/24".parse().unwrap()]);
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("10.77.0.9")));
        assert!(!p.permits(ip("10.78.0.9")));
        assert!(!p.permits(ip("192.168.0.1")));
    }
}
