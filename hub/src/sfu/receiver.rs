//! What one participant's receiving side shares among the queues of the streams it receives:
//! the estimate of its downlink (the hub's send-side estimator on its connection, from its
//! transport-wide feedback), how that is shared among its video streams ([`allot`]), its
//! probes, and its figures.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use termcall_congestion::layers::{allot, StreamNeed};
use termcall_congestion::probe::{PathNow, Prober};
use termcall_shared::media::congestion::SendLink;

use crate::metrics::ReceiverFigures;

/// What an audio stream is taken to need, bits/s (32 kbit/s of Opus and its packets' headers):
/// the video budget is what is left.
pub const AUDIO_BPS: f64 = 56_000.0;

/// One participant's downlink.
pub struct ReceiverLink {
    pub link: Arc<SendLink>,
    /// Locked by a forwarding loop when it chooses layers (a few times a second), never per packet.
    shares: Mutex<Shares>,
    /// Video streams it receives now.
    pub video_streams: AtomicUsize,
    /// The video codecs it decodes, as [`super::codec::bits`] (0: not known yet). A stream in
    /// another codec is not forwarded to it.
    pub takes: AtomicU8,
    pub figures: Arc<ReceiverFigures>,
}

/// The video streams of one receiver as their forwarding loops last reported them, by the
/// loop's id, and its probes.
#[derive(Default)]
pub struct Shares {
    pub prober: Prober,
    streams: Vec<(u64, StreamNeed)>,
}

impl Shares {
    /// Records what stream `me` needs now, and returns the layer the budget gives it.
    pub fn layer(&mut self, me: u64, need: StreamNeed, budget: u64) -> Option<usize> {
        match self.streams.iter_mut().find(|(id, _)| *id == me) {
            Some((_, n)) => *n = need,
            None => self.streams.push((me, need)),
        }
        let needs: Vec<StreamNeed> = self.streams.iter().map(|(_, n)| *n).collect();
        let at = self.streams.iter().position(|(id, _)| *id == me)?;
        allot(budget, &needs)[at]
    }

    /// Stream `me` is gone (its sender left, or this receiver stopped getting it).
    pub fn forget(&mut self, me: u64) {
        self.streams.retain(|(id, _)| *id != me);
        self.prober.abandon(me);
    }
}

impl ReceiverLink {
    pub fn new(link: Arc<SendLink>, figures: Arc<ReceiverFigures>) -> Self {
        ReceiverLink { link, shares: Mutex::new(Shares::default()), video_streams: AtomicUsize::new(0), takes: AtomicU8::new(0), figures }
    }

    /// The estimate, bits/s, and the loss the receiver reports (a fraction).
    pub fn estimate(&self) -> (f64, f64) {
        let s = self.link.state();
        (s.target_bps, s.loss)
    }

    /// The downlink now, for its probes.
    pub fn path(&self) -> PathNow {
        let s = self.link.state();
        let acked = (s.acknowledged_bps > 0.0).then_some(s.acknowledged_bps);
        PathNow { estimate: s.target_bps, loss: s.loss, queue: s.queue, acked, bytes: self.bytes(), rtt: s.rtt }
    }

    /// What video may use of the downlink, bits/s: the estimate less the audio.
    pub fn video_budget(&self) -> u64 {
        let streams = self.video_streams.load(Relaxed).max(1) as f64;
        (self.estimate().0 - AUDIO_BPS * streams).max(0.0) as u64
    }

    /// Everything received so far, bytes.
    pub fn bytes(&self) -> u64 {
        self.figures.bytes.load(Relaxed)
    }

    pub fn shares(&self) -> std::sync::MutexGuard<'_, Shares> {
        self.shares.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_gets_what_audio_leaves() {
        let r = ReceiverLink::new(Arc::new(SendLink::new(600_000.0)), Arc::default());
        r.video_streams.store(3, Relaxed);
        assert_eq!(r.video_budget(), 432_000);
        r.video_streams.store(0, Relaxed);
        assert_eq!(r.video_budget(), 544_000, "none yet: as if one");
        let starved = ReceiverLink::new(Arc::new(SendLink::new(60_000.0)), Arc::default());
        starved.video_streams.store(3, Relaxed);
        assert_eq!(starved.video_budget(), 0);
    }

    #[test]
    fn streams_share_one_budget_and_a_gone_one_leaves_its_part() {
        let mut s = Shares::default();
        let full = StreamNeed { rates: [30_000, 280_000, 1_700_000], suited: 2, current: Some(0) };
        assert_eq!(s.layer(1, full, 2_500_000), Some(2), "alone: the full layer");
        assert_eq!(s.layer(2, full, 2_500_000), Some(1), "two: one full, one half");
        s.forget(1);
        assert_eq!(s.layer(2, full, 2_500_000), Some(2));
    }
}
