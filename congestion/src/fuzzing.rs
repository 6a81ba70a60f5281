//! Any bytes, read as a script against the estimators and the pacer, with their invariants
//! checked after every step: the `congestion` cargo-fuzz target runs this, and the unit tests
//! replay a few thousand generated scripts on every test run (no nightly needed).
//!
//! Invariants: the send estimate is finite and within its bounds whatever feedback comes
//! (lost, reordered, duplicated, from a receiver clock that jumps, a REMB of any value); a REMB
//! the receive side sends is finite and positive; the pacer gives back every packet it took
//! (or counts it as refused or dropped), audio before everything, each class in order, and
//! says when it will release again no earlier than now.

use std::time::{Duration, Instant};

use crate::estimator::{Config, SendSideBwe};
use crate::pacer::{Class, Pacer};
use crate::remb::ReceiveSideBwe;
use crate::PacketResult;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
}

/// Runs one script; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let config = Config { initial_bps: 300_000.0, min_bps: 30_000.0, max_bps: 2_000_000.0 };
    let mut bwe = SendSideBwe::new(config);
    let mut max = config.max_bps;
    let mut remb = ReceiveSideBwe::new(300_000.0, 30_000.0, 5_000_000.0);
    let mut pacer: Pacer<(Class, u64)> = Pacer::new(300_000.0, Duration::from_millis(40), 64);
    let (mut pushed, mut popped, mut next_id) = (0u64, 0u64, 0u64);
    let mut last_of_class = [None::<u64>; 3];
    let mut departure = t0;
    let mut arrival = Duration::from_secs(10);
    let mut input = Bytes(data);
    while let Some(op) = input.u8() {
        match op % 8 {
            // Time passes.
            0 => now += Duration::from_micros(u64::from(input.u16().unwrap_or(0)) * 10),
            // A feedback message for up to 32 packets.
            1 => {
                let n = input.u8().unwrap_or(0) % 32;
                let mut results = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let (Some(dep), Some(arr), Some(flags)) = (input.u8(), input.u16(), input.u8()) else { break };
                    departure += Duration::from_micros(u64::from(dep) * 100);
                    arrival = match flags % 4 {
                        0 => arrival.saturating_sub(Duration::from_micros(u64::from(arr))),
                        _ => arrival + Duration::from_micros(u64::from(arr) * 10),
                    };
                    let lost = flags & 0x10 != 0;
                    let size = 50 + usize::from(flags) * 5;
                    results.push(PacketResult { departure: departure.min(now), arrival: (!lost).then_some(arrival), size });
                }
                bwe.on_feedback(now, &results);
            }
            2 => bwe.on_remb(now, f64::from(input.u16().unwrap_or(0)) * 100.0 - 1000.0),
            3 => bwe.on_rtt(Duration::from_millis(u64::from(input.u16().unwrap_or(0)))),
            4 => {
                max = 30_000.0 + f64::from(input.u16().unwrap_or(0)) * 50.0;
                bwe.set_max(max);
            }
            // The receive side: a packet with an abs-send-time.
            5 => {
                let abs = u32::from(input.u16().unwrap_or(0)) << 8 | u32::from(input.u8().unwrap_or(0));
                remb.on_packet(now, abs, 1200);
                if let Some(b) = remb.poll_remb(now) {
                    assert!(b.is_finite() && b > 0.0, "REMB {b}");
                }
                if let Some(next) = remb.next_remb() {
                    assert!(next >= t0);
                }
            }
            // The pacer takes a packet.
            6 => {
                let class = [Class::Audio, Class::Retransmission, Class::Video][usize::from(input.u8().unwrap_or(0) % 3)];
                let bytes = usize::from(input.u16().unwrap_or(0) % 1500);
                pacer.set_rate(now, bwe.estimate().target_bps);
                next_id += 1;
                pushed += 1;
                if pacer.push(now, class, (class, next_id), bytes).is_err() {
                    popped += 1; // refused: accounted for
                }
            }
            // The pacer gives what it may.
            _ => {
                if let Some(at) = pacer.next_release(now) {
                    assert!(at >= now, "a release in the past");
                }
                while let Some((class, id)) = pacer.pop(now) {
                    popped += 1;
                    let slot = &mut last_of_class[class as usize];
                    assert!(slot.is_none_or(|last| last < id), "{class:?} out of order");
                    *slot = Some(id);
                }
            }
        }
        let e = bwe.estimate();
        assert!(e.target_bps.is_finite(), "{e:?}");
        assert!(e.target_bps >= config.min_bps && e.target_bps <= max.max(config.min_bps), "{e:?} outside {}..{max}", config.min_bps);
        assert!(e.delay_bps.is_finite() && e.loss >= 0.0 && e.loss <= 1.0, "{e:?}");
    }
    // Whatever is left drains, and everything is accounted for.
    let mut guard = 0;
    while pacer.queued_packets() > 0 && guard < 100_000 {
        now += Duration::from_millis(10);
        while pacer.pop(now).is_some() {
            popped += 1;
        }
        guard += 1;
    }
    assert_eq!(pushed, popped + pacer.dropped(), "packets lost in the pacer");
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_scripts_keep_the_invariants() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (rnd() % 600) as usize;
            let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            super::run(&data);
        }
        super::run(&[]);
        super::run(&[1; 2000]);
        super::run(&[6, 0, 255, 255, 7, 0, 0, 255, 255]);
    }
}
