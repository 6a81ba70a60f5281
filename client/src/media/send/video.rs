//! The video thread: paces frames at the configured rate, asks the [`Adapter`] what the network
//! allows (bitrate, size, frame rate), encodes, and hands frames to the packetizer. When the
//! pacer's queue or the packetizer is behind, it skips the raw frame: newest-frame-only.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use termcall_shared::media::congestion::SendLink;
use tokio::sync::mpsc;

use super::{pace, Controls, Encoded, VideoParams};
use crate::media::adapt::{Adapter, EncodedFrame, Plan, QualityLimitation};
use crate::media::counters::SendCounters;
use crate::media::frame::Frame;
use crate::media::video_codec::VideoEncoder;
use crate::media::recv::publish;
use crate::media::scale::downscale_into;
use crate::media::source::VideoSource;
use crate::media::Pictures;

/// Past this much queue in the pacer, raw frames are skipped until it drains: a keyframe at a
/// low rate waits there, and the frames behind it would only wait longer.
const PACER_BACKLOG: Duration = Duration::from_millis(100);
/// A request for a keyframe within 1.5 round trips of one (this long at least) is taken to be
/// about a loss before it: the keyframe on its way answers it. On a slow link a second keyframe
/// behind the first would only fill the queue and lose more.
const KEYFRAME_PATIENCE: Duration = Duration::from_millis(100);

/// Everything the video thread needs.
pub struct Job {
    pub source: VideoSource,
    pub params: VideoParams,
    pub tx: mpsc::Sender<Encoded>,
    pub controls: Arc<Controls>,
    pub counters: Arc<SendCounters>,
    pub selfview: Arc<Pictures>,
    pub link: Arc<SendLink>,
    /// Audio is sent too: the estimate keeps room for it.
    pub audio: bool,
}

impl Job {
    pub fn run(mut self) -> Result<(), String> {
        let p = self.params;
        let fps = p.fps.clamp(1, 60);
        let period = Duration::from_secs_f64(1.0 / f64::from(fps));
        let full_bps = p.max_kbps.saturating_mul(1000);
        let mut max_bps = full_bps;
        let mut adapter = Adapter::new(p.width, p.height, fps, f64::from(max_bps), 0.0);
        adapter = Adapter::new(p.width, p.height, fps, f64::from(max_bps), adapter.video_budget(self.link.target_bps(), self.audio));
        // What the receiver can show bounds the size (and the rate with it).
        let mut fitted = (p.width, p.height);
        self.link.set_max(f64::from(max_bps) + if self.audio { crate::media::adapt::AUDIO_RESERVE_BPS } else { 0.0 });
        let mut enc: Option<VideoEncoder> = None;
        let mut applied_bps = 0;
        let mut frame = Frame::new(p.width, p.height);
        let mut scaled = Frame::new(p.width, p.height);
        let mut shown = Frame::new(p.width, p.height);
        let mut next = super::grid_start(period);
        let mut last_encoded: Option<Instant> = None;
        let mut was_muted = false;
        let mut last_plan = None;
        let mut last_keyframe: Option<Instant> = None;
        while !self.controls.stop.load(Relaxed) && !self.tx.is_closed() {
            pace(&mut next, period);
            if self.controls.video_muted.load(Relaxed) {
                was_muted = true;
                continue;
            }
            let now = Instant::now();
            let link = self.link.state();
            let want = fit_view(p.width, p.height, self.controls.view());
            if want != fitted {
                tracing::debug!("the receiver shows at most {:?}: sending up to {}x{}", self.controls.view(), want.0, want.1);
                fitted = want;
                let scaled_max = crate::media::adapt::default_max_kbps(want.0, want.1).saturating_mul(1000);
                max_bps = if fitted == (p.width, p.height) { full_bps } else { full_bps.min(scaled_max) };
                adapter = Adapter::new(want.0, want.1, fps, f64::from(max_bps), adapter.video_budget(link.target_bps, self.audio));
            }
            let plan = adapter.plan(now, adapter.video_budget(link.target_bps, self.audio));
            if Some((plan.width, plan.height, plan.fps)) != last_plan {
                tracing::debug!("sending {}x{} at {:.1} fps ({:?}; estimate {:.0} kbit/s)", plan.width, plan.height, plan.fps, plan.limitation, link.target_bps / 1000.0);
                last_plan = Some((plan.width, plan.height, plan.fps));
            }
            self.publish(&plan);
            // A lower frame rate: let this tick go unless a frame is due.
            if plan.fps < f64::from(fps) && last_encoded.is_some_and(|t| now.duration_since(t).as_secs_f64() < 1.0 / plan.fps - period.as_secs_f64() / 2.0) {
                self.counters.video_skipped.fetch_add(1, Relaxed);
                continue;
            }
            if link.pacer_queue > PACER_BACKLOG || self.tx.capacity() == 0 {
                // The network side is behind: skip this raw frame rather than queue it.
                self.counters.video_skipped.fetch_add(1, Relaxed);
                continue;
            }
            let captured = Instant::now();
            self.source.next_into(&mut frame)?;
            if !self.selfview.local.is_closed() {
                // A copy into a recycled buffer (see `publish`): the self-view never holds up the encoder.
                shown.resize(frame.width, frame.height);
                shown.rgb.copy_from_slice(&frame.rgb);
                publish(&self.selfview.local, &mut shown);
            }
            // A keyframe is a new encoder: openh264 sizes a forced one by the quantizer of the
            // frames before it (7–10 frames' worth), but a new encoder's first frame by the rate
            // it starts at. Receivers ask for keyframes (PLI) when they need one; none are periodic.
            let patience = link.rtt.map_or(KEYFRAME_PATIENCE, |rtt| rtt.mul_f64(1.5).max(KEYFRAME_PATIENCE));
            let asked = self.controls.keyframe.swap(false, Relaxed);
            // The codec the peer takes now (it may change mid-call): a new one is a new encoder.
            let codec = self.controls.video_codec().unwrap_or(p.codec);
            let new_codec = enc.as_ref().is_some_and(|e| e.codec() != codec);
            if std::mem::take(&mut was_muted) || new_codec || (asked && last_keyframe.is_none_or(|t| captured.duration_since(t) >= patience)) {
                enc = None;
            } else if asked {
                tracing::debug!("a keyframe went out {:?} ago: not sending another yet", last_keyframe.map(|t| captured.duration_since(t)));
            }
            // A new size is a new encoder too; a new rate is an option on the old one.
            let e = match &mut enc {
                Some(e) if e.size() == (plan.width, plan.height) => e,
                slot => {
                    applied_bps = 0;
                    last_keyframe = Some(captured); // a new encoder starts with one
                    self.link.keyframe_sent();
                    // Its keyframe is sized by the rate it starts at: a quarter of the target keeps
                    // it to a few frames' worth; the full target follows from the next frame.
                    let start_kbps = (plan.bitrate_bps / 4 / 1000).max(30);
                    self.counters.codec.store(codec.code(), Relaxed);
                    slot.insert(VideoEncoder::new(codec, plan.width, plan.height, fps as f32, start_kbps, 0)?)
                }
            };
            if plan.bitrate_bps != applied_bps {
                e.set_bitrate(plan.bitrate_bps, max_bps)?;
                applied_bps = plan.bitrate_bps;
            }
            let input = if (plan.width, plan.height) == (frame.width, frame.height) {
                &frame
            } else {
                scaled.resize(plan.width, plan.height);
                downscale_into(&frame, &mut scaled);
                &scaled
            };
            let started = Instant::now();
            let au = e.encode(input)?;
            let took = started.elapsed();
            if au.is_empty() {
                self.counters.encoder_dropped.fetch_add(1, Relaxed);
                continue;
            }
            let data = Bytes::copy_from_slice(au);
            adapter.on_encoded(EncodedFrame { bytes: data.len(), took, keyframe: crate::media::video_codec::is_keyframe(codec, &data) });
            if let Some(qp) = e.last_qp() {
                self.counters.qp_sum.fetch_add(u64::from(qp), Relaxed);
                self.counters.qp_count.fetch_add(1, Relaxed);
                if data.len() > 3 * (plan.bitrate_bps as usize / 8 / fps as usize) {
                    tracing::debug!("a large frame: {} bytes, qp {qp}, keyframe {}", data.len(), crate::media::video_codec::is_keyframe(codec, &data));
                }
            }
            last_encoded = Some(captured);
            self.counters.video_frames.fetch_add(1, Relaxed);
            self.counters.video_bytes.fetch_add(data.len() as u64, Relaxed);
            if self.tx.try_send((data, captured, Some(codec))).is_err() {
                self.counters.video_skipped.fetch_add(1, Relaxed);
                self.controls.keyframe.store(true, Relaxed); // an encoded frame was lost: resync the decoder
            }
        }
        Ok(())
    }

