//! What one participant's receiving side shares among the queues of the streams it receives:
//! the estimate of its downlink (the hub's send-side estimator on its connection, from its
//! transport-wide feedback), its probes, how many video streams it receives, and its figures.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use termcall_congestion::layers::Prober;
use termcall_congestion::Limit;
use termcall_shared::media::congestion::SendLink;

use crate::metrics::ReceiverFigures;

/// What an audio stream is taken to need, bits/s: the video budget is what is left.
pub const AUDIO_BPS: f64 = 40_000.0;

/// One participant's downlink.
pub struct ReceiverLink {
    pub link: Arc<SendLink>,
    /// Locked by a forwarding loop when it chooses layers (a few times a second), never per packet.
    pub prober: Mutex<Prober>,
    /// Video streams it receives now.
    pub video_streams: AtomicUsize,
    pub figures: Arc<ReceiverFigures>,
}

impl ReceiverLink {
    pub fn new(link: Arc<SendLink>, figures: Arc<ReceiverFigures>) -> Self {
        ReceiverLink { link, prober: Mutex::new(Prober::default()), video_streams: AtomicUsize::new(0), figures }
    }

    /// The estimate, bits/s, and whether loss is what holds it.
    pub fn estimate(&self) -> (f64, bool) {
        let s = self.link.state();
        (s.target_bps, s.limit == Limit::Loss)
    }

    /// One video stream's share of the downlink, bits/s: the estimate less the audio, split
    /// evenly among the video streams.
    pub fn share(&self) -> u64 {
        let streams = self.video_streams.load(Relaxed).max(1) as f64;
        ((self.estimate().0 - AUDIO_BPS * streams).max(0.0) / streams) as u64
    }

    /// Everything received so far, bytes.
    pub fn bytes(&self) -> u64 {
        self.figures.bytes.load(Relaxed)
    }

    pub fn prober(&self) -> std::sync::MutexGuard<'_, Prober> {
        self.prober.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_video_stream_gets_an_even_share_of_what_audio_leaves() {
        let r = ReceiverLink::new(Arc::new(SendLink::new(600_000.0)), Arc::default());
        r.video_streams.store(3, Relaxed);
        assert_eq!(r.share(), 160_000);
        r.video_streams.store(0, Relaxed);
        assert_eq!(r.share(), 560_000, "none yet: as if one");
        let starved = ReceiverLink::new(Arc::new(SendLink::new(60_000.0)), Arc::default());
        starved.video_streams.store(3, Relaxed);
        assert_eq!(starved.share(), 0);
    }
}
