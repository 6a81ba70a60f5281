//! The delay-based rate: additive-increase, multiplicative-decrease driven by the detector
//! (draft-ietf-rmcat-gcc §5.5, libwebrtc's AimdRateControl).
//!
//! - **Over-use**: the rate drops to 0.85 × what the receiver actually got, at most once per
//!   round trip; what it got is also remembered as the link's capacity. But when we sent much
//!   less than the rate allowed (the sender was held back by something else, and the queue is
//!   draining already), what arrived says nothing about the link: the rate only drops by 15%.
//! - **Under-use**: hold while the queue drains.
//! - **Normal**: increase. Near the remembered capacity, by about one packet per round trip
//!   (additive); far from it, multiplicatively: 8%/s at first, faster the longer nothing pushes
//!   back, so a link that came back is found again within seconds. A new call starts in slow
//!   start (×1.5 a second) until the first over-use, or until the delay starts to rise (as
//!   TCP's HyStart leaves slow start before the loss).
//! - An increase never goes past 1.5 × the acknowledged rate + 10 kbit/s: an encoder that sends
//!   less than it may does not earn a rate the path never carried.

use std::time::{Duration, Instant};

use crate::detector::Usage;

const BETA: f64 = 0.85;
const SLOW_START_PER_SECOND: f64 = 1.5;
/// Multiplicative increase starts at this fraction per second; after [`RAMP_AFTER`] with nothing
/// pushing back it grows by [`RAMP_PER_SECOND`] every second, up to [`MAX_INCREASE`].
const MIN_INCREASE: f64 = 0.08;
const RAMP_AFTER: f64 = 1.0;
const RAMP_PER_SECOND: f64 = 0.08;
const MAX_INCREASE: f64 = 0.3;
const DEFAULT_RTT: Duration = Duration::from_millis(200);
/// Sending under this share of the rate is being held back by something other than the path.
const APP_LIMITED: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Hold,
    Increase,
    Decrease,
}

/// The link's capacity as seen at over-use: a running mean and a normalised variance, in
/// kbit/s as libwebrtc keeps them (so the band around the mean is a few kbit/s wide at low
/// rates and tens at high ones).
#[derive(Debug, Clone, Copy)]
struct Capacity {
    mean_kbps: f64,
    var: f64,
}

impl Capacity {
    fn update(this: &mut Option<Capacity>, sample_bps: f64) {
        let sample = sample_bps / 1000.0;
        let c = this.get_or_insert(Capacity { mean_kbps: sample, var: 0.4 });
        // A sample far off the old mean means the link changed: trust it more.
        let alpha = if (sample - c.mean_kbps).abs() > 3.0 * c.std_kbps() { 0.5 } else { 0.05 };
        c.mean_kbps = (1.0 - alpha) * c.mean_kbps + alpha * sample;
        let dev = (sample - c.mean_kbps).powi(2) / c.mean_kbps.max(1.0);
        c.var = ((1.0 - alpha) * c.var + alpha * dev).clamp(0.4, 2.5);
    }

    fn std_kbps(&self) -> f64 {
        (self.var * self.mean_kbps).sqrt()
    }

    /// Above this the link has changed, in bit/s.
    fn upper(&self) -> f64 {
        (self.mean_kbps + 3.0 * self.std_kbps()) * 1000.0
    }
}

/// The rate controller.
#[derive(Debug)]
pub struct Aimd {
    rate: f64,
    min: f64,
    max: f64,
    state: State,
    last_change: Option<Instant>,
    last_decrease: Option<Instant>,
    /// When the current run of multiplicative increase began.
    ramp_since: Option<Instant>,
    capacity: Option<Capacity>,
    rtt: Duration,
    slow_start: bool,
}

