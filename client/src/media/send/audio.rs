//! The audio thread: 20 ms frames from the source, Opus, to the packetizer. Audio keeps its rate
//! whatever the network does (it is small beside video, and the pacer sends it first).

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{pace, Controls, Encoded};
use crate::media::audio::{AudioSource, OpusEncoder, FRAME};
use crate::media::counters::{add_energy, SendCounters};

/// RTP ticks (at 48 kHz) in one frame.
pub const FRAME_TICKS: u32 = FRAME as u32;

pub fn run(mut source: AudioSource, tx: mpsc::Sender<Encoded>, c: &Controls, n: &SendCounters) -> Result<(), String> {
    let period = Duration::from_millis(20);
    let mut enc = OpusEncoder::new()?;
    let mut pcm = [0i16; FRAME];
    let mut next = Instant::now();
    while !c.stop.load(Relaxed) && !tx.is_closed() {
        pace(&mut next, period);
        if c.audio_muted.load(Relaxed) {
            continue;
        }
        let captured = Instant::now();
        source.next_into(&mut pcm);
        add_energy(&n.audio_sq, &n.audio_samples, &pcm);
        let packet = enc.encode(&pcm)?;
        n.audio_packets.fetch_add(1, Relaxed);
        n.audio_bytes.fetch_add(packet.len() as u64, Relaxed);
        let _ = tx.try_send((Bytes::copy_from_slice(packet), captured));
    }
    Ok(())
}
