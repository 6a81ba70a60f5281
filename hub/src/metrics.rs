//! The hub's counters, served as Prometheus text at `/metrics`. Plain atomics: the hot paths
//! (every relayed packet) only add to them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

/// Every figure the hub reports. Gauges are set, counters only grow.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Users registered now.
    pub users_online: AtomicU64,
    /// Calls ringing or connected now.
    pub calls_active: AtomicU64,
    /// Signaling messages sent to clients, one per recipient.
    pub messages_sent: AtomicU64,
    /// Of those, roster updates: how a mass join's cost is seen.
    pub roster_sent: AtomicU64,
    /// Hellos refused for a missing or wrong secret.
    pub logins_refused: AtomicU64,
    /// Messages sent to other hubs of the cluster (`--cluster`).
    pub cluster_relays: AtomicU64,
    /// Users of other hubs of the cluster in the roster now.
    pub cluster_remote_users: AtomicU64,
    /// TURN allocations open now.
    pub turn_allocations_active: AtomicU64,
    /// TURN allocations ever made.
    pub turn_allocations_total: AtomicU64,
    /// Allocations refused (quota, no free port, unknown user).
    pub turn_allocations_refused_total: AtomicU64,
    /// TURN requests refused for expired or malformed credentials.
    pub turn_auth_refused_total: AtomicU64,
    /// Bytes relayed, both directions, between clients' allocations and their peers.
    pub turn_relayed_bytes_total: AtomicU64,
    /// Packets dropped because their peer address is not allowed.
    pub turn_refused_peer_packets_total: AtomicU64,
    /// Bytes dropped because a user was over the bandwidth quota.
    pub turn_quota_dropped_bytes_total: AtomicU64,
    /// TURN requests (other than Binding) dropped over the per-source or global rate.
    pub turn_unauthenticated_dropped_total: AtomicU64,
    /// TURN requests the gate challenged itself (no or bad credentials, a nonce not of ours).
    pub turn_challenged_total: AtomicU64,
    /// TURN clients on streams (TCP, TLS, WebSocket) connected now.
    pub turn_streams_open: AtomicU64,
    pub turn_streams_total: AtomicU64,
    /// Stream connections refused: too many open, from that address or in all.
    pub turn_streams_refused_total: AtomicU64,
    /// Packets to stream clients dropped rather than queued behind a slow stream.
    pub turn_stream_dropped_total: AtomicU64,
    /// Peer connections of the hub's media endpoint (group calls, echo) open now.
    pub sfu_peers: AtomicU64,
    pub sfu_peers_refused_total: AtomicU64,
    /// RTP packets the hub forwarded, one per receiving participant.
    pub sfu_rtp_forwarded_total: AtomicU64,
    /// Packets a receiver's queue dropped (oldest first) because its connection took them
    /// more slowly than they came.
    pub sfu_queue_dropped_total: AtomicU64,
    /// Keyframe requests passed on to a sender.
    pub sfu_pli_forwarded_total: AtomicU64,
    /// Keyframe requests held back because one went to that sender less than 500 ms before.
    pub sfu_pli_throttled_total: AtomicU64,
    /// Chat messages forwarded, one per receiving participant.
    pub sfu_chat_forwarded_total: AtomicU64,
    /// How long the hub holds a packet: from its arrival to its hand-over to a receiver's
    /// connection, once per receiver.
    pub sfu_forward_us: Histogram,
    /// What each receiving participant gets through the SFU, by name.
    pub receivers: Receivers,
}

/// What one participant receives through the SFU: bytes, and packets per simulcast layer
/// (from the smallest; a sender without simulcast counts as the top layer).
#[derive(Debug, Default)]
pub struct ReceiverFigures {
    pub bytes: AtomicU64,
    pub layer_packets: [AtomicU64; 3],
    pub layer_bytes: [AtomicU64; 3],
}

/// The figures of the participants in the SFU now, by name: held by their queues, listed while
/// one of those lives (a name's entry goes once its last call ends).
#[derive(Debug, Default)]
pub struct Receivers {
    by_name: Mutex<BTreeMap<String, Weak<ReceiverFigures>>>,
}

impl Receivers {
    /// The figures of `name`, shared by all its queues. Called when a queue is made, not per packet.
    pub fn of(&self, name: &str) -> Arc<ReceiverFigures> {
        let mut map = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(f) = map.get(name).and_then(Weak::upgrade) {
            return f;
        }
        let f = Arc::new(ReceiverFigures::default());
        map.insert(name.to_owned(), Arc::downgrade(&f));
        f
    }

