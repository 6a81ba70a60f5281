//! The once-a-second call measurements: counters from the media threads, RTT and loss from
//! webrtc-rs's stats, turned into rates over the last interval.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use termcall_congestion::Limit;
use termcall_shared::media::congestion::SendLink;

use super::api::{AudioStats, BweLimit, CallStats, ParticipantStats, QualityLimitation, SentStats, VideoStats};
use crate::media::counters::{take_level, RecvCounters, SendCounters};

/// What one remote sender's counters were at the previous sample, to turn totals into rates.
#[derive(Default)]
pub struct RecvRates {
    at: Option<Instant>,
    video_bytes: u64,
    frames: u64,
    audio_bytes: u64,
}

impl RecvRates {
    /// Video and audio received over the interval since the last call.
    pub fn sample(&mut self, recv: &RecvCounters, now: Instant) -> (VideoStats, AudioStats) {
        let secs = seconds_since(&mut self.at, now);
        let rate = |now_total: u64, before: &mut u64| per_second(now_total, before, secs);
        let frames = recv.frames_decoded.load(Relaxed);
        // The mean over the interval's pictures; the newest one's when none was measured.
        let (sum, n) = (recv.latency_sum_us.swap(0, Relaxed), recv.latency_count.swap(0, Relaxed));
        let latency_us = if n > 0 { sum / n } else { recv.latency_us.load(Relaxed) };
        let video = VideoStats {
            frames_decoded: frames,
            fps: round1(rate(frames, &mut self.frames)),
            width: recv.width.load(Relaxed),
            height: recv.height.load(Relaxed),
            kbps: round1(rate(recv.video_bytes.load(Relaxed), &mut self.video_bytes) * 8.0 / 1000.0),
            latency_ms: (latency_us > 0).then(|| round1(latency_us as f64 / 1000.0)),
            decode_errors: recv.decode_errors.load(Relaxed),
            frames_held: recv.frames_held.load(Relaxed),
            codec: codec_name(recv.codec.load(Relaxed)),
            flash_at_ms: Some(recv.flash_at_ms.load(Relaxed)).filter(|&ms| ms > 0),
        };
        let audio = AudioStats {
            packets: recv.audio_packets.load(Relaxed),
            level_dbov: round1(take_level(&recv.audio_sq, &recv.audio_samples)),
            kbps: round1(rate(recv.audio_bytes.load(Relaxed), &mut self.audio_bytes) * 8.0 / 1000.0),
            jitter_ms: recv.audio_jitter_ms.load(Relaxed),
        };
        (video, audio)
    }
}

/// The name of a codec counter's value.
fn codec_name(code: u8) -> Option<String> {
    termcall_shared::media::codecs::VideoCodec::from_code(code).map(|c| c.name().to_owned())
}

