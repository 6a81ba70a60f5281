//! Simulcast, without I/O: which layer of a sender each receiver gets, how a receiver moves
//! between layers without a broken picture, and how a sender splits its rate among its layers.
//!
//! - [`choose`]: the layer for one receiver, from the size it can show and the rate its link
//!   allows (with headroom to go up, none to stay).
//! - [`Forwarder`]: one receiver's view of one sender. Packets of the layer it gets pass with
//!   their sequence numbers and timestamps rewritten, so that the receiver sees one continuous
//!   stream; a switch waits for a keyframe of the new layer (the caller asks the sender for one).
//! - [`allocate`]: a sender's rate, split among its layers from the smallest up, as libwebrtc's
//!   simulcast allocator does: a layer is sent only when every smaller one has its minimum.
//!
//! Probing a receiver's link one layer up is in [`crate::probe`].
//!
//! Layers are numbered from the smallest (0) up.


/// Layers a sender may send: quarter, half and full size.
pub const LAYERS: usize = 3;

/// What is known about one layer of a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layer {
    pub width: u32,
    pub height: u32,
    /// The rate it arrives at now, bits/s (0: not arriving).
    pub bps: u64,
}

/// Going up needs the new layer's rate times this within the budget; staying needs the rate.
pub const UP_HEADROOM: f64 = 1.25;

/// The layer a receiver gets of a sender: the smallest that covers `view` (the most it can
/// show, in pixels; a layer covers it when it is at least as wide or as high), or the largest
/// arriving when none does, lowered until its rate fits `budget_bps`. A layer above `current`
/// must fit with [`UP_HEADROOM`]. Never a layer that is not arriving; the smallest arriving
/// when nothing fits (a picture at all beats none); `None` when nothing arrives.
pub fn choose(layers: &[Layer; LAYERS], view: (u32, u32), budget_bps: u64, current: Option<usize>) -> Option<usize> {
    let arriving = |i: &usize| layers[*i].bps > 0;
    let smallest = (0..LAYERS).find(arriving)?;
    let covers = |l: &Layer| l.width >= view.0 || l.height >= view.1;
    let wanted = (0..LAYERS).filter(arriving).find(|&i| covers(&layers[i])).or_else(|| (0..LAYERS).rev().find(arriving))?;
    let fits = |i: usize| {
        let need = layers[i].bps as f64 * if current.is_some_and(|c| i > c) { UP_HEADROOM } else { 1.0 };
        need <= budget_bps as f64
    };
    Some((smallest..=wanted).rev().filter(arriving).find(|&i| fits(i)).unwrap_or(smallest))
}

/// What one stream a receiver gets needs: its layers' rates (0: not arriving), the most it
/// is worth (the layer that covers what the receiver shows), and the layer it has now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamNeed {
    pub rates: [u64; LAYERS],
    pub suited: usize,
    pub current: Option<usize>,
}

/// Shares a receiver's video budget among the streams it gets, as a stream allocator does:
/// every stream its smallest arriving layer first (a picture for everyone), then, round after
/// round, each stream in turn one layer up (to the next that arrives, never past the one it
/// is worth) while the total fits. A layer above a stream's current one must fit with
/// [`UP_HEADROOM`]. `None` for a stream with nothing arriving.
pub fn allot(budget_bps: u64, streams: &[StreamNeed]) -> Vec<Option<usize>> {
    let mut at: Vec<Option<usize>> = streams.iter().map(|s| (0..LAYERS).find(|&l| s.rates[l] > 0)).collect();
    let cost = |s: &StreamNeed, l: usize| s.rates[l] as f64 * if s.current.is_some_and(|c| l > c) { UP_HEADROOM } else { 1.0 };
    let mut total: f64 = streams.iter().zip(&at).map(|(s, l)| l.map_or(0.0, |l| cost(s, l))).sum();
    loop {
        let mut raised = false;
        for (s, l) in streams.iter().zip(at.iter_mut()) {
            let Some(now) = *l else { continue };
            let Some(next) = (now + 1..=s.suited.min(LAYERS - 1)).find(|&n| s.rates[n] > 0) else { continue };
            let more = cost(s, next) - cost(s, now);
            if total + more <= budget_bps as f64 {
                total += more;
                *l = Some(next);
                raised = true;
            }
        }
        if !raised {
            return at;
        }
    }
}