    fn render(&self, text: &mut String) {
        let map = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let live: Vec<(&String, Arc<ReceiverFigures>)> = map.iter().filter_map(|(n, w)| Some((n, w.upgrade()?))).collect();
        let _ = writeln!(text, "# HELP termcall_sfu_receiver_bytes_total RTP payload bytes forwarded to a participant.\n# TYPE termcall_sfu_receiver_bytes_total counter");
        for (name, f) in &live {
            let _ = writeln!(text, "termcall_sfu_receiver_bytes_total{{receiver=\"{name}\"}} {}", f.bytes.load(Relaxed));
        }
        let _ = writeln!(
            text,
            "# HELP termcall_sfu_receiver_layer_packets_total RTP packets forwarded to a participant, by simulcast layer (q, h, f: a quarter, a half, the full size).\n# TYPE termcall_sfu_receiver_layer_packets_total counter"
        );
        for (name, f) in &live {
            for (layer, n) in ["q", "h", "f"].iter().zip(&f.layer_packets) {
                let _ = writeln!(text, "termcall_sfu_receiver_layer_packets_total{{receiver=\"{name}\",layer=\"{layer}\"}} {}", n.load(Relaxed));
            }
        }
        let _ = writeln!(text, "# HELP termcall_sfu_receiver_layer_bytes_total Video payload bytes forwarded to a participant, by simulcast layer.\n# TYPE termcall_sfu_receiver_layer_bytes_total counter");
        for (name, f) in &live {
            for (layer, n) in ["q", "h", "f"].iter().zip(&f.layer_bytes) {
                let _ = writeln!(text, "termcall_sfu_receiver_layer_bytes_total{{receiver=\"{name}\",layer=\"{layer}\"}} {}", n.load(Relaxed));
            }
        }
    }
}

/// Upper bounds of [`Histogram`]'s buckets, in microseconds.
pub const FORWARD_BUCKETS_US: [u64; 14] = [25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000];

