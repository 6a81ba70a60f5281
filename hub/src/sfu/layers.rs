//! What the forwarding loop knows about one sender's simulcast layers: which SSRC is which
//! layer (from its RID), the rate each arrives at, and their sizes (from the sender's
//! `simulcast` announcement). A sender without simulcast has one layer, the top one, of no
//! known size. The choices made from this are in [`termcall_congestion::layers`].

use std::time::{Duration, Instant};

use termcall_congestion::layers::{Layer, LAYERS};
use termcall_shared::media::simulcast::{layer_of, layer_size};

/// Rates are measured over this window.
const RATE_WINDOW: Duration = Duration::from_millis(1000);
/// A layer that sent nothing for this long is taken to be off.
const SILENT: Duration = Duration::from_millis(1500);

/// One sender's layers, as seen by its forwarding loop (which alone touches it).
#[derive(Debug)]
pub struct SenderLayers {
    /// SSRC of each layer once seen.
    ssrcs: [Option<u32>; LAYERS],
    /// Bytes in the current window, and the rate of the last full one.
    bytes: [u64; LAYERS],
    bps: [u64; LAYERS],
    last_packet: [Option<Instant>; LAYERS],
    window_start: Instant,
    /// The full size, from the sender's announcement (0x0: unknown).
    full: (u32, u32),
}

impl SenderLayers {
    pub fn new(now: Instant) -> Self {
        SenderLayers { ssrcs: [None; LAYERS], bytes: [0; LAYERS], bps: [0; LAYERS], last_packet: [None; LAYERS], window_start: now, full: (0, 0) }
    }

    /// The layer of a packet from `ssrc`, if known.
    pub fn layer(&self, ssrc: u32) -> Option<usize> {
        self.ssrcs.iter().position(|s| *s == Some(ssrc))
    }

    /// Learns that `ssrc` carries the layer named `rid` (none: a sender without simulcast,
    /// whose one stream counts as the top layer). Returns the layer.
    pub fn learn(&mut self, ssrc: u32, rid: Option<&str>) -> Option<usize> {
        let layer = match rid {
            Some(r) => layer_of(r)?,
            // One stream without a RID is the top layer; another (a repair stream) is not.
            None if self.ssrcs[LAYERS - 1].is_some_and(|s| s != ssrc) => return None,
            None => LAYERS - 1,
        };
        self.ssrcs[layer] = Some(ssrc);
        Some(layer)
    }

    pub fn ssrc(&self, layer: usize) -> Option<u32> {
        self.ssrcs.get(layer).copied().flatten()
    }

    /// Counts a packet of `layer`.
    pub fn on_packet(&mut self, layer: usize, bytes: usize, now: Instant) {
        self.bytes[layer] += bytes as u64;
        self.last_packet[layer] = Some(now);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= RATE_WINDOW {
            let secs = elapsed.as_secs_f64();
            for i in 0..LAYERS {
                self.bps[i] = (self.bytes[i] as f64 * 8.0 / secs) as u64;
                self.bytes[i] = 0;
            }
            self.window_start = now;
        }
    }

    pub fn set_full_size(&mut self, width: u32, height: u32) {
        self.full = (width, height);
    }

    /// The layers now: size, and rate (0 for one silent for a while, or not yet measured but
    /// arriving, which counts as 1 bit/s so that it can be chosen).
    pub fn layers(&self, now: Instant) -> [Layer; LAYERS] {
        std::array::from_fn(|i| {
            let live = self.last_packet[i].is_some_and(|t| now.saturating_duration_since(t) < SILENT);
            let (width, height) = if self.full.0 > 0 { layer_size(self.full.0, self.full.1, i) } else { (0, 0) };
            Layer { width, height, bps: if live { u64::max(self.bps[i], 1) } else { 0 } }
        })
    }

    /// The layer that suits a receiver showing at most `view`, whatever arrives now: the
    /// smallest whose size covers it, the top one when sizes are unknown or none does.
    pub fn suited(&self, view: Option<(u32, u32)>) -> usize {
        let (Some((vw, vh)), true) = (view, self.full.0 > 0) else { return LAYERS - 1 };
        (0..LAYERS)
            .find(|&i| {
                let (w, h) = layer_size(self.full.0, self.full.1, i);
                w >= vw || h >= vh
            })
            .unwrap_or(LAYERS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_known_by_rid_and_measured() {
        let t0 = Instant::now();
        let mut l = SenderLayers::new(t0);
        assert_eq!(l.learn(11, Some("q")), Some(0));
        assert_eq!(l.learn(33, Some("f")), Some(2));
        assert_eq!(l.learn(44, Some("zz")), None, "not one of ours");
        assert_eq!(l.layer(33), Some(2));
        assert_eq!(l.layer(22), None);
        l.set_full_size(640, 480);
        for ms in 0..=1000 {
            let now = t0 + Duration::from_millis(ms);
            if ms % 10 == 0 {
                l.on_packet(0, 100, now); // 80 kbit/s
                l.on_packet(2, 1000, now); // 800 kbit/s
            }
        }
        let now = t0 + Duration::from_millis(1000);
        let layers = l.layers(now);
        assert!((79_000..=82_000).contains(&layers[0].bps), "{layers:?}");
        assert!((790_000..=820_000).contains(&layers[2].bps), "{layers:?}");
        assert_eq!(layers[1].bps, 0, "never sent");
        assert_eq!((layers[0].width, layers[0].height), (160, 120));
        assert_eq!(l.layers(now + Duration::from_secs(2))[2].bps, 0, "silent for 2 s: off");
    }

    #[test]
    fn the_suited_layer_covers_the_view() {
        let mut l = SenderLayers::new(Instant::now());
        assert_eq!(l.suited(Some((80, 48))), 2, "sizes unknown: the top");
        l.set_full_size(640, 480);
        assert_eq!(l.suited(Some((80, 48))), 0);
        assert_eq!(l.suited(Some((200, 150))), 1);
        assert_eq!(l.suited(None), 2);
        assert_eq!(l.suited(Some((2000, 2000))), 2);
        assert_eq!(l.learn(9, None), Some(2), "no simulcast: the top layer");
        assert_eq!(l.learn(10, None), None, "a second stream without a RID is not another top layer");
    }
}
