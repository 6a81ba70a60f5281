//! Which layer of a sender each of its receivers gets, chosen a few times a second by the
//! sender's forwarding loop: what the receiver shows, what arrives, the receiver's share of its
//! downlink beside its other streams, and probes of the next layer up. The decisions themselves
//! are in [`termcall_congestion::layers`] (sans-IO); this wires them to the hub's state.

use std::time::Instant;

use termcall_congestion::layers::{choose, Forwarder, Layer, StreamNeed, LAYERS};
use termcall_congestion::probe::{ProbeEnd, PROBE_GAIN};
use tracing::debug;

use super::downtrack::Sink;
use super::layers::SenderLayers;

/// One receiver of the stream, with its view of the sender's layers.
pub struct Receiver {
    pub sink: Sink,
    pub layers: Forwarder,
}

/// Chooses each receiver's layer from what it shows, what arrives, and its link's share for
/// this stream; probes a layer up for a receiver held below what it shows by its link (see
/// [`termcall_congestion::probe::Prober`]); marks the layers whose keyframe a receiver now waits for. Returns the layers
/// someone receives or should (by what they show, whether it arrives now or not), so that the
/// sender sends just those. `me` names this stream among a receiver's probes.
pub fn choose_layers(receivers: &mut [Receiver], layers: &SenderLayers, now: Instant, video: bool, me: u64, pli_due: &mut [bool; LAYERS]) -> [bool; LAYERS] {
    let known = layers.layers(now);
    // Every layer up to the largest someone shows, and the smallest always: a receiver whose
    // link falls, or rises, has somewhere to go at once.
    let mut wanted = [true, false, false];
    for r in receivers.iter_mut() {
        let view = if video { r.sink.down.view() } else { None };
        let suited = layers.suited(view);
        let target = if video { video_target(r, &known, suited, now, me) } else { choose(&known, (u32::MAX, u32::MAX), u64::MAX, r.layers.current()) };
        if r.layers.set_target(target) {
            debug!(?target, current = ?r.layers.current(), estimate = r.sink.down.receiver.estimate().0, budget = r.sink.down.receiver.video_budget(), "a receiver's layer changes");
            if let Some(t) = target {
                pli_due[t] = true;
            }
        }
        for l in [Some(suited), r.layers.current(), r.layers.pending()].into_iter().flatten() {
            wanted[..=l].fill(true);
        }
    }
    wanted
}

/// The layer of this stream for one receiver: what its part of the link's budget gives it
/// beside its other streams ([`super::receiver::Shares::layer`]), or one up while a probe of this stream runs
/// for it.
fn video_target(r: &Receiver, known: &[Layer; LAYERS], suited: usize, now: Instant, me: u64) -> Option<usize> {
    let rx = &r.sink.down.receiver;
    let current = r.layers.current();
    let path = rx.path();
    let estimate = path.estimate;
    let budget = rx.video_budget();
    let mut shares = rx.shares();
    let need = StreamNeed { rates: known.map(|l| l.bps), suited, current };
    let given = shares.layer(me, need, budget);
    shares.prober.observe(now, &path);
    if shares.prober.owner() == Some(me) && r.layers.pending().is_some() {
        // The probed layer waits for its keyframe: the probe's clock starts when it flows.
        if shares.prober.waiting(me, now, &path) {
            return r.layers.pending();
        }
        debug!("a probe's layer never came: no verdict");
    } else if shares.prober.owner() == Some(me) {
        match shares.prober.check(me, now, &path) {
            None => return r.layers.pending().or(current), // the probe goes on
            Some(ProbeEnd::Carried { bps }) => {
                debug!(bps, "a probe carried: the receiver's estimate rises to it");
                rx.link.probe_result(bps * PROBE_GAIN);
                // Its layer stays: the estimate now has room for it.
                return r.layers.pending().or(current);
            }
            Some(ProbeEnd::Congested) => debug!("a probe met congestion: back down"),
        }
    }
    // Held below what it shows by the link, the next layer up arrives, and the budget is not
    // far from what it needs (a probe far past the link would only lose packets): try it.
    let up = given.map(|g| g + 1).filter(|&u| u <= suited && known[u].bps > 0 && budget.saturating_mul(PROBE_REACH) >= known[u].bps);
    if let (Some(up), Some(_)) = (up, current) {
        if given == current && shares.prober.start(me, now, &path) {
            debug!(layer = up, estimate, "probing a layer up");
            return Some(up);
        }
    }
    given
}

/// A probe is tried only when the budget is at least the next layer's rate divided by this.
const PROBE_REACH: u64 = 4;