/// A latency histogram in the Prometheus style, lock-free: one atomic add per observation.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or under each bound of [`FORWARD_BUCKETS_US`] (not cumulative), then over all.
    buckets: [AtomicU64; FORWARD_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    #[inline]
    pub fn observe(&self, us: u64) {
        let i = FORWARD_BUCKETS_US.iter().position(|b| us <= *b).unwrap_or(FORWARD_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn render(&self, name: &str, help: &str, text: &mut String) {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut total = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Relaxed);
            let le = FORWARD_BUCKETS_US.get(i).map_or("+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            let _ = writeln!(text, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        let _ = writeln!(text, "{name}_sum {}\n{name}_count {total}", self.sum_us.load(Relaxed) as f64 / 1e6);
    }
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The Prometheus text exposition of every figure.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 27] = [
            ("termcall_users_online", "gauge", "Users registered now.", &self.users_online),
            ("termcall_calls_active", "gauge", "Calls ringing or connected now.", &self.calls_active),
            ("termcall_messages_sent_total", "counter", "Signaling messages sent, one per recipient.", &self.messages_sent),
            ("termcall_roster_sent_total", "counter", "Roster updates sent, one per recipient.", &self.roster_sent),
            ("termcall_logins_refused_total", "counter", "Hellos refused for a missing or wrong secret.", &self.logins_refused),
            ("termcall_cluster_relays_total", "counter", "Messages sent to other hubs of the cluster.", &self.cluster_relays),
            ("termcall_cluster_remote_users", "gauge", "Users of other hubs of the cluster in the roster.", &self.cluster_remote_users),
            ("termcall_turn_allocations_active", "gauge", "TURN allocations open now.", &self.turn_allocations_active),
            ("termcall_turn_allocations_total", "counter", "TURN allocations made.", &self.turn_allocations_total),
            ("termcall_turn_allocations_refused_total", "counter", "TURN allocations refused (quota, ports, user).", &self.turn_allocations_refused_total),
            ("termcall_turn_auth_refused_total", "counter", "TURN requests with expired or malformed credentials.", &self.turn_auth_refused_total),
            ("termcall_turn_relayed_bytes_total", "counter", "Bytes relayed between allocations and peers.", &self.turn_relayed_bytes_total),
            ("termcall_turn_refused_peer_packets_total", "counter", "Packets to or from peers outside the allowed ranges.", &self.turn_refused_peer_packets_total),
            ("termcall_turn_quota_dropped_bytes_total", "counter", "Bytes dropped over a user's bandwidth quota.", &self.turn_quota_dropped_bytes_total),
            ("termcall_turn_unauthenticated_dropped_total", "counter", "TURN requests (other than Binding) dropped over the per-source or global rate.", &self.turn_unauthenticated_dropped_total),
            ("termcall_turn_challenged_total", "counter", "TURN requests answered with a challenge by the gate: no or bad credentials, or a nonce not of ours.", &self.turn_challenged_total),
            ("termcall_turn_streams_open", "gauge", "TURN clients on TCP, TLS or WebSocket streams connected now.", &self.turn_streams_open),
            ("termcall_turn_streams_total", "counter", "TURN stream connections accepted.", &self.turn_streams_total),
            ("termcall_turn_streams_refused_total", "counter", "TURN stream connections refused: too many open, from one address or in all.", &self.turn_streams_refused_total),
            ("termcall_turn_stream_dropped_total", "counter", "Packets to TURN stream clients dropped (late video, or a full queue) rather than queued behind a slow stream.", &self.turn_stream_dropped_total),
            ("termcall_sfu_peers", "gauge", "Media peer connections (group calls, echo) open now.", &self.sfu_peers),
            ("termcall_sfu_peers_refused_total", "counter", "Joins to the media endpoint refused: --max-media-peers connections were open.", &self.sfu_peers_refused_total),
            ("termcall_sfu_rtp_forwarded_total", "counter", "RTP packets forwarded, one per receiver.", &self.sfu_rtp_forwarded_total),
            ("termcall_sfu_queue_dropped_total", "counter", "RTP packets a receiver's queue dropped, oldest first: its connection took them more slowly than they came.", &self.sfu_queue_dropped_total),
            ("termcall_sfu_pli_forwarded_total", "counter", "Keyframe requests passed on to a sender.", &self.sfu_pli_forwarded_total),
            ("termcall_sfu_pli_throttled_total", "counter", "Keyframe requests held back (one per 500 ms per stream).", &self.sfu_pli_throttled_total),
            ("termcall_sfu_chat_forwarded_total", "counter", "Chat messages forwarded, one per receiver.", &self.sfu_chat_forwarded_total),
        ];
        let mut text = String::with_capacity(1536);
        for (name, kind, help, value) in rows {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", value.load(Relaxed));
        }
        self.sfu_forward_us.render("termcall_sfu_forward_seconds", "Time from a packet's arrival to its hand-over to a receiver's connection, once per receiver.", &mut text);
        self.receivers.render(&mut text);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::add(&m.turn_relayed_bytes_total, 1200);
        m.users_online.store(3, Relaxed);
        let text = m.render();
        assert!(text.contains("\ntermcall_turn_relayed_bytes_total 1200\n"), "{text}");
        assert!(text.contains("# TYPE termcall_users_online gauge\ntermcall_users_online 3\n"), "{text}");
        let alice = m.receivers.of("alice");
        alice.bytes.fetch_add(900, Relaxed);
        alice.layer_packets[0].fetch_add(3, Relaxed);
        let text = m.render();
        assert!(text.contains("termcall_sfu_receiver_bytes_total{receiver=\"alice\"} 900\n"), "{text}");
        assert!(text.contains("termcall_sfu_receiver_layer_packets_total{receiver=\"alice\",layer=\"q\"} 3\n"), "{text}");
        drop(alice);
        assert!(!m.render().contains("receiver=\"alice\""), "gone with its last queue");
    }

    #[test]
    fn the_histogram_counts_cumulatively() {
        let m = Metrics::default();
        for us in [10, 40, 40, 900, 20_000] {
            m.sfu_forward_us.observe(us);
        }
        let text = m.render();
        assert!(text.contains("termcall_sfu_forward_seconds_bucket{le=\"0.000025\"} 1\n"), "{text}");
        assert!(text.contains("termcall_sfu_forward_seconds_bucket{le=\"0.00005\"} 3\n"), "{text}");
        assert!(text.contains("termcall_sfu_forward_seconds_bucket{le=\"0.001\"} 4\n"), "{text}");
        assert!(text.contains("termcall_sfu_forward_seconds_bucket{le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("termcall_sfu_forward_seconds_count 5\n"), "{text}");
    }
}
