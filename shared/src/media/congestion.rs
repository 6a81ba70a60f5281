//! Send-side congestion control on a peer connection: an interceptor that numbers every packet
//! as it leaves (after the pacer) with a transport-wide sequence number, records it, joins the
//! receiver's transport-wide feedback (TWCC) and REMB to it, and drives
//! [`termcall_congestion::SendSideBwe`]. Retransmissions on an RTX stream are numbered too
//! (webrtc-rs's own TWCC sender numbers only the media SSRC, so repairs, which fill a congested
//! link, would be invisible to the estimate). The estimate reaches the sender through a
//! [`SendLink`]; so do the pacer's queue and the sender's ceiling, the other way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rtc::interceptor::{convert_twcc, History, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtp::extension::abs_send_time_extension::AbsSendTimeExtension;
use rtc::rtp::extension::transport_cc_extension::TransportCcExtension;
use rtc::sdp::extmap::{ABS_SEND_TIME_URI, TRANSPORT_CC_URI};
use rtc::shared::marshal::{Marshal, MarshalSize};
use rtc::shared::time::SystemInstant;
use termcall_congestion::estimator::Config;
use termcall_congestion::{Limit, PacketResult, SendSideBwe};

use super::stage::{Belt, Stage};

/// Where the congestion interceptor sits: wire-most, below the pacer and the TWCC numbering.
pub use rtc::interceptor::Slot;

/// Unacknowledged packets are forgotten after this long.
const HISTORY: Duration = Duration::from_secs(2);
/// How often bounded housekeeping (pruning, REMB expiry, the ceiling) runs.
const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// What congestion control and the sender tell each other, lock-free (the sender reads it once
/// a frame, the chain writes it per feedback).
#[derive(Debug, Default)]
pub struct SendLink {
    target_bps: AtomicU64,
    limit: AtomicU8,
    loss_permille: AtomicU32,
    acknowledged_bps: AtomicU64,
    rtt_us: AtomicU64,
    /// The standing queue at the bottleneck, µs (`u64::MAX`: not known).
    queue_us: AtomicU64,
    feedback: AtomicU64,
    /// The pacer's queue, as the time it takes to drain, in µs.
    pacer_queue_us: AtomicU64,
    /// Packets the pacer refused (its queue was full) or dropped (retransmissions too late to help).
    pacer_refused: AtomicU64,
    /// The most the sender will ever send (its encoders' ceilings, audio included), bits/s.
    max_bps: AtomicU64,
    /// Keyframes the sender has sent (so that their bursts are not taken for congestion).
    keyframes: AtomicU64,
    /// A rate the sender's probe carried without congestion, for the estimator (0: none).
    probe_bps: AtomicU64,
}

/// A reading of a [`SendLink`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkState {
    /// The send estimate, bits/s (0 before the chain has started).
    pub target_bps: f64,
    pub limit: Limit,
    /// Loss the receiver reported, over its last window.
    pub loss: f64,
    /// What the receiver got over the last half second, bits/s (0 if unknown).
    pub acknowledged_bps: f64,
    pub rtt: Option<Duration>,
    /// The standing queue at the bottleneck, as far as the estimator can tell.
    pub queue: Option<Duration>,
    /// How many transport-wide feedback messages have come: none means the peer does not send them.
    pub feedback: u64,
    pub pacer_queue: Duration,
    pub pacer_refused: u64,
}

impl SendLink {
    /// A link whose estimate starts at `initial_bps`.
    pub fn new(initial_bps: f64) -> SendLink {
        let link = SendLink::default();
        link.target_bps.store(initial_bps as u64, Relaxed);
        link.queue_us.store(u64::MAX, Relaxed);
        link
    }

    /// The sender is sending a keyframe now.
    pub fn keyframe_sent(&self) {
        self.keyframes.fetch_add(1, Relaxed);
    }

    /// Sets the sender's ceiling (the estimate never exceeds it).
    /// The sender probed the path at `bps` (sent more than the estimate, on purpose) and it
    /// carried it without congestion: the estimate rises to it.
    pub fn probe_result(&self, bps: f64) {
        self.probe_bps.store(bps.max(0.0) as u64, Relaxed);
    }

    pub fn set_max(&self, bps: f64) {
        self.max_bps.store(bps.max(1.0) as u64, Relaxed);
    }

