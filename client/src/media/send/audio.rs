//! The audio thread: 20 ms frames from the source, Opus, to the packetizer. Audio keeps its rate
//! whatever the network does (it is small beside video, and the pacer sends it first), unless
//! the whole link is below [`LOW_LINK_BPS`]: then Opus drops to [`LOW_OPUS_BPS`], which still
//! carries a voice, and returns once the estimate is clearly above the line again.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::Bytes;
use termcall_shared::media::congestion::SendLink;
use tokio::sync::mpsc;

use super::{pace, Controls, Encoded};
use crate::media::audio::{AudioSource, OpusEncoder, DEFAULT_BITRATE, FRAME};
use crate::media::counters::{add_energy, SendCounters};

/// RTP ticks (at 48 kHz) in one frame.
pub const FRAME_TICKS: u32 = FRAME as u32;
/// Below this estimate for everything we send, Opus gives up some of its rate.
pub const LOW_LINK_BPS: f64 = 64_000.0;
/// Opus's rate on such a link.
pub const LOW_OPUS_BPS: i32 = 12_000;

pub fn run(mut source: AudioSource, tx: mpsc::Sender<Encoded>, c: &Controls, n: &SendCounters, link: &SendLink) -> Result<(), String> {
    let period = Duration::from_millis(20);
    let mut enc = OpusEncoder::new()?;
    let mut pcm = [0i16; FRAME];
    let mut next = super::grid_start(period);
    let mut low = false;
    while !c.stop.load(Relaxed) && !tx.is_closed() {
        pace(&mut next, period);
        if c.audio_muted.load(Relaxed) {
            continue;
        }
        // With hysteresis: down below the line, up again 25% above it.
        let estimate = link.target_bps();
        if low != (estimate < LOW_LINK_BPS * if low { 1.25 } else { 1.0 }) {
            low = !low;
            let bps = if low { LOW_OPUS_BPS } else { DEFAULT_BITRATE };
            enc.set_bitrate(bps)?;
            tracing::debug!("audio at {} kbit/s (estimate {:.0} kbit/s)", bps / 1000, estimate / 1000.0);
        }
        if let Some(next) = c.take_audio() {
            source = next; // the old one (a microphone: its device) closes here
            tracing::debug!("audio source switched");
        }
        let captured = Instant::now();
        source.next_into(&mut pcm);
        if let Some(erle) = source.erle_db() {
            n.aec_erle_centi_db.store((erle * 100.0) as i32, Relaxed);
            n.aec_known.store(true, Relaxed);
        }
        add_energy(&n.audio_sq, &n.audio_samples, &pcm);
        let packet = enc.encode(&pcm)?;
        n.audio_packets.fetch_add(1, Relaxed);
        n.audio_bytes.fetch_add(packet.len() as u64, Relaxed);
        let _ = tx.try_send((Bytes::copy_from_slice(packet), captured, None));
    }
    Ok(())
}