impl Aimd {
    /// Starts at `initial`, held within `min..=max` (bits per second).
    pub fn new(initial: f64, min: f64, max: f64) -> Aimd {
        Aimd {
            rate: initial.clamp(min, max),
            min,
            max,
            state: State::Hold,
            last_change: None,
            last_decrease: None,
            ramp_since: None,
            capacity: None,
            rtt: DEFAULT_RTT,
            slow_start: true,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The round trip, for pacing decreases and sizing additive increases.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt.clamp(Duration::from_millis(1), Duration::from_secs(2));
    }

    /// Moves the ceiling (the encoder's most); the rate follows it down at once.
    pub fn set_max(&mut self, max: f64) {
        self.max = max.max(self.min);
        self.rate = self.rate.min(self.max);
    }

    /// Whether the first over-use has not come yet.
    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// The delay has started to rise: from now on, increase as usual.
    pub fn leave_slow_start(&mut self) {
        self.slow_start = false;
    }

    /// Takes the detector's verdict, the acknowledged rate, the rate the same packets were
    /// sent at, and whether the path is dropping packets heavily; returns the new rate.
    pub fn update(&mut self, now: Instant, usage: Usage, acked: Option<f64>, sent: Option<f64>, dropping: bool) -> f64 {
        self.state = match (usage, self.state) {
            (Usage::Normal, State::Hold) => {
                self.last_change = Some(now);
                State::Increase
            }
            (Usage::Overusing, _) => State::Decrease,
            (Usage::Underusing, _) => State::Hold,
            (Usage::Normal, s) => s,
        };
        match self.state {
            // A pause (the queue draining after a burst) does not restart the ramp; a decrease does.
            State::Hold => {}
            State::Increase => self.increase(now, acked),
            State::Decrease => self.decrease(now, acked, sent, dropping),
        }
        self.rate
    }

    /// A probe showed the path carried `rate` without a queue: the rate goes there at once if
    /// it was lower (as libwebrtc's probe results do), and the search goes on from it.
    pub fn raise_to(&mut self, now: Instant, rate: f64) {
        if rate > self.rate {
            self.rate = rate.clamp(self.min, self.max);
            self.capacity = None;
            self.last_change = Some(now);
        }
    }

    fn increase(&mut self, now: Instant, acked: Option<f64>) {
        let last = self.last_change.replace(now).unwrap_or(now);
        let dt = now.saturating_duration_since(last).min(Duration::from_secs(1)).as_secs_f64();
        // The receiver gets more than the link carried before: it changed, search again. (The
        // rate itself may well be above the capacity: a sender seldom fills all of its rate.)
        if let (Some(c), Some(a)) = (self.capacity, acked) {
            if a > c.upper() {
                self.capacity = None;
            }
        }
        let target = if self.slow_start {
            self.rate * SLOW_START_PER_SECOND.powf(dt)
        } else if self.capacity.is_some() {
            self.ramp_since = None;
            self.rate + dt * self.additive_per_second()
        } else {
            let since = self.ramp_since.get_or_insert(now);
            let running = now.saturating_duration_since(*since).as_secs_f64();
            let g = (MIN_INCREASE + RAMP_PER_SECOND * (running - RAMP_AFTER).max(0.0)).min(MAX_INCREASE);
            self.rate * (1.0 + g).powf(dt)
        };
        let cap = acked.map_or(f64::INFINITY, |a| 1.5 * a + 10_000.0);
        // Past the cap the rate is not raised, but it is not lowered either.
        let next = if target > cap { self.rate.max(cap) } else { target };
        self.rate = next.clamp(self.min, self.max);
    }

    /// About one packet more per response time (a round trip plus 100 ms), at least 4 kbit/s a second.
    fn additive_per_second(&self) -> f64 {
        let frame_bits = self.rate / 30.0;
        let packets = (frame_bits / (1200.0 * 8.0)).ceil().max(1.0);
        let packet_bits = frame_bits / packets;
        let response = (self.rtt + Duration::from_millis(100)).as_secs_f64();
        (packet_bits / response).max(4000.0)
    }

    fn decrease(&mut self, now: Instant, acked: Option<f64>, sent: Option<f64>, dropping: bool) {
        // One decrease per round trip, and not twice within 400 ms: the queue needs that long to
        // show the last one, and the trend lags the queue by a few groups.
        let patience = (self.rtt + Duration::from_millis(100)).max(Duration::from_millis(400));
        if self.last_decrease.is_some_and(|t| now.saturating_duration_since(t) < patience) {
            self.state = State::Hold;
            return;
        }
        // Held back: we sent well under the rate (the pacer's backlog, a frozen source, an SFU
        // forwarding what it gets), so the arrivals measure us, not the path. Unless the path
        // drops what we send: then what arrived is what it carries (a link that fell to a
        // fifth of the rate under an SFU sending half of it).
        let held_back = !dropping && sent.is_some_and(|s| s < APP_LIMITED * self.rate);
        let next = match acked {
            Some(a) if !held_back => {
                Capacity::update(&mut self.capacity, a);
                BETA * a
            }
            _ => BETA * self.rate,
        }
        .min(self.rate);
        self.rate = next.clamp(self.min, self.max);
        self.slow_start = false;
        self.last_decrease = Some(now);
        self.last_change = Some(now);
        self.ramp_since = None;
        self.state = State::Hold;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut Aimd, t: &mut Instant, usage: Usage, acked: Option<f64>, secs: f64) -> f64 {
        let steps = (secs * 10.0) as u32;
        for _ in 0..steps {
            *t += Duration::from_millis(100);
            a.update(*t, usage, acked, None, false);
        }
        a.rate()
    }

    #[test]
    fn slow_start_then_decrease_to_what_arrived() {
        let mut t = Instant::now();
        let mut a = Aimd::new(300_000.0, 30_000.0, 2_000_000.0);
        let r = run(&mut a, &mut t, Usage::Normal, None, 2.0);
        assert!(r > 600_000.0 && r < 750_000.0, "two seconds of slow start from 300k: {r}");
        run(&mut a, &mut t, Usage::Overusing, Some(500_000.0), 0.1);
        assert!((a.rate() - 425_000.0).abs() < 1.0, "0.85 × acked: {}", a.rate());
        assert!(!a.in_slow_start());
    }

    #[test]
    fn near_the_known_capacity_the_increase_is_gentle_and_far_from_it_it_speeds_up() {
        let mut t = Instant::now();
        let mut a = Aimd::new(500_000.0, 30_000.0, 5_000_000.0);
        run(&mut a, &mut t, Usage::Overusing, Some(500_000.0), 0.1);
        let start = a.rate();
        let after = run(&mut a, &mut t, Usage::Normal, Some(start), 1.0);
        assert!(after - start < 60_000.0, "additive near capacity: {start} -> {after}");
        // Nothing pushes back for 15 s (the acknowledged rate keeps up): well past the old capacity.
        let mut r = after;
        for _ in 0..150 {
            t += Duration::from_millis(100);
            r = a.update(t, Usage::Normal, Some(r), None, false);
        }
        assert!(r > 3.0 * start, "a link that came back is found again: {start} -> {r}");
    }

    #[test]
    fn increases_are_capped_by_the_acknowledged_rate_but_do_not_lower_the_rate() {
        let mut t = Instant::now();
        let mut a = Aimd::new(400_000.0, 30_000.0, 2_000_000.0);
        let r = run(&mut a, &mut t, Usage::Normal, Some(20_000.0), 5.0);
        assert_eq!(r, 400_000.0, "an encoder sending 20 kbit/s earns no increase, nor a decrease");
    }

    #[test]
    fn decreases_wait_a_round_trip_and_underuse_holds() {
        let mut t = Instant::now();
        let mut a = Aimd::new(1_000_000.0, 30_000.0, 2_000_000.0);
        a.set_rtt(Duration::from_millis(300));
        a.update(t, Usage::Overusing, Some(1_000_000.0), None, false);
        let once = a.rate();
        t += Duration::from_millis(300);
        a.update(t, Usage::Overusing, Some(800_000.0), None, false);
        assert_eq!(a.rate(), once, "a second over-use within the round trip (and 100 ms) waits");
        t += Duration::from_millis(200);
        a.update(t, Usage::Overusing, Some(800_000.0), Some(800_000.0), false);
        assert!((a.rate() - 680_000.0).abs() < 1.0, "sending at the rate, the path carried 800k: {}", a.rate());
    }

    #[test]
    fn over_use_while_the_sender_was_held_back_is_a_gentle_decrease() {
        let mut t = Instant::now();
        let mut a = Aimd::new(400_000.0, 30_000.0, 2_000_000.0);
        t += Duration::from_millis(100);
        // The sender was holding back (skipping frames): 80 kbit/s sent, 78 arrived.
        a.update(t, Usage::Overusing, Some(78_000.0), Some(80_000.0), false);
        assert!((a.rate() - 340_000.0).abs() < 1.0, "{}", a.rate());
        let held = run(&mut a, &mut t, Usage::Underusing, Some(800_000.0), 2.0);
        assert_eq!(held, a.rate());
    }

    #[test]
    fn over_use_while_held_back_follows_what_arrives_if_the_path_drops_packets() {
        let mut t = Instant::now();
        let mut a = Aimd::new(1_600_000.0, 30_000.0, 2_500_000.0);
        t += Duration::from_millis(100);
        // An SFU forwarding 600 kbit/s under a 1.6 Mbit/s rate into a link now at 300: the queue
        // is full and a third of the packets are lost, so what arrives is the link.
        a.update(t, Usage::Overusing, Some(300_000.0), Some(310_000.0), true);
        assert!((a.rate() - 255_000.0).abs() < 1.0, "{}", a.rate());
    }
}