    pub fn state(&self) -> LinkState {
        LinkState {
            target_bps: self.target_bps.load(Relaxed) as f64,
            limit: limit_from(self.limit.load(Relaxed)),
            loss: f64::from(self.loss_permille.load(Relaxed)) / 1000.0,
            acknowledged_bps: self.acknowledged_bps.load(Relaxed) as f64,
            rtt: self.rtt(),
            queue: match self.queue_us.load(Relaxed) {
                u64::MAX => None,
                q => Some(Duration::from_micros(q)),
            },
            feedback: self.feedback.load(Relaxed),
            pacer_queue: Duration::from_micros(self.pacer_queue_us.load(Relaxed)),
            pacer_refused: self.pacer_refused.load(Relaxed),
        }
    }

    /// The round trip, if known (one atomic read, for per-packet code).
    pub fn rtt(&self) -> Option<Duration> {
        let rtt = self.rtt_us.load(Relaxed);
        (rtt > 0).then(|| Duration::from_micros(rtt))
    }

    /// The estimate, bits/s: what the pacer paces a multiple of.
    pub fn target_bps(&self) -> f64 {
        self.target_bps.load(Relaxed) as f64
    }

    pub(crate) fn set_pacer(&self, queue: Duration, refused: u64) {
        self.pacer_queue_us.store(queue.as_micros() as u64, Relaxed);
        self.pacer_refused.store(refused, Relaxed);
    }
}

fn limit_code(l: Limit) -> u8 {
    match l {
        Limit::Delay => 0,
        Limit::Loss => 1,
        Limit::Remb => 2,
        Limit::Max => 3,
    }
}

fn limit_from(c: u8) -> Limit {
    match c {
        1 => Limit::Loss,
        2 => Limit::Remb,
        3 => Limit::Max,
        _ => Limit::Delay,
    }
}

/// A set of 16-bit sequence numbers: one bit each, 8 KB, no allocation after it is made.
struct SequenceSet(Box<[u64]>);

impl Default for SequenceSet {
    fn default() -> Self {
        SequenceSet(vec![0; 1024].into_boxed_slice())
    }
}

impl SequenceSet {
    fn set(&mut self, seq: u16) {
        self.0[usize::from(seq >> 6)] |= 1 << (seq & 63);
    }

    /// Whether `seq` is in the set; it is not afterwards.
    fn take(&mut self, seq: u16) -> bool {
        let (word, bit) = (usize::from(seq >> 6), 1u64 << (seq & 63));
        let was = self.0[word] & bit != 0;
        self.0[word] &= !bit;
        was
    }
}

/// How a stream's packets are stamped: with a transport-wide sequence number, or with the
/// abs-send-time, under this header extension id.
#[derive(Debug, Clone, Copy)]
enum Stamp {
    TransportWide(u8),
    SendTime(u8),
}

/// The interceptor (as [`super::stage::Staged`]). See the module documentation.
pub struct CongestionInterceptor {
    bwe: SendSideBwe,
    history: History,
    link: std::sync::Arc<SendLink>,
    /// Our streams (RTX ones too), with how their packets are stamped for the receiver.
    streams: HashMap<u32, Stamp>,
    next_sequence: u16,
    /// The origin of abs-send-time stamps.
    epoch: Instant,
    results: Vec<PacketResult>,
    /// Transport-wide numbers some feedback has reported on (arrived or not), not yet taken.
    reported: SequenceSet,
    max_bps: u64,
    keyframes: u64,
    housekept: Option<Instant>,
    /// Our wall clock (as NTP) against `now`, for round trips from reception reports.
    clock: Option<SystemInstant>,
}

impl CongestionInterceptor {
    /// Estimates within `config`, publishing to `link`.
    pub fn new(config: Config, link: std::sync::Arc<SendLink>) -> CongestionInterceptor {
        link.target_bps.store(config.initial_bps as u64, Relaxed);
        link.max_bps.store(config.max_bps as u64, Relaxed);
        CongestionInterceptor {
            bwe: SendSideBwe::new(config),
            history: History::new(),
            max_bps: config.max_bps as u64,
            keyframes: 0,
            link,
            streams: HashMap::new(),
            next_sequence: 0,
            epoch: Instant::now(),
            results: Vec::with_capacity(256),
            reported: SequenceSet::default(),
            housekept: None,
            clock: None,
        }
    }

    /// Stamps a packet of one of our streams as it leaves at `now`; returns its transport-wide
    /// number, if it has one.
    fn stamp(&mut self, p: &mut rtc::rtp::Packet, now: Instant) -> Option<u16> {
        match *self.streams.get(&p.header.ssrc)? {
            Stamp::TransportWide(id) => {
                let seq = self.next_sequence;
                let ext = TransportCcExtension { transport_sequence: seq }.marshal().ok()?;
                p.header.set_extension(id, ext.freeze()).ok()?;
                self.next_sequence = seq.wrapping_add(1);
                Some(seq)
            }
            Stamp::SendTime(id) => {
                // 6.18 fixed-point seconds, 24 bits.
                let ticks = (now.saturating_duration_since(self.epoch).as_secs_f64() * f64::from(1u32 << 18)) as u64 & 0x00ff_ffff;
                let ext = AbsSendTimeExtension { timestamp: ticks }.marshal().ok()?;
                let _ = p.header.set_extension(id, ext.freeze());
                None
            }
        }
    }

