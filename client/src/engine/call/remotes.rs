//! The other participants of a call through the hub (each a tile of its own), their stats,
//! and snapshots of a remote picture.

use std::sync::Arc;
use std::time::Instant;

use super::{Call, CallOut};
use crate::engine::api::{CallStats, ParticipantStats};
use crate::engine::stats::{totals, RecvRates};
use crate::media::counters::RecvCounters;
use crate::media::recv::FrameSlot;
use crate::media::{snapshot, Tile};

/// One other participant of a call through the hub.
pub(super) struct Remote {
    name: String,
    pub(super) counters: Arc<RecvCounters>,
    slot: Arc<FrameSlot>,
    rates: RecvRates,
}

impl Call<'_> {
    /// The second's measurements; through the hub, per participant as well.
    pub(super) async fn sample(&mut self) -> CallStats {
        let mut stats = self.clock.sample(&self.pc, &self.recv, &self.sent, &self.link).await;
        if self.sfu {
            let now = Instant::now();
            stats.participants = self
                .remotes
                .iter_mut()
                .map(|r| {
                    let (video, audio) = r.rates.sample(&r.counters, now);
                    ParticipantStats { name: r.name.clone(), video, audio }
                })
                .collect();
            (stats.video, stats.audio) = totals(&stats.participants);
        }
        stats
    }

    /// The participant whose media arrives under stream id `name`, made on first sight.
    pub(super) fn remote(&mut self, name: &str) -> (Arc<RecvCounters>, Arc<FrameSlot>) {
        if let Some(r) = self.remotes.iter().find(|r| r.name == name) {
            return (r.counters.clone(), r.slot.clone());
        }
        let (slot, frame) = tokio::sync::watch::channel(None);
        let (counters, slot) = (Arc::new(RecvCounters::default()), Arc::new(slot));
        self.remotes.push(Remote { name: name.to_owned(), counters: counters.clone(), slot: slot.clone(), rates: RecvRates::default() });
        let tile = Tile { name: name.to_owned(), frame, counters: counters.clone() };
        self.pictures.tiles.send_modify(|t| t.push(tile));
        (counters, slot)
    }

    pub(super) fn forget(&mut self, name: &str) {
        self.remotes.retain(|r| r.name != name);
        self.pictures.remove_tiles(|t| t.name == name);
    }

    pub(super) fn snapshot(&self, path: String, of: Option<String>) {
        let frame = if self.sfu {
            let remote = match &of {
                Some(name) => self.remotes.iter().find(|r| r.name == *name),
                None => self.remotes.iter().find(|r| r.slot.borrow().is_some()),
            };
            remote.and_then(|r| r.slot.borrow().clone())
        } else {
            self.pictures.remote.borrow().clone()
        };
        let (id, out) = (self.id, self.out.clone());
        tokio::task::spawn_blocking(move || {
            let result = match frame {
                None => Err("no remote picture has been decoded yet".to_owned()),
                Some(f) => snapshot::write_png(&f, std::path::Path::new(&path)).map(|()| (path, f.width, f.height)),
            };
            let _ = out.send((id, CallOut::Snapshot(result)));
        });
    }
}
