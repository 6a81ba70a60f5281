//! The receive side's estimate, for a sender that does not number its packets transport-wide
//! (an older endpoint that only understands REMB): the same delay-based estimator as the send
//! side's, fed with the sender's clock from the abs-send-time header extension and our own
//! arrival times, and sent back as REMB four times a second, or at once when it falls by 3% or
//! more. (Once a second, the sender's rate rose in jumps of half its value while the estimate
//! was in slow start, and the jump past the link's rate filled its queue before the estimate
//! came down: two seconds of frozen picture at the start of a call on a 600 kbit/s link.) A sender that numbers its packets gets
//! transport-wide feedback instead, and no REMB: it estimates better from that, and a REMB
//! would only cap it.

use std::time::{Duration, Instant};

use crate::delay::DelayBasedBwe;

/// A REMB at least this often while packets come.
pub const REMB_EVERY: Duration = Duration::from_millis(250);
/// A fall of this much is sent at once.
const PROMPT_FALL: f64 = 0.03;
/// No REMB after this long without a packet.
const QUIET: Duration = Duration::from_secs(2);
/// The estimate moves at most this often.
const UPDATE_EVERY: Duration = Duration::from_millis(100);
/// abs-send-time: 24 bits, 6.18 fixed-point seconds (wraps every 64 s).
const ABS_TICKS_PER_SECOND: f64 = (1u32 << 18) as f64;
const ABS_WRAP: i64 = 1 << 24;

/// The estimator for one remote sender.
#[derive(Debug)]
pub struct ReceiveSideBwe {
    bwe: DelayBasedBwe,
    /// Our clock's origin for arrival times, and the sender's (an arbitrary instant its
    /// unwrapped abs-send-time counts from).
    epoch: Option<Instant>,
    /// The last abs-send-time seen, and its unwrapped tick count.
    last_abs: Option<(u32, i64)>,
    updated: Option<Instant>,
    sent: Option<(Instant, f64)>,
    last_packet: Option<Instant>,
}

impl ReceiveSideBwe {
    /// Starts at `initial`, within `min..=max` (bits per second).
    pub fn new(initial: f64, min: f64, max: f64) -> ReceiveSideBwe {
        ReceiveSideBwe { bwe: DelayBasedBwe::new(initial, min, max), epoch: None, last_abs: None, updated: None, sent: None, last_packet: None }
    }

    /// Takes one packet that arrived `now`, of `size` bytes, whose abs-send-time was `abs`.
    pub fn on_packet(&mut self, now: Instant, abs: u32, size: usize) {
        let epoch = *self.epoch.get_or_insert(now);
        self.last_packet = Some(now);
        let abs = abs & 0x00ff_ffff;
        let ticks = match self.last_abs {
            None => i64::from(abs),
            Some((last, ticks)) => {
                // The shortest way round the 24-bit circle.
                let mut d = i64::from(abs) - i64::from(last);
                if d > ABS_WRAP / 2 {
                    d -= ABS_WRAP;
                } else if d < -ABS_WRAP / 2 {
                    d += ABS_WRAP;
                }
                ticks + d
            }
        };
        if ticks < 0 {
            // A sender clock from before our origin: start over from here.
            self.last_abs = None;
            return;
        }
        self.last_abs = Some((abs, ticks.max(self.last_abs.map_or(0, |(_, t)| t))));
        let departure = epoch + Duration::from_secs_f64(ticks as f64 / ABS_TICKS_PER_SECOND);
        self.bwe.on_packet(now, departure, now.saturating_duration_since(epoch), size);
        if self.updated.is_none_or(|t| now.saturating_duration_since(t) >= UPDATE_EVERY) {
            self.updated = Some(now);
            self.bwe.update(now);
        }
    }

    /// The estimate to send now as REMB, if one is due (none once the sender has been silent
    /// for two seconds: there is nothing new to say).
    pub fn poll_remb(&mut self, now: Instant) -> Option<f64> {
        if self.quiet(now) {
            return None;
        }
        let rate = self.bwe.rate();
        let due = match self.sent {
            None => true,
            Some((at, last)) => now.saturating_duration_since(at) >= REMB_EVERY || rate < last * (1.0 - PROMPT_FALL),
        };
        due.then(|| {
            self.sent = Some((now, rate));
            rate
        })
    }

    /// When the next REMB is due at the latest.
    pub fn next_remb(&self) -> Option<Instant> {
        let last = self.last_packet?;
        let next = self.sent.map_or(last, |(at, _)| at + REMB_EVERY);
        (next <= last + QUIET).then_some(next)
    }

    fn quiet(&self, now: Instant) -> bool {
        self.last_packet.is_none_or(|t| now.saturating_duration_since(t) > QUIET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender at `rate` over a `link` bit/s bottleneck for `secs`, 1,200-byte packets paced
    /// evenly, abs-send-time starting near its wrap; returns the REMBs sent.
    fn run(r: &mut ReceiveSideBwe, t0: Instant, rate: impl Fn(f64) -> f64, link: f64, secs: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let (mut sent_at, mut free_at) = (0.0f64, 0.0f64);
        while sent_at < secs {
            let bits = 1200.0 * 8.0;
            free_at = free_at.max(sent_at) + bits / link;
            let now = t0 + Duration::from_secs_f64(free_at + 0.02);
            let abs = ((60.0 + sent_at) * ABS_TICKS_PER_SECOND) as u64 as u32 & 0x00ff_ffff;
            r.on_packet(now, abs, 1200);
            if let Some(b) = r.poll_remb(now) {
                out.push((free_at, b));
            }
            sent_at += bits / rate(r.bwe.rate()).max(1.0);
        }
        out
    }

    #[test]
    fn a_sender_over_a_bottleneck_is_told_about_it_across_the_abs_send_time_wrap() {
        let t0 = Instant::now();
        let mut r = ReceiveSideBwe::new(300_000.0, 30_000.0, 3_000_000.0);
        // The sender follows our REMB (as a REMB-only sender does): it sends at the estimate.
        let rembs = run(&mut r, t0, |estimate| estimate, 600_000.0, 30.0);
        let late: Vec<f64> = rembs.iter().filter(|(at, _)| *at > 15.0).map(|(_, b)| *b).collect();
        let mean = late.iter().sum::<f64>() / late.len() as f64;
        assert!((400_000.0..700_000.0).contains(&mean), "settles near the 600 kbit/s link: {mean} ({rembs:?})");
        let gaps = rembs.windows(2).map(|w| w[1].0 - w[0].0).fold(0.0f64, f64::max);
        assert!(gaps <= 0.3, "at least four times a second: {gaps}");
    }

    #[test]
    fn nothing_is_sent_before_a_packet_or_long_after_the_last() {
        let t0 = Instant::now();
        let mut r = ReceiveSideBwe::new(300_000.0, 30_000.0, 3_000_000.0);
        assert_eq!(r.poll_remb(t0), None);
        assert_eq!(r.next_remb(), None);
        r.on_packet(t0, 1000, 1200);
        assert_eq!(r.poll_remb(t0), Some(300_000.0));
        assert_eq!(r.next_remb(), Some(t0 + REMB_EVERY));
        assert_eq!(r.poll_remb(t0 + Duration::from_millis(100)), None, "not yet due");
        assert_eq!(r.poll_remb(t0 + Duration::from_secs(3)), None, "the sender went quiet");
    }
}