    /// Feeds one inbound RTCP compound; true if it carried feedback for us.
    fn ingest(&mut self, now: Instant, packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
        let mut any = false;
        for p in packets {
            let any_p = p.as_any();
            if let Some(fb) = any_p.downcast_ref::<TransportLayerCc>() {
                let mut rtt: Option<Duration> = None;
                for ack in convert_twcc(fb) {
                    let arrived = ack.arrived;
                    self.reported.set(ack.sequence_number);
                    if let Some(r) = self.history.on_twcc_feedback(now, ack) {
                        if arrived {
                            rtt = Some(rtt.map_or(r, |m| m.min(r)));
                        }
                    }
                }
                if let Some(r) = rtt {
                    self.bwe.on_rtt(r);
                    self.link.rtt_us.store(r.as_micros() as u64, Relaxed);
                }
                self.link.feedback.fetch_add(1, Relaxed);
                any = true;
            } else if let Some(remb) = any_p.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                self.bwe.on_remb(now, f64::from(remb.bitrate));
                any = true;
            } else if let Some(rr) = any_p.downcast_ref::<ReceiverReport>() {
                self.reception_reports(now, &rr.reports);
            } else if let Some(sr) = any_p.downcast_ref::<SenderReport>() {
                self.reception_reports(now, &sr.reports);
            }
        }
        any
    }

    /// The round trip from the receiver's reports on our streams (RFC 3550 6.4.1: now, less the
    /// middle of our sender report's NTP time, less the delay since the receiver had it). Taken
    /// only from a peer that sends no transport-wide feedback, whose round trips are better:
    /// without it, a REMB-only sender would not know its round trip, and would repair each lost
    /// packet on every NACK however long the path's queue.
    fn reception_reports(&mut self, now: Instant, reports: &[ReceptionReport]) {
        if self.link.feedback.load(Relaxed) > 0 {
            return;
        }
        let clock = *self.clock.get_or_insert_with(|| SystemInstant::now(now));
        let compact_now = (clock.ntp(now) >> 16) as u32;
        let rtt = reports
            .iter()
            .filter(|r| r.last_sender_report != 0 && self.streams.contains_key(&r.ssrc))
            .filter_map(|r| round_trip(compact_now, r.last_sender_report, r.delay))
            .min();
        if let Some(r) = rtt {
            self.bwe.on_rtt(r);
            self.link.rtt_us.store(r.as_micros() as u64, Relaxed);
        }
    }

    fn publish(&self) {
        let e = self.bwe.estimate();
        let before = self.link.target_bps.load(Relaxed) as f64;
        if (e.target_bps - before).abs() > 0.1 * before {
            tracing::debug!(
                target: "termcall::congestion",
                "estimate {:.0} -> {:.0} kbit/s ({:?}; delay {:.0}, loss cap {:?}, loss {:.1}%, acked {:?}, rtt {:?}, queue {:?}{})",
                before / 1000.0,
                e.target_bps / 1000.0,
                e.limit,
                e.delay_bps / 1000.0,
                e.loss_cap_bps.map(|c| (c / 1000.0).round()),
                e.loss * 100.0,
                e.acknowledged_bps.map(|a| (a / 1000.0).round()),
                self.link.state().rtt,
                e.queue_delay,
                if e.queue_called { ", called by the queue" } else { "" }
            );
        }
        self.link.target_bps.store(e.target_bps as u64, Relaxed);
        self.link.limit.store(limit_code(e.limit), Relaxed);
        self.link.loss_permille.store((e.loss * 1000.0) as u32, Relaxed);
        self.link.acknowledged_bps.store(e.acknowledged_bps.unwrap_or(0.0) as u64, Relaxed);
        self.link.queue_us.store(e.queue_delay.map_or(u64::MAX, |q| q.as_micros() as u64), Relaxed);
    }
}

