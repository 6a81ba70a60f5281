//! Packet groups and the delay variation between them.
//!
//! Packets that leave within one burst ([`BURST`]) form a group, as a video frame does. For two
//! consecutive groups, the difference between how far apart they arrived and how far apart they
//! left is the one-way delay variation: positive while a queue on the path grows, negative while
//! it drains. Clock offsets between the two ends cancel out; only differences are used.

use std::time::{Duration, Instant};

/// Packets sent this close together belong to one group.
pub const BURST: Duration = Duration::from_millis(5);
/// Arrival jumps larger than this (a receiver clock reset, a long outage) start afresh.
const MAX_ARRIVAL_JUMP: Duration = Duration::from_secs(3);

/// The delay variation between two consecutive groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupDelta {
    /// How far apart the groups left, in ms.
    pub send_ms: f64,
    /// How far apart they arrived, in ms.
    pub arrival_ms: f64,
    /// When the later group's last packet arrived, on the receiver's clock, in ms.
    pub at_ms: f64,
}

impl GroupDelta {
    /// Arrival spacing minus send spacing: how much the path's delay grew between the groups.
    pub fn variation_ms(&self) -> f64 {
        self.arrival_ms - self.send_ms
    }
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: Instant,
    last_send: Instant,
    last_arrival: Duration,
}

/// Groups packets, in send order, and yields one [`GroupDelta`] per completed group.
#[derive(Debug, Default)]
pub struct InterArrival {
    current: Option<Group>,
    previous: Option<Group>,
}

impl InterArrival {
    /// Takes one packet that arrived (lost packets say nothing about delay); returns the delta
    /// between the two groups before it when this packet starts a new group.
    pub fn push(&mut self, departure: Instant, arrival: Duration) -> Option<GroupDelta> {
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(Group { first_send: departure, last_send: departure, last_arrival: arrival });
            return None;
        };
        if departure < cur.first_send {
            return None; // reordered before the group being built: too late to place
        }
        if departure.duration_since(cur.first_send) <= BURST || Self::arrives_in_burst(cur, departure, arrival) {
            cur.last_send = cur.last_send.max(departure);
            cur.last_arrival = cur.last_arrival.max(arrival);
            return None;
        }
        let done = *cur;
        self.current = Some(Group { first_send: departure, last_send: departure, last_arrival: arrival });
        let delta = self.previous.and_then(|prev| {
            let send_ms = ms(done.last_send.duration_since(prev.last_send));
            let arrival_ms = signed_ms(done.last_arrival, prev.last_arrival);
            (arrival_ms.abs() <= ms(MAX_ARRIVAL_JUMP)).then_some(GroupDelta { send_ms, arrival_ms, at_ms: ms(done.last_arrival) })
        });
        if delta.is_none() && self.previous.is_some() {
            // A jump on the receiver's clock: what came before says nothing about now.
            self.previous = None;
            return None;
        }
        self.previous = Some(done);
        delta
    }

    /// A packet that left later but arrived right behind the group, faster than it was sent:
    /// the path delivered a burst that queued on the way. It belongs to the group (libwebrtc
    /// does the same), or the burst would read as a sudden drop in delay.
    fn arrives_in_burst(cur: &Group, departure: Instant, arrival: Duration) -> bool {
        if departure.duration_since(cur.first_send) >= Duration::from_millis(100) {
            return false;
        }
        let arrival_delta = signed_ms(arrival, cur.last_arrival);
        let send_delta = ms(departure.saturating_duration_since(cur.last_send));
        arrival_delta < send_delta && arrival_delta <= ms(BURST)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn signed_ms(a: Duration, b: Duration) -> f64 {
    if a >= b { ms(a - b) } else { -ms(b - a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_frame_is_one_group_and_groups_yield_their_delay_variation() {
        let t = Instant::now();
        let mut ia = InterArrival::default();
        let d = Duration::from_millis;
        // Frame 1: three packets within 2 ms; frame 2 at 66 ms; frame 3 at 133 ms, 10 ms later than due.
        for (s, a) in [(0, 20), (1, 21), (2, 22)] {
            assert_eq!(ia.push(at(t, s), d(a)), None);
        }
        for (s, a) in [(66, 86), (67, 87)] {
            assert_eq!(ia.push(at(t, s), d(a)), None);
        }
        let first = ia.push(at(t, 133), d(163)).expect("group 2 completes when group 3 starts");
        assert_eq!((first.send_ms, first.arrival_ms), (65.0, 65.0), "last packet to last packet");
        let delta = ia.push(at(t, 200), d(220)).expect("group 3 is complete");
        assert!((delta.send_ms - 66.0).abs() < 1e-9, "{delta:?}");
        assert!((delta.arrival_ms - 76.0).abs() < 1e-9, "{delta:?}");
        assert!((delta.variation_ms() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_receiver_clock_jump_starts_afresh() {
        let t = Instant::now();
        let mut ia = InterArrival::default();
        let d = Duration::from_millis;
        ia.push(at(t, 0), d(10));
        ia.push(at(t, 50), d(60));
        assert!(ia.push(at(t, 100), d(110)).is_some());
        assert!(ia.push(at(t, 150), d(60_000)).is_some(), "closes the group before the jump");
        assert_eq!(ia.push(at(t, 200), d(60_050)), None, "a 60 s jump is not a delay variation");
        assert_eq!(ia.push(at(t, 250), d(60_100)), None);
        assert!(ia.push(at(t, 300), d(60_150)).is_some(), "and it recovers");
    }

    #[test]
    fn reordered_departures_are_ignored() {
        let t = Instant::now();
        let mut ia = InterArrival::default();
        let d = Duration::from_millis;
        ia.push(at(t, 100), d(100));
        assert_eq!(ia.push(at(t, 50), d(120)), None);
    }
}
