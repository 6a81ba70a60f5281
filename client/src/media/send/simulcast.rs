//! The video thread of a call through the hub: each raw frame encoded as up to three simulcast
//! layers (a quarter, a half and the full size), so that the hub can give each receiver the
//! layer its screen and its link can take. The network's estimate is split among the layers
//! from the smallest up ([`allocate`]); a layer that gets no share, or that the hub says nobody
//! receives, is not encoded. Each layer is its own encoder and packetizer (on its own SSRC,
//! every packet marked with the MID and the layer's RID), on one media clock.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use termcall_congestion::layers::{allocate, LayerRates, LAYERS};
use termcall_shared::media::congestion::SendLink;
use termcall_shared::media::simulcast::layer_size;
use tokio::sync::mpsc;

use super::{pace, Controls, Encoded, VideoParams};
use crate::media::adapt::{Adapter, AUDIO_RESERVE_BPS};
use crate::media::counters::SendCounters;
use crate::media::frame::Frame;
use crate::media::video_codec::VideoEncoder;
use crate::media::recv::publish;
use crate::media::scale::downscale_into;
use crate::media::source::VideoSource;
use crate::media::Pictures;

/// Past this much queue in the pacer, raw frames are skipped until it drains.
const PACER_BACKLOG: Duration = Duration::from_millis(100);

/// One layer's encoder state.
struct LayerEnc {
    size: (u32, u32),
    rates: LayerRates,
    enc: Option<VideoEncoder>,
    applied_bps: u32,
    picture: Frame,
    tx: mpsc::Sender<Encoded>,
}

/// Everything the simulcast video thread needs: a packetizer channel per layer, smallest first.
pub struct Job {
    pub source: VideoSource,
    pub params: VideoParams,
    pub tx: [mpsc::Sender<Encoded>; LAYERS],
    pub controls: Arc<Controls>,
    pub counters: Arc<SendCounters>,
    pub selfview: Arc<Pictures>,
    pub link: Arc<SendLink>,
    pub audio: bool,
}

/// The rates of each layer of a picture whose full layer may use `max_bps`: the half layer a
/// sixth of it and the quarter an eightieth (about 283 and 21 kbit/s under 1.7 Mbit/s at
/// 640x480), so that three quarter layers and their audio (about 55 kbit/s each on the wire)
/// fit a 300 kbit/s link; below a tenth of its maximum a layer is not worth sending (the
/// one-stream adapter sends full size from about that share too).
pub fn layer_rates(max_bps: u32) -> [LayerRates; LAYERS] {
    const SHARE: [u64; LAYERS] = [80, 6, 1];
    std::array::from_fn(|i| {
        // Not below what a small picture needs to be one (and the full layer's own maximum).
        let max = (u64::from(max_bps) / SHARE[i]).max(LAYER_FLOOR_BPS.min(u64::from(max_bps)));
        LayerRates { min_bps: max / 10, max_bps: max }
    })
}

/// The least a layer may use at most, bits/s.
const LAYER_FLOOR_BPS: u64 = 20_000;

