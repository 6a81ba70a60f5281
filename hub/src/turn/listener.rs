//! The TURN port's socket, guarded against floods of unauthenticated requests. The `turn`
//! crate answers each such request (other than a plain STUN Binding) with a fresh nonce that
//! it keeps forever, so spoofed requests would grow the hub's memory without bound. A legitimate
//! client sends one per allocation; past a per-source and a global rate they are dropped here,
//! before the server sees them. Media (ChannelData) and authenticated requests pass untouched.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::guarded::{Guard, GuardedSocket};
use super::quota::Gcra;
use crate::metrics::Metrics;

/// Unauthenticated requests per second from one source address (hashed into [`SLOTS`]).
const PER_SOURCE: u64 = 5;
/// Unauthenticated requests per second from everyone together.
const GLOBAL: u64 = 200;
/// Source buckets: a fixed table, so spoofed sources cannot grow it.
const SLOTS: usize = 1024;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const METHOD_BINDING: u16 = 0x001;

/// The flood guard of the TURN listening socket.
pub struct FloodGuard {
    per_source: Vec<Gcra>,
    global: Gcra,
    metrics: Arc<Metrics>,
}

/// The TURN port's socket.
pub type GuardedListener = GuardedSocket<FloodGuard>;

impl FloodGuard {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        FloodGuard {
            per_source: (0..SLOTS).map(|_| Gcra::new(PER_SOURCE, Duration::from_secs(2))).collect(),
            global: Gcra::new(GLOBAL, Duration::from_secs(1)),
            metrics,
        }
    }

    fn admit(&self, packet: &[u8], from: IpAddr) -> bool {
        if !needs_a_nonce(packet) {
            return true;
        }
        let now = Instant::now();
        if self.per_source[slot(from)].take(1, now) && self.global.take(1, now) {
            return true;
        }
        Metrics::add(&self.metrics.turn_unauthenticated_dropped_total, 1);
        false
    }
}

impl Guard for FloodGuard {
    fn inbound(&self, packet: &[u8], from: SocketAddr) -> bool {
        self.admit(packet, from.ip())
    }
}

/// Whether `packet` is a STUN request, other than Binding, without MESSAGE-INTEGRITY: what
/// makes the server mint a nonce.
fn needs_a_nonce(packet: &[u8]) -> bool {
    if packet.len() < 20 || packet[0] & 0xC0 != 0 || packet[4..8] != MAGIC_COOKIE {
        return false; // ChannelData, or not STUN
    }
    let t = u16::from_be_bytes([packet[0], packet[1]]);
    let is_request = t & 0x0110 == 0;
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    if !is_request || method == METHOD_BINDING {
        return false;
    }
    let end = (20 + u16::from_be_bytes([packet[2], packet[3]]) as usize).min(packet.len());
    let mut at = 20;
    while at + 4 <= end {
        let kind = u16::from_be_bytes([packet[at], packet[at + 1]]);
        if kind == ATTR_MESSAGE_INTEGRITY {
            return false;
        }
        let len = u16::from_be_bytes([packet[at + 2], packet[at + 3]]) as usize;
        at += 4 + len.div_ceil(4) * 4;
    }
    true
}

fn slot(ip: IpAddr) -> usize {
    let bits: u128 = match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    };
    // Fold and multiply (Fibonacci hashing) into the table.
    let folded = (bits as u64) ^ ((bits >> 64) as u64);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN message: type, then attributes as (type, value).
    fn stun(t: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attrs {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut m = t.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn only_unauthenticated_non_binding_requests_are_limited() {
        let allocate = 0x0003;
        assert!(needs_a_nonce(&stun(allocate, &[(0x0019, &[17, 0, 0, 0])])));
        assert!(!needs_a_nonce(&stun(allocate, &[(0x0006, b"user"), (ATTR_MESSAGE_INTEGRITY, &[0; 20])])));
        assert!(!needs_a_nonce(&stun(0x0001, &[])), "Binding");
        assert!(!needs_a_nonce(&stun(0x0103, &[])), "a success response");
        assert!(!needs_a_nonce(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]), "ChannelData");
        assert!(!needs_a_nonce(b"hello"));
        // A length field that lies is cut at the packet's end, not read past it.
        let mut lying = stun(allocate, &[]);
        lying[2] = 0xFF;
        assert!(needs_a_nonce(&lying));
    }

    #[test]
    fn a_flood_from_one_source_is_cut_and_others_still_pass() {
        let g = FloodGuard::new(Arc::default());
        let request = stun(0x0003, &[]);
        let flooder: IpAddr = "203.0.113.9".parse().unwrap();
        let passed = (0..1000).filter(|_| g.admit(&request, flooder)).count();
        assert!(passed <= 12, "{passed} of 1000 passed from one source");
        assert!(g.admit(&request, "198.51.100.1".parse().unwrap()), "another source still gets in");
        assert!(g.admit(&stun(0x0001, &[]), flooder), "Binding requests are never limited");
        assert!(g.metrics.turn_unauthenticated_dropped_total.load(std::sync::atomic::Ordering::Relaxed) >= 988);
    }
}