impl Stage for CongestionInterceptor {
    fn read(&mut self, msg: TaggedPacket, belt: &mut Belt) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if self.ingest(msg.now, packets) {
                self.results.clear();
                let reported = &mut self.reported;
                self.results.extend(self.history.take_reports().into_iter().filter_map(|r| {
                    // A packet no feedback ever mentioned (its feedback was itself lost) has an
                    // unknown fate: counted as lost, a lost feedback message would read as a
                    // burst of a dozen lost packets.
                    let known = reported.take(r.twcc_sequence_number);
                    (r.arrived || known).then(|| PacketResult { departure: r.departure, arrival: if r.arrived { r.arrival } else { None }, size: r.size })
                }));
                self.bwe.on_feedback(msg.now, &self.results);
                self.publish();
            }
        }
        belt.inward(msg);
    }

    fn write(&mut self, mut msg: TaggedPacket, belt: &mut Belt) {
        let now = msg.now;
        let keyframes = self.link.keyframes.load(Relaxed);
        if keyframes != self.keyframes {
            self.keyframes = keyframes;
            self.bwe.on_keyframe(now);
        }
        if let Packet::Rtp(p) = &mut msg.message.packet {
            // Only packets the receiver can report on: those with a transport-wide sequence number.
            if let Some(seq) = self.stamp(p, now) {
                // `now` is the pacer's release instant: the pacer is application-ward of here.
                self.history.add_outgoing(p.header.ssrc, p.header.sequence_number, true, seq, p.marshal_size() + termcall_congestion::WIRE_OVERHEAD, now);
            }
        }
        belt.outward(msg);
    }

    /// Housekeeping, which has no timer of its own: it rides the other interceptors' wake-ups.
    fn timeout(&mut self, now: Instant, _belt: &mut Belt) {
        if self.housekept.is_some_and(|t| now.saturating_duration_since(t) < HOUSEKEEPING) {
            return;
        }
        self.housekept = Some(now);
        self.history.prune_before(now.checked_sub(HISTORY).unwrap_or(now));
        let max = self.link.max_bps.load(Relaxed);
        if max != self.max_bps && max > 0 {
            self.max_bps = max;
            self.bwe.set_max(max as f64);
        }
        let probe = self.link.probe_bps.swap(0, Relaxed);
        if probe > 0 {
            self.bwe.on_probe_result(now, probe as f64);
        }
        self.bwe.on_tick(now);
        self.publish();
    }

    fn bind_local(&mut self, info: &StreamInfo) {
        let ext = |uri: &str| info.rtp_header_extensions.iter().find(|e| e.uri == uri && e.id > 0).map(|e| e.id as u8);
        // Transport-wide numbers where the receiver reports on them; else the send time, from
        // which a receiver that only speaks REMB estimates.
        let stamp = match (ext(TRANSPORT_CC_URI), ext(ABS_SEND_TIME_URI)) {
            (Some(id), _) => Stamp::TransportWide(id),
            (None, Some(id)) => Stamp::SendTime(id),
            (None, None) => return,
        };
        self.streams.insert(info.ssrc, stamp);
        if let Some(rtx) = info.ssrc_rtx {
            self.streams.insert(rtx, stamp);
        }
    }

    fn unbind_local(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
        if let Some(rtx) = info.ssrc_rtx {
            self.streams.remove(&rtx);
        }
    }
}

/// A round trip from compact NTP times (16.16 fixed-point seconds): `now` less the sender
/// report's time `lsr` less the receiver's `dlsr`; none if that is negative or over 10 s (a
/// report from before a clock step, or garbage).
fn round_trip(now: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    let units = now.wrapping_sub(lsr).wrapping_sub(dlsr);
    (units < 10 << 16).then(|| Duration::from_micros(u64::from(units) * 1_000_000 >> 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_from_a_reception_report() {
        // A report sent at 100.5 s, held 0.25 s by the receiver, back at 101.0 s: 250 ms.
        let at = |secs: f64| (secs * 65536.0) as u32;
        assert_eq!(round_trip(at(101.0), at(100.5), at(0.25)), Some(Duration::from_millis(250)));
        assert_eq!(round_trip(at(3.0), u32::MAX - at(1.0), at(0.5)), Some(Duration::from_micros(3_500_015)), "across the wrap");
        assert_eq!(round_trip(at(100.0), at(100.5), 0), None, "from the future");
        assert_eq!(round_trip(at(120.0), at(100.0), 0), None, "too old to be a round trip");
    }

    #[test]
    fn the_sequence_set_remembers_until_taken() {
        let mut s = SequenceSet::default();
        for seq in [0u16, 63, 64, 65535, 1000] {
            assert!(!s.take(seq));
            s.set(seq);
        }
        assert!(s.take(63) && s.take(65535) && s.take(0));
        assert!(!s.take(63), "taken once");
        assert!(!s.take(62) && s.take(64) && s.take(1000));
    }
}