    fn publish(&self, plan: &Plan) {
        let c = &self.counters;
        c.plan_width.store(plan.width, Relaxed);
        c.plan_height.store(plan.height, Relaxed);
        c.plan_fps_centi.store((plan.fps * 100.0) as u32, Relaxed);
        c.plan_bps.store(plan.bitrate_bps, Relaxed);
        let code = match plan.limitation {
            QualityLimitation::None => 0,
            QualityLimitation::Bandwidth => 1,
            QualityLimitation::Cpu => 2,
        };
        c.limitation.store(code, Relaxed);
    }
}

/// The largest size to send of a `width`x`height` source to a receiver that shows at most
/// `view`: the picture scaled to fit inside the view (as the receiver draws it), never larger
/// than the source, even and at least 16 pixels each way (what the encoder takes).
pub fn fit_view(width: u32, height: u32, view: Option<(u32, u32)>) -> (u32, u32) {
    let Some((vw, vh)) = view else { return (width, height) };
    let scale = (f64::from(vw) / f64::from(width.max(1))).min(f64::from(vh) / f64::from(height.max(1)));
    if scale >= 1.0 {
        return (width, height);
    }
    let side = |v: u32| (((f64::from(v) * scale).ceil() as u32).max(16) + 1) & !1;
    (side(width).min(width), side(height).min(height))
}

#[cfg(test)]
mod tests {
    use super::fit_view;

    #[test]
    fn the_size_sent_fits_what_the_receiver_shows() {
        assert_eq!(fit_view(640, 480, None), (640, 480));
        assert_eq!(fit_view(640, 480, Some((1920, 1080))), (640, 480), "never larger than the source");
        // An 80x24 terminal's pane of 78x18 cells shows 78x36 half-block pixels: 48x36 of 4:3.
        assert_eq!(fit_view(640, 480, Some((78, 36))), (48, 36));
        assert_eq!(fit_view(640, 480, Some((4, 4))), (16, 16), "the encoder's least");
        assert_eq!(fit_view(640, 480, Some((321, 1000))), (322, 242), "even, rounded up");
    }
}