/// A call through the hub: the top-level figures are the sums over the participants (the
/// loudest level, the largest picture, the longest delay).
pub fn totals(parts: &[ParticipantStats]) -> (VideoStats, AudioStats) {
    let mut v = VideoStats::default();
    let mut a = AudioStats { level_dbov: -127.0, ..Default::default() };
    for p in parts {
        v.frames_decoded += p.video.frames_decoded;
        v.decode_errors += p.video.decode_errors;
        v.frames_held += p.video.frames_held;
        if v.codec.is_none() {
            v.codec.clone_from(&p.video.codec);
        }
        v.flash_at_ms = v.flash_at_ms.max(p.video.flash_at_ms);
        v.fps = round1(v.fps + p.video.fps);
        v.kbps = round1(v.kbps + p.video.kbps);
        if p.video.width * p.video.height > v.width * v.height {
            (v.width, v.height) = (p.video.width, p.video.height);
        }
        v.latency_ms = match (v.latency_ms, p.video.latency_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        a.packets += p.audio.packets;
        a.kbps = round1(a.kbps + p.audio.kbps);
        a.level_dbov = a.level_dbov.max(p.audio.level_dbov);
        a.jitter_ms = a.jitter_ms.max(p.audio.jitter_ms);
    }
    (v, a)
}

/// The totals at the previous sample, to turn totals into rates.
#[derive(Default)]
pub struct StatsClock {
    at: Option<Instant>,
    recv: RecvRates,
    sent_video_bytes: u64,
    sent_frames: u64,
    rtp_received: u64,
    rtp_lost: i64,
}

impl StatsClock {
    /// Measures the interval since the last call.
    pub async fn sample(&mut self, pc: &Arc<dyn PeerConnection>, recv: &RecvCounters, sent: &SendCounters, link: &SendLink) -> CallStats {
        let now = Instant::now();
        let secs = seconds_since(&mut self.at, now);
        let rate = |now_total: u64, before: &mut u64| per_second(now_total, before, secs);
        let (video, audio) = self.recv.sample(recv, now);
        let net = link.state();
        let video_frames = sent.video_frames.load(Relaxed);
        let sent = SentStats {
            codec: codec_name(sent.codec.load(Relaxed)),
            video_frames,
            video_skipped: sent.video_skipped.load(Relaxed),
            encoder_dropped: sent.encoder_dropped.load(Relaxed),
            video_kbps: round1(rate(sent.video_bytes.load(Relaxed), &mut self.sent_video_bytes) * 8.0 / 1000.0),
            fps: round1(rate(video_frames, &mut self.sent_frames)),
            width: sent.plan_width.load(Relaxed),
            height: sent.plan_height.load(Relaxed),
            target_fps: round1(f64::from(sent.plan_fps_centi.load(Relaxed)) / 100.0),
            target_kbps: round1(f64::from(sent.plan_bps.load(Relaxed)) / 1000.0),
            qp: {
                let (sum, n) = (sent.qp_sum.swap(0, Relaxed), sent.qp_count.swap(0, Relaxed));
                (n > 0).then(|| round1(sum as f64 / n as f64))
            },
            bwe_kbps: round1(net.target_bps / 1000.0),
            bwe_limit: match net.limit {
                Limit::Delay => BweLimit::Delay,
                Limit::Loss => BweLimit::Loss,
                Limit::Remb => BweLimit::Remb,
                Limit::Max => BweLimit::Max,
            },
            quality_limitation: match sent.limitation.load(Relaxed) {
                1 => QualityLimitation::Bandwidth,
                2 => QualityLimitation::Cpu,
                _ => QualityLimitation::None,
            },
            pacer_ms: round1(net.pacer_queue.as_secs_f64() * 1000.0),
            loss_pct: round1(net.loss * 100.0),
            audio_packets: sent.audio_packets.load(Relaxed),
            audio_level_dbov: round1(take_level(&sent.audio_sq, &sent.audio_samples)),
            aec_erle_db: sent.aec_known.load(Relaxed).then(|| round1(f64::from(sent.aec_erle_centi_db.load(Relaxed)) / 100.0)),
        };

        let report = pc.get_stats(now, StatsSelector::None).await;
        let mut rtt_ms = None;
        let (mut received, mut lost) = (0u64, 0i64);
        for e in report.iter() {
            match e {
                RTCStatsReportEntry::IceCandidatePair(p) if p.nominated && p.current_round_trip_time > 0.0 => {
                    rtt_ms = Some(round1(p.current_round_trip_time * 1000.0));
                }
                RTCStatsReportEntry::InboundRtp(s) => {
                    received += s.received_rtp_stream_stats.packets_received;
                    lost += s.received_rtp_stream_stats.packets_lost;
                }
                _ => {}
            }
        }
        let (d_recv, d_lost) = (received.saturating_sub(self.rtp_received), (lost - self.rtp_lost).max(0));
        self.rtp_received = received;
        self.rtp_lost = lost;
        let expected = d_recv as f64 + d_lost as f64;
        let loss_pct = if expected > 0.0 { round1(100.0 * d_lost as f64 / expected) } else { 0.0 };
        CallStats { rtt_ms, loss_pct, video, audio, sent, participants: Vec::new() }
    }
}

/// Seconds since the last sample at `at` (one, the first time), and `at` moved to `now`.
fn seconds_since(at: &mut Option<Instant>, now: Instant) -> f64 {
    let secs = at.map_or(1.0, |t| now.duration_since(t).as_secs_f64()).max(0.001);
    *at = Some(now);
    secs
}

/// How fast a total grew since `before` over `secs`; `before` moves to the new total.
fn per_second(now_total: u64, before: &mut u64, secs: f64) -> f64 {
    let d = now_total.saturating_sub(*before);
    *before = now_total;
    d as f64 / secs
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
