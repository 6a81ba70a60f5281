//! Which other hubs are alive: decided from what each heartbeat read in Redis and what this
//! hub heard, with the time passed in (no I/O), so that the rules are unit-tested.
//!
//! - A hub whose heartbeat key expired is dead: it stopped writing it [`KEY_TTL`] ago.
//! - A hub off the list of hubs (a hub that came to Redis took it off) is dead once silent for
//!   two heartbeats; a hub that joins just after a heartbeat read the keys is heard from by
//!   its roster meanwhile.
//! - Right after this hub (re)connects to Redis, which may have restarted empty, no hub is
//!   taken for dead for [`KEY_TTL`]: they may not have written themselves again yet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::beat::{HEARTBEAT, KEY_TTL};

/// How long a hub off the list may be silent.
const SILENT: Duration = Duration::from_millis(HEARTBEAT.as_millis() as u64 * 2);

#[derive(Debug, Default)]
pub struct Liveness {
    /// The other hubs, with when each was last heard from.
    others: HashMap<String, Instant>,
    /// When this hub last came to Redis.
    connected: Option<Instant>,
}

impl Liveness {
    /// This hub reached Redis at `now`: every hub it knows gets [`KEY_TTL`] to show again.
    pub fn connected(&mut self, now: Instant) {
        self.connected = Some(now);
        for seen in self.others.values_mut() {
            *seen = now;
        }
    }

    /// Hub `node` was heard from: its key found, or a roster of its. True if it is new here.
    pub fn heard(&mut self, node: &str, now: Instant) -> bool {
        self.others.insert(node.to_owned(), now).is_none()
    }

    /// Whether `node` is known to be alive.
    pub fn knows(&self, node: &str) -> bool {
        self.others.contains_key(node)
    }

    /// `node` said it is leaving. True if it was known.
    pub fn forget(&mut self, node: &str) -> bool {
        self.others.remove(node).is_some()
    }

    pub fn len(&self) -> usize {
        self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.others.is_empty()
    }

    /// A heartbeat read at `now` the keys of `alive` and found those of `missing` expired:
    /// the hubs now taken for dead (and forgotten).
    pub fn beat(&mut self, now: Instant, alive: &[String], missing: &[String]) -> Vec<String> {
        for node in alive {
            self.others.insert(node.clone(), now);
        }
        if self.connected.is_none_or(|at| now.saturating_duration_since(at) < KEY_TTL) {
            return Vec::new();
        }
        let dead: Vec<String> = self
            .others
            .iter()
            .filter(|(n, seen)| missing.contains(*n) || now.saturating_duration_since(**seen) > SILENT)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &dead {
            self.others.remove(node);
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn an_expired_key_is_a_dead_hub() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        l.connected(t0);
        l.heard("h1", t0);
        l.heard("h2", t0);
        let later = t0 + KEY_TTL + HEARTBEAT;
        assert!(l.beat(later, &s(&["h1", "h2"]), &[]).is_empty());
        assert_eq!(l.beat(later + HEARTBEAT, &s(&["h2"]), &s(&["h1"])), s(&["h1"]));
        assert!(!l.knows("h1") && l.knows("h2"));
    }

    #[test]
    fn a_hub_off_the_list_is_dead_once_silent_for_two_beats() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        l.connected(t0);
        let t = t0 + KEY_TTL;
        l.heard("h1", t);
        assert!(l.beat(t + HEARTBEAT, &[], &[]).is_empty(), "silent for one beat only");
        assert_eq!(l.beat(t + HEARTBEAT * 3, &[], &[]), s(&["h1"]));
    }

    #[test]
    fn a_hub_heard_by_its_roster_between_beats_is_not_dead() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        l.connected(t0);
        let t = t0 + KEY_TTL * 2;
        // Joined just after the last heartbeat read the keys: not in `alive`, but heard.
        assert!(l.heard("new", t - HEARTBEAT / 2));
        assert!(l.beat(t, &[], &[]).is_empty());
    }

    #[test]
    fn nobody_dies_while_redis_is_coming_back() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        l.connected(t0);
        l.heard("h1", t0);
        // Redis restarted empty: this hub is back first, h1's key is not there yet.
        let back = t0 + Duration::from_secs(20);
        l.connected(back);
        assert!(l.beat(back + HEARTBEAT, &[], &s(&["h1"])).is_empty());
        assert!(l.beat(back + KEY_TTL - HEARTBEAT, &[], &[]).is_empty());
        assert!(l.beat(back + KEY_TTL, &s(&["h1"]), &[]).is_empty(), "h1 wrote itself again in time");
        // One that never comes back is dead after the grace.
        l.heard("h2", back);
        assert_eq!(l.beat(back + KEY_TTL + HEARTBEAT, &s(&["h1"]), &[]), s(&["h2"]));
    }

    #[test]
    fn a_leaving_hub_is_forgotten_at_once() {
        let mut l = Liveness::default();
        l.heard("h1", Instant::now());
        assert!(l.forget("h1"));
        assert!(!l.forget("h1"));
        assert!(l.is_empty());
    }
}