/// What becomes of one packet for one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not for this receiver (another layer, or the layer it waits to leave or to join).
    Drop,
    /// Forward it with this sequence number and timestamp.
    Forward { seq: u16, ts: u32 },
}

/// One receiver's view of one sender's layers.
#[derive(Debug, Clone, Default)]
pub struct Forwarder {
    /// The layer forwarded now.
    current: Option<usize>,
    /// The layer to move to at its next keyframe.
    target: Option<usize>,
    /// Added to a packet's sequence number and timestamp on the current layer.
    seq_offset: u16,
    ts_offset: u32,
    /// The first sequence number forwarded on the current layer: older ones are from before
    /// the switch.
    first_seq: u16,
    /// The newest packet forwarded: output sequence number, timestamp, and when (µs).
    last: Option<(u16, u32, u64)>,
    /// The clock rate, ticks per second.
    clock_rate: u32,
}

impl Forwarder {
    pub fn new(clock_rate: u32) -> Self {
        Forwarder { clock_rate: clock_rate.max(1), ..Default::default() }
    }

    /// The layer forwarded now.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// The layer being moved to, if a move waits for its keyframe.
    pub fn pending(&self) -> Option<usize> {
        self.target.filter(|t| Some(*t) != self.current)
    }

    /// Moves to `layer` at its next keyframe (`None`: forward nothing from now on). Returns
    /// whether a keyframe of that layer is needed (the caller asks the sender for one).
    pub fn set_target(&mut self, layer: Option<usize>) -> bool {
        self.target = layer;
        match layer {
            None => {
                self.current = None;
                false
            }
            Some(l) => Some(l) != self.current,
        }
    }

    /// A packet of `layer`, numbered `seq` at RTP time `ts`, arriving at `now_us`;
    /// `keyframe_start` when it is the first packet of a keyframe.
    pub fn on_packet(&mut self, layer: usize, seq: u16, ts: u32, keyframe_start: bool, now_us: u64) -> Verdict {
        if self.target == Some(layer) && self.current != Some(layer) {
            if !keyframe_start {
                // Until the new layer's keyframe comes, the old one goes on.
                return self.forward_current(layer, seq, ts, now_us);
            }
            self.switch_to(layer, seq, ts, now_us);
        }
        self.forward_current(layer, seq, ts, now_us)
    }

    /// Starts forwarding `layer` at this packet, continuing the output numbering.
    fn switch_to(&mut self, layer: usize, seq: u16, ts: u32, now_us: u64) {
        self.current = Some(layer);
        self.first_seq = seq;
        match self.last {
            None => (self.seq_offset, self.ts_offset) = (0, 0),
            Some((out_seq, out_ts, at)) => {
                // The next number, and a timestamp as far on as the time since the last packet
                // (one tick at least, so the new picture is a new frame to the receiver).
                let elapsed = now_us.saturating_sub(at) as u128 * self.clock_rate as u128 / 1_000_000;
                let step = (elapsed.min(u32::MAX as u128) as u32).max(1);
                self.seq_offset = out_seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_offset = out_ts.wrapping_add(step).wrapping_sub(ts);
            }
        }
    }

    fn forward_current(&mut self, layer: usize, seq: u16, ts: u32, now_us: u64) -> Verdict {
        if self.current != Some(layer) {
            return Verdict::Drop;
        }
        // From before the switch (reordered): the receiver never had its frame.
        if (seq.wrapping_sub(self.first_seq) as i16) < 0 {
            return Verdict::Drop;
        }
        let out = (seq.wrapping_add(self.seq_offset), ts.wrapping_add(self.ts_offset));
        let newer = self.last.is_none_or(|(s, _, _)| (out.0.wrapping_sub(s) as i16) > 0);
        if newer {
            self.last = Some((out.0, out.1, now_us));
        }
        Verdict::Forward { seq: out.0, ts: out.1 }
    }
}

/// What a sender's layer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerRates {
    /// Below this the layer is not worth sending.
    pub min_bps: u64,
    /// It never gets more.
    pub max_bps: u64,
}

/// The least the smallest wanted layer gets, whatever the budget: there is always a picture.
pub const FLOOR_BPS: u64 = 30_000;