impl Job {
    pub fn run(mut self) -> Result<(), String> {
        let p = self.params;
        let fps = p.fps.clamp(1, 60);
        let period = Duration::from_secs_f64(1.0 / f64::from(fps));
        let max_bps = p.max_kbps.saturating_mul(1000);
        self.link.set_max(f64::from(max_bps) + if self.audio { AUDIO_RESERVE_BPS } else { 0.0 });
        // Only its audio reserve is used from the adapter: the layers take the place of its plan.
        let budget_of = Adapter::new(p.width, p.height, fps, f64::from(max_bps), 0.0);
        let rates = layer_rates(max_bps);
        let mut layers: Vec<LayerEnc> = self
            .tx
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                let size = layer_size(p.width, p.height, i);
                LayerEnc { size, rates: rates[i], enc: None, applied_bps: 0, picture: Frame::new(size.0, size.1), tx: tx.clone() }
            })
            .collect();
        let mut frame = Frame::new(p.width, p.height);
        let mut shown = Frame::new(p.width, p.height);
        let mut next = super::grid_start(period);
        let mut was_muted = false;
        let mut last_on = [false; LAYERS];
        while !self.controls.stop.load(Relaxed) && layers.iter().any(|l| !l.tx.is_closed()) {
            pace(&mut next, period);
            if self.controls.video_muted.load(Relaxed) {
                was_muted = true;
                continue;
            }
            let link = self.link.state();
            if link.pacer_queue > PACER_BACKLOG {
                self.counters.video_skipped.fetch_add(1, Relaxed);
                continue;
            }
            let budget = budget_of.video_budget(link.target_bps, self.audio).max(0.0) as u64;
            let shares = allocate(budget, &rates, self.controls.layers());
            let on: [bool; LAYERS] = std::array::from_fn(|i| shares[i] > 0);
            if on != last_on {
                tracing::debug!(?on, ?shares, budget, "simulcast layers sent");
                last_on = on;
            }
            let captured = Instant::now();
            self.source.next_into(&mut frame)?;
            if !self.selfview.local.is_closed() {
                shown.resize(frame.width, frame.height);
                shown.rgb.copy_from_slice(&frame.rgb);
                publish(&self.selfview.local, &mut shown);
            }
            let all_keyframe = self.controls.keyframe.swap(false, Relaxed) || std::mem::take(&mut was_muted);
            // The codec the hub takes now (it may change mid-call): a new one is new encoders.
            let codec = self.controls.video_codec().unwrap_or(p.codec);
            let (mut bytes, mut top) = (0u64, None);
            for (i, l) in layers.iter_mut().enumerate() {
                let asked = self.controls.layer_keyframe[i].swap(false, Relaxed) || all_keyframe;
                if !on[i] {
                    l.enc = None; // off: it starts again with a keyframe
                    continue;
                }
                if l.tx.capacity() == 0 {
                    self.counters.video_skipped.fetch_add(1, Relaxed);
                    self.controls.layer_keyframe[i].store(true, Relaxed);
                    continue;
                }
                if asked || l.enc.as_ref().is_some_and(|e| e.codec() != codec) {
                    l.enc = None; // a keyframe is a new encoder, as in the one-stream thread
                }
                let share = u32::try_from(shares[i]).unwrap_or(u32::MAX);
                let e = match &mut l.enc {
                    Some(e) => e,
                    slot => {
                        l.applied_bps = 0;
                        self.link.keyframe_sent();
                        let start_kbps = (share / 4 / 1000).clamp(10, (l.rates.max_bps / 1000) as u32);
                        self.counters.codec.store(codec.code(), Relaxed);
                        slot.insert(VideoEncoder::new(codec, l.size.0, l.size.1, fps as f32, start_kbps, 0)?)
                    }
                };
                if share != l.applied_bps {
                    // A rate the encoder will not take loses this layer's frame, not the call's video.
                    if let Err(e) = e.set_bitrate(share, l.rates.max_bps as u32) {
                        tracing::warn!(layer = i, "{e}");
                        l.enc = None;
                        continue;
                    }
                    l.applied_bps = share;
                }
                let input = if l.size == (frame.width, frame.height) {
                    &frame
                } else {
                    downscale_into(&frame, &mut l.picture);
                    &l.picture
                };
                let au = e.encode(input)?;
                if au.is_empty() {
                    self.counters.encoder_dropped.fetch_add(1, Relaxed);
                    continue;
                }
                let data = Bytes::copy_from_slice(au);
                bytes += data.len() as u64;
                top = Some((i, share));
                if l.tx.try_send((data, captured, Some(codec))).is_err() {
                    self.counters.video_skipped.fetch_add(1, Relaxed);
                    self.controls.layer_keyframe[i].store(true, Relaxed);
                }
            }
            if let Some((i, _)) = top {
                let c = &self.counters;
                c.video_frames.fetch_add(1, Relaxed);
                c.video_bytes.fetch_add(bytes, Relaxed);
                c.plan_width.store(layers[i].size.0, Relaxed);
                c.plan_height.store(layers[i].size.1, Relaxed);
                c.plan_fps_centi.store(fps * 100, Relaxed);
                c.plan_bps.store(shares.iter().sum::<u64>().min(u64::from(u32::MAX)) as u32, Relaxed);
                c.limitation.store(u8::from(!on[LAYERS - 1] && self.controls.layers()[LAYERS - 1]), Relaxed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_quarter_layers_and_their_audio_fit_a_slow_link() {
        let r = layer_rates(1_700_000);
        assert_eq!(r[2].max_bps, 1_700_000);
        assert_eq!(r[1].max_bps, 283_333);
        assert_eq!(r[0].max_bps, 21_250);
        assert!(3 * (r[0].max_bps + 55_000) < 300_000);
        assert_eq!(r[0].min_bps, r[0].max_bps / 10);
        assert_eq!(layer_rates(600_000)[0].max_bps, 20_000, "a small picture's smallest layer still gets enough");
        assert_eq!(layer_rates(10_000)[0].max_bps, 10_000, "but never more than the whole");
    }
}
