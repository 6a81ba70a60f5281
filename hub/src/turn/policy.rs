//! Which peers the TURN server relays to. A TURN server that relays anywhere is an open door
//! into the network it sits in, so loopback, private, link-local and other special ranges are
//! refused unless the operator allows them with `--allow-peer CIDR`. The hub's own addresses
//! are a case of their own: other relays open there now are fine (relay to relay), the hub's
//! own services (its TURN and WebSocket ports) never, anything else only where allowed.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ipnet::IpNet;

/// The peer addresses the relay may exchange packets with.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    allowed: Vec<IpNet>,
    own: OwnAddresses,
}

/// The ports of the relays open now, as a bitset: the policy asks on every packet, so it is
/// lock-free and a lookup is one atomic load.
#[derive(Debug)]
pub struct LivePorts(Vec<AtomicU64>);

impl Default for LivePorts {
    fn default() -> Self {
        LivePorts((0..1024).map(|_| AtomicU64::new(0)).collect())
    }
}

impl LivePorts {
    /// A relay was opened on `port`.
    pub fn open(&self, port: u16) {
        self.0[usize::from(port / 64)].fetch_or(1 << (port % 64), Ordering::Relaxed);
    }
    /// The relay on `port` closed.
    pub fn close(&self, port: u16) {
        self.0[usize::from(port / 64)].fetch_and(!(1 << (port % 64)), Ordering::Relaxed);
    }
    /// Whether a relay is open on `port`.
    pub fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port / 64)].load(Ordering::Relaxed) & (1 << (port % 64)) != 0
    }
}

/// The hub's own addresses and what listens there.
#[derive(Debug, Clone, Default)]
pub struct OwnAddresses {
    pub ips: Vec<IpAddr>,
    /// The relays open now: relay to relay is allowed, and nothing else in the relay range
    /// (another service on a port of that range stays out of reach).
    pub relays: Arc<LivePorts>,
    /// The hub's TURN and WebSocket ports: never a peer.
    pub service_ports: Vec<u16>,
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
        PeerPolicy { allowed, own: OwnAddresses::default() }
    }

    /// The relays open now on the hub's own addresses.
    pub fn relays(&self) -> &LivePorts {
        &self.own.relays
    }

    /// The same, knowing the hub's own addresses and ports.
    pub fn with_own(mut self, own: OwnAddresses) -> Self {
        self.own = own;
        self
    }

    /// Whether the relay may send to or take packets from `peer`.
    pub fn permits(&self, peer: SocketAddr) -> bool {
        let (ip, port) = (peer.ip(), peer.port());
        let explicitly_allowed = self.allowed.iter().any(|n| n.contains(&ip));
        if self.own.ips.contains(&ip) {
            if self.own.relays.contains(port) {
                return true;
            }
            return explicitly_allowed && !self.own.service_ports.contains(&port);
        }
        explicitly_allowed || !special_ranges().iter().any(|n| n.contains(&ip))
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

    fn ip(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 5000)
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

    #[test]
    fn the_hubs_own_address_is_open_only_to_relays() {
        let own = OwnAddresses { ips: vec!["203.0.113.5".parse().unwrap()], relays: Arc::default(), service_ports: vec![3478, 7878] };
        own.relays.open(50000);
        let at = |port: u16| SocketAddr::new("203.0.113.5".parse().unwrap(), port);
        let p = PeerPolicy::default().with_own(own.clone());
        assert!(p.permits(at(50000)), "relay to relay");
        assert!(!p.permits(at(3478)), "the TURN port itself");
        assert!(!p.permits(at(53)), "another service on the hub");
        assert!(!p.permits(at(50001)), "a port in the relay range where no relay is open");
        own.relays.open(50001);
        assert!(p.permits(at(50001)));
        own.relays.close(50001);
        assert!(!p.permits(at(50001)), "a relay that closed");
        // Allowing the range opens other ports, never the hub's own services.
        let p = PeerPolicy::new(vec!["203.0.113.0/24".parse().unwrap()]).with_own(own);
        assert!(p.permits(at(53)));
        assert!(!p.permits(at(7878)));
        assert!(!p.permits(at(3478)));
    }
}