/// Splits `budget_bps` among the layers marked `wanted`, from the smallest up. The smallest
/// wanted layer is always on, with the budget up to its maximum (at least [`FLOOR_BPS`]); each
/// larger one in turn needs its minimum from what is left, or it is off, and so is every one
/// above it. What is left then raises them to their maximum, the smallest first.
pub fn allocate(budget_bps: u64, rates: &[LayerRates; LAYERS], wanted: [bool; LAYERS]) -> [u64; LAYERS] {
    let mut out = [0; LAYERS];
    let mut left = budget_bps;
    let mut on = [false; LAYERS];
    for i in (0..LAYERS).filter(|&i| wanted[i]) {
        let min = rates[i].min_bps.min(rates[i].max_bps);
        let first = !on.contains(&true);
        if first {
            out[i] = min.min(left).max(FLOOR_BPS.min(rates[i].max_bps));
        } else if left >= min {
            out[i] = min;
        } else {
            break;
        }
        left = left.saturating_sub(out[i]);
        on[i] = true;
    }
    for i in (0..LAYERS).filter(|&i| on[i]) {
        let more = rates[i].max_bps.saturating_sub(out[i]).min(left);
        out[i] += more;
        left -= more;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(bps: [u64; 3]) -> [Layer; 3] {
        [Layer { width: 160, height: 120, bps: bps[0] }, Layer { width: 320, height: 240, bps: bps[1] }, Layer { width: 640, height: 480, bps: bps[2] }]
    }

    #[test]
    fn the_smallest_layer_that_covers_the_view_when_the_link_allows() {
        let l = layers([80_000, 250_000, 700_000]);
        assert_eq!(choose(&l, (640, 480), 10_000_000, None), Some(2));
        assert_eq!(choose(&l, (80, 48), 10_000_000, None), Some(0), "a small tile gets the quarter layer");
        assert_eq!(choose(&l, (300, 200), 10_000_000, None), Some(1), "larger than a quarter each way: the half layer");
        assert_eq!(choose(&l, (300, 100), 10_000_000, None), Some(0), "a wide, low tile shows the quarter layer at full height");
        assert_eq!(choose(&l, (4000, 3000), 10_000_000, None), Some(2), "larger than all: the largest");
    }

    #[test]
    fn the_link_lowers_the_layer_and_going_up_needs_headroom() {
        let l = layers([80_000, 250_000, 700_000]);
        assert_eq!(choose(&l, (640, 480), 300_000, None), Some(1));
        assert_eq!(choose(&l, (640, 480), 50_000, None), Some(0), "nothing fits: still a picture");
        assert_eq!(choose(&l, (640, 480), 720_000, Some(2)), Some(2), "staying needs the rate");
        assert_eq!(choose(&l, (640, 480), 720_000, Some(1)), Some(1), "going up needs 25% more");
        assert_eq!(choose(&l, (640, 480), 900_000, Some(1)), Some(2));
    }

    #[test]
    fn only_arriving_layers_are_chosen() {
        assert_eq!(choose(&layers([0, 0, 0]), (640, 480), 1_000_000, None), None);
        assert_eq!(choose(&layers([0, 250_000, 0]), (80, 48), 1_000_000, None), Some(1));
        assert_eq!(choose(&layers([80_000, 0, 700_000]), (320, 240), 1_000_000, None), Some(2), "the half is off: the full covers it");
        assert_eq!(choose(&layers([80_000, 0, 700_000]), (320, 240), 500_000, None), Some(0));
    }

    #[test]
    fn a_budget_goes_to_every_stream_a_layer_at_a_time() {
        let need = |rates: [u64; 3], suited: usize| StreamNeed { rates, suited, current: Some(0) };
        let full = need([30_000, 280_000, 1_700_000], 2);
        // Room for one full layer beside two half ones: taken in turns, so the first gets it.
        assert_eq!(allot(3_000_000, &[full, full, full]), vec![Some(2), Some(1), Some(1)]);
        assert_eq!(allot(10_000_000, &[full, full, full]), vec![Some(2); 3]);
        assert_eq!(allot(400_000, &[full, full, full]), vec![Some(0); 3], "no room for a half layer with headroom");
        assert_eq!(allot(10_000, &[full, full]), vec![Some(0); 2], "a picture for everyone, whatever the budget");
        // A stream worth only its quarter layer (a small tile) stays there; a missing layer is passed over.
        assert_eq!(allot(10_000_000, &[need([30_000, 280_000, 1_700_000], 0), need([30_000, 0, 1_700_000], 2)]), vec![Some(0), Some(2)]);
        assert_eq!(allot(10_000_000, &[need([0, 0, 0], 2)]), vec![None]);
        // Staying needs no headroom.
        let at_full = StreamNeed { current: Some(2), ..full };
        assert_eq!(allot(1_700_000, &[at_full]), vec![Some(2)]);
        assert_eq!(allot(1_700_000, &[full]), vec![Some(1)], "going up does");
    }

    #[test]
    fn a_switch_waits_for_a_keyframe_and_the_output_stays_continuous() {
        let mut f = Forwarder::new(90_000);
        assert!(f.set_target(Some(0)));
        assert_eq!(f.on_packet(0, 100, 5000, false, 0), Verdict::Drop, "no picture before a keyframe");
        assert_eq!(f.on_packet(0, 101, 8000, true, 33_000), Verdict::Forward { seq: 101, ts: 8000 });
        assert_eq!(f.on_packet(0, 102, 8000, false, 33_000), Verdict::Forward { seq: 102, ts: 8000 });
        assert_eq!(f.on_packet(2, 7000, 1_000_000, false, 33_000), Verdict::Drop, "another layer");
        // Up to the full layer: the quarter goes on until the full one's keyframe.
        assert!(f.set_target(Some(2)));
        assert_eq!(f.pending(), Some(2));
        assert_eq!(f.on_packet(2, 7001, 1_003_000, false, 66_000), Verdict::Drop);
        assert_eq!(f.on_packet(0, 103, 11_000, false, 66_000), Verdict::Forward { seq: 103, ts: 11_000 });
        // 100 ms later the keyframe: numbering goes on from 104, time from 11_000 + 9_000.
        assert_eq!(f.on_packet(2, 7002, 1_006_000, true, 166_000), Verdict::Forward { seq: 104, ts: 20_000 });
        assert_eq!(f.on_packet(2, 7003, 1_006_000, false, 166_000), Verdict::Forward { seq: 105, ts: 20_000 });
        assert_eq!(f.on_packet(0, 104, 14_000, false, 166_000), Verdict::Drop, "the old layer is over");
        assert_eq!(f.on_packet(2, 7001, 1_003_000, false, 166_000), Verdict::Drop, "from before the switch");
        assert_eq!(f.current(), Some(2));
        assert_eq!(f.pending(), None);
        assert!(!f.set_target(Some(2)), "already there");
    }

    #[test]
    fn numbering_wraps() {
        let mut f = Forwarder::new(90_000);
        f.set_target(Some(1));
        assert_eq!(f.on_packet(1, 65_535, u32::MAX, true, 0), Verdict::Forward { seq: 65_535, ts: u32::MAX });
        assert_eq!(f.on_packet(1, 0, 2999, false, 0), Verdict::Forward { seq: 0, ts: 2999 });
        f.set_target(Some(0));
        assert_eq!(f.on_packet(0, 40_000, 10, true, 1_000_000), Verdict::Forward { seq: 1, ts: 2999 + 90_000 });
    }

    #[test]
    fn rates_go_to_the_smallest_layers_first() {
        let r = [LayerRates { min_bps: 30_000, max_bps: 100_000 }, LayerRates { min_bps: 100_000, max_bps: 300_000 }, LayerRates { min_bps: 250_000, max_bps: 1_000_000 }];
        assert_eq!(allocate(2_000_000, &r, [true; 3]), [100_000, 300_000, 1_000_000]);
        assert_eq!(allocate(500_000, &r, [true; 3]), [100_000, 150_000, 250_000], "each its minimum, then the rest from the smallest up");
        assert_eq!(allocate(300_000, &r, [true; 3]), [100_000, 200_000, 0], "no room for the full layer's minimum: off");
        assert_eq!(allocate(10_000, &r, [true; 3]), [30_000, 0, 0], "always a picture");
        assert_eq!(allocate(2_000_000, &r, [false, false, true]), [0, 0, 1_000_000], "only what someone receives");
        assert_eq!(allocate(200_000, &r, [false, false, true]), [0, 0, 200_000], "the one layer wanted takes what there is, below its minimum");
        assert_eq!(allocate(200_000, &r, [true, false, true]), [100_000, 0, 0], "a second layer needs its minimum");
        assert_eq!(allocate(2_000_000, &r, [false; 3]), [0, 0, 0]);
    }
}
