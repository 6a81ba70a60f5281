//! The pacer: packets leave at a pacing rate derived from the send estimate, so that a keyframe
//! is spread out instead of bursting into a small bottleneck queue.
//!
//! - Two speeds. An ordinary frame leaves at [`FAST`] × the estimate (2.5×, as browsers pace):
//!   quickly, yet never faster than a few times what the path takes. What queues beyond
//!   [`FAST_QUEUE`] of the estimate (the tail of a keyframe) leaves at [`SUSTAINED`] × the
//!   estimate, so that a bottleneck's queue grows by a fraction of the keyframe rather than most
//!   of it: a shallow queue (150 ms on a 300 kbit/s link) takes a keyframe without a loss.
//! - A budget refills at the pacing rate, up to one burst's worth ([`Pacer::new`]'s `burst`,
//!   40 ms as libwebrtc allows): an ordinary frame on a fast path leaves at once, unpaced, and
//!   only what is larger than a burst waits.
//! - Audio goes first and never waits (its bits still count); then retransmissions, then video,
//!   each in order.
//! - Nothing waits longer than [`MAX_QUEUE_TIME`] on average: a long queue raises the rate
//!   until it drains in time. The sender should not let it get there: [`Pacer::queue_time`]
//!   tells it to skip frames (newest-frame-only), which keeps the queue short.
//! - The queue holds at most `limit` packets; past that new video packets are refused (counted),
//!   never the ones already queued, which would tear holes in frames already partly sent.
//! - Retransmissions are worth sending only while the receiver still waits for them: one that
//!   waited [`MAX_RETRANSMISSION_WAIT`] here is dropped, and no more than
//!   [`RETRANSMISSION_SHARE`] of the estimate's worth wait at once. Under heavy loss, NACKs would
//!   otherwise fill the queue with repairs of frames long given up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The queue is paced so that it would drain within this long.
pub const MAX_QUEUE_TIME: Duration = Duration::from_millis(500);
/// The pacing rate for a short queue, and for what queues beyond [`FAST_QUEUE`], as multiples of
/// the estimate.
pub const FAST: f64 = 2.5;
pub const SUSTAINED: f64 = 1.25;
/// How much queue (in time at the estimate) still goes at the fast rate: a few frames.
pub const FAST_QUEUE: Duration = Duration::from_millis(150);
/// The budget always holds at least this much: one full-size packet.
const MIN_BURST_BITS: f64 = 1500.0 * 8.0;
/// A retransmission that waited this long is dropped.
pub const MAX_RETRANSMISSION_WAIT: Duration = Duration::from_millis(150);
/// At most this much of the estimate (as time) of retransmissions waits at once.
pub const RETRANSMISSION_SHARE: Duration = Duration::from_millis(250);

/// What a packet is, in the order packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Audio = 0,
    Retransmission = 1,
    Video = 2,
}

#[derive(Debug)]
struct Queued<T> {
    item: T,
    bits: f64,
    at: Instant,
}

/// Packets of type `T` waiting to leave.
#[derive(Debug)]
pub struct Pacer<T> {
    queues: [VecDeque<Queued<T>>; 3],
    /// The send estimate the rates derive from.
    rate_bps: f64,
    burst: Duration,
    budget_bits: f64,
    updated: Option<Instant>,
    queued_bits: f64,
    queued_packets: usize,
    /// Bits waiting in each class's queue.
    class_bits: [f64; 3],
    limit: usize,
    refused: u64,
    dropped: u64,
}

impl<T> Pacer<T> {
    /// A pacer for an estimate of `rate_bps`, allowing bursts of `burst` at the fast rate,
    /// holding at most `limit` packets.
    pub fn new(rate_bps: f64, burst: Duration, limit: usize) -> Pacer<T> {
        let queue = || VecDeque::with_capacity(64);
        Pacer {
            queues: [queue(), queue(), queue()],
            rate_bps: rate_bps.max(1.0),
            burst,
            budget_bits: 0.0,
            updated: None,
            queued_bits: 0.0,
            queued_packets: 0,
            class_bits: [0.0; 3],
            limit: limit.max(1),
            refused: 0,
            dropped: 0,
        }
    }

    /// Follows a new estimate from now on.
    pub fn set_rate(&mut self, now: Instant, rate_bps: f64) {
        if rate_bps.is_finite() && rate_bps > 0.0 {
            self.refill(now);
            self.rate_bps = rate_bps;
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate_bps
    }

    /// Queues a packet of `bytes`; gives it back if the queue is full (audio is always taken),
    /// or if it is a retransmission over the share.
    pub fn push(&mut self, now: Instant, class: Class, item: T, bytes: usize) -> Result<(), T> {
        let bits = bytes as f64 * 8.0;
        let full = self.queued_packets >= self.limit && class != Class::Audio;
        let repairs_full = class == Class::Retransmission && self.class_bits[class as usize] + bits > self.rate_bps * RETRANSMISSION_SHARE.as_secs_f64();
        if full || repairs_full {
            self.refused += 1;
            return Err(item);
        }
        self.refill(now);
        self.queued_bits += bits;
        self.queued_packets += 1;
        self.class_bits[class as usize] += bits;
        self.queues[class as usize].push_back(Queued { item, bits, at: now });
        Ok(())
    }

    /// The next packet that may leave now, if any.
    pub fn pop(&mut self, now: Instant) -> Option<T> {
        self.refill(now);
        while let Some(q) = self.queues[Class::Retransmission as usize].front() {
            if now.saturating_duration_since(q.at) < MAX_RETRANSMISSION_WAIT {
                break;
            }
            self.take(Class::Retransmission);
            self.dropped += 1;
        }
        let class = if !self.queues[Class::Audio as usize].is_empty() {
            Class::Audio
        } else if self.budget_bits <= 0.0 {
            return None;
        } else if !self.queues[Class::Retransmission as usize].is_empty() {
            Class::Retransmission
        } else {
            Class::Video
        };
        let q = self.take(class)?;
        self.budget_bits -= q.bits;
        Some(q.item)
    }

    /// Takes the head of a class's queue off the books.
    fn take(&mut self, class: Class) -> Option<Queued<T>> {
        let q = self.queues[class as usize].pop_front()?;
        self.queued_bits -= q.bits;
        self.class_bits[class as usize] -= q.bits;
        self.queued_packets -= 1;
        if self.queued_packets == 0 {
            // No float drift across an empty queue.
            self.queued_bits = 0.0;
            self.class_bits = [0.0; 3];
        }
        Some(q)
    }

    /// When [`Pacer::pop`] will next give something (now, if it would now); `None` when empty.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        if self.queued_packets == 0 {
            return None;
        }
        if !self.queues[Class::Audio as usize].is_empty() {
            return Some(now);
        }
        let budget = self.budget_at(now);
        if budget > 0.0 {
            return Some(now);
        }
        let wait = Duration::from_secs_f64((-budget + 1.0) / self.effective_rate(now));
        Some(now + wait.max(Duration::from_micros(100)))
    }

    /// How long the queue would take to drain at the estimate.
    pub fn queue_time(&self) -> Duration {
        Duration::from_secs_f64(self.queued_bits / self.rate_bps)
    }

    /// How long the oldest queued packet has waited.
    pub fn oldest_wait(&self, now: Instant) -> Duration {
        self.queues.iter().filter_map(|q| q.front()).map(|q| now.saturating_duration_since(q.at)).max().unwrap_or_default()
    }

    pub fn queued_packets(&self) -> usize {
        self.queued_packets
    }

    /// Packets refused because the queue was full (or held its share of retransmissions).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Retransmissions dropped because they waited too long.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The pacing rate now: fast for a short queue, sustained for a long one, and raised so that
    /// what is queued leaves within [`MAX_QUEUE_TIME`] of the oldest packet's arrival.
    fn effective_rate(&self, now: Instant) -> f64 {
        if self.queued_bits <= self.rate_bps * FAST_QUEUE.as_secs_f64() {
            return FAST * self.rate_bps;
        }
        let left = MAX_QUEUE_TIME.saturating_sub(self.oldest_wait(now)).max(Duration::from_millis(20));
        (SUSTAINED * self.rate_bps).max(self.queued_bits / left.as_secs_f64())
    }

    fn budget_at(&self, now: Instant) -> f64 {
        let Some(last) = self.updated else { return self.cap() };
        let dt = now.saturating_duration_since(last).as_secs_f64();
        (self.budget_bits + dt * self.effective_rate(now)).min(self.cap())
    }

    /// The most the budget holds: a burst at the fast rate, and never less than one full packet
    /// (or a packet could never leave).
    fn cap(&self) -> f64 {
        (FAST * self.rate_bps * self.burst.as_secs_f64()).max(MIN_BURST_BITS)
    }

    fn refill(&mut self, now: Instant) {
        self.budget_bits = self.budget_at(now);
        self.updated = Some(self.updated.map_or(now, |u| u.max(now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops everything, stepping the clock to each release; returns (item, release time in ms).
    fn drain(p: &mut Pacer<u32>, t0: Instant) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        let mut now = t0;
        while let Some(at) = p.next_release(now) {
            now = at.max(now);
            while let Some(item) = p.pop(now) {
                out.push((item, now.duration_since(t0).as_secs_f64() * 1000.0));
            }
        }
        out
    }

    #[test]
    fn a_frame_within_the_burst_leaves_at_once_and_a_big_one_is_spread() {
        let t0 = Instant::now();
        // An estimate of 400 kbit/s: bursts of 40 ms at 1 Mbit/s = 40 kbit = 5,000 bytes.
        let mut p = Pacer::new(400_000.0, Duration::from_millis(40), 1000);
        for i in 0..3 {
            p.push(t0, Class::Video, i, 1200).unwrap();
        }
        let out = drain(&mut p, t0);
        assert!(out.iter().all(|&(_, ms)| ms == 0.0), "a 3,600-byte frame goes at once: {out:?}");

        // A keyframe of 20 packets (24 KB = 192 kbit): a burst, then 1.25 × 400 = 500 kbit/s
        // while more than 60 kbit (150 ms at 400 kbit/s) waits, then 2.5 × 400 for the rest.
        let t1 = t0 + Duration::from_secs(1);
        for i in 0..20 {
            p.push(t1, Class::Video, i, 1200).unwrap();
        }
        let out = drain(&mut p, t1);
        let last = out.last().unwrap().1;
        assert!((200.0..260.0).contains(&last), "{last} ms: {out:?}");
        let gaps: Vec<f64> = out.windows(2).map(|w| w[1].1 - w[0].1).collect();
        assert!(gaps[..4].iter().all(|&g| g == 0.0), "the burst: {gaps:?}");
        assert!(gaps[5..12].iter().all(|&g| (18.0..20.0).contains(&g)), "sustained, 9.6 kbit at 500 kbit/s: {gaps:?}");
        assert!(gaps[14..].iter().all(|&g| g < 10.0), "fast for the last few: {gaps:?}");
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>(), "in order");
    }

    #[test]
    fn audio_goes_first_and_never_waits_then_retransmissions_then_video() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100_000.0, Duration::from_millis(10), 1000);
        for i in 0..10 {
            p.push(t0, Class::Video, 100 + i, 1200).unwrap();
        }
        p.push(t0, Class::Retransmission, 50, 1200).unwrap();
        p.push(t0, Class::Audio, 1, 100).unwrap();
        assert_eq!(p.pop(t0), Some(1), "audio first");
        assert_eq!(p.pop(t0), Some(50), "then the retransmission");
        assert_eq!(p.pop(t0), Some(100), "then video, while the budget (one full packet at least) lasts");
        assert_eq!(p.pop(t0), None, "the budget is spent");
        p.push(t0, Class::Audio, 2, 100).unwrap();
        assert_eq!(p.pop(t0), Some(2), "audio does not wait for the budget");
        assert_eq!(p.next_release(t0).map(|t| t > t0), Some(true));
    }

    #[test]
    fn a_long_queue_drains_within_the_queue_time() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50_000.0, Duration::from_millis(40), 10_000);
        for i in 0..100 {
            p.push(t0, Class::Video, i, 1200).unwrap(); // 960 kbit: 19 s at 50 kbit/s
        }
        let last = drain(&mut p, t0).last().unwrap().1;
        assert!(last <= 520.0, "the rate rises so the queue is gone within half a second: {last} ms");
    }

    #[test]
    fn stale_retransmissions_are_dropped_and_their_share_is_bounded() {
        let t0 = Instant::now();
        // 100 kbit/s: 25 kbit of retransmissions may wait (two 1,200-byte packets).
        let mut p = Pacer::new(100_000.0, Duration::ZERO, 1000);
        for i in 0..3 {
            p.push(t0, Class::Video, i, 1200).unwrap();
        }
        assert!(p.push(t0, Class::Retransmission, 10, 1200).is_ok());
        assert!(p.push(t0, Class::Retransmission, 11, 1200).is_ok());
        assert_eq!(p.push(t0, Class::Retransmission, 12, 1200), Err(12), "over the share");
        // 200 ms later both repairs are stale; the video is not.
        let out = drain(&mut p, t0 + Duration::from_millis(200));
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!((p.dropped(), p.refused()), (2, 1));
    }

    #[test]
    fn a_full_queue_refuses_video_but_takes_audio() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10_000.0, Duration::ZERO, 2);
        p.push(t0, Class::Video, 1, 1200).unwrap();
        p.push(t0, Class::Video, 2, 1200).unwrap();
        assert_eq!(p.push(t0, Class::Video, 3, 1200), Err(3));
        assert!(p.push(t0, Class::Audio, 4, 100).is_ok());
        assert_eq!(p.refused(), 1);
    }
}
