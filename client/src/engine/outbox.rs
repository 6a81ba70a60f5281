//! The engine's events on their way to the face (the TUI, or the program reading headless
//! output): at most [`EVENT_QUEUE`] wait. The engine never waits for its reader: a reader that
//! fell that far behind loses the newest events, counted, and is told how many as soon as
//! there is room again.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::mpsc;

use super::Event;

/// Events waiting for the face.
pub const EVENT_QUEUE: usize = 1024;

/// The sending end of the engine's events.
pub struct Events {
    tx: mpsc::Sender<Event>,
    /// Dropped and not yet reported.
    dropped: AtomicU64,
}

impl Events {
    /// A queue of `capacity` events, and its reading end.
    pub fn new(capacity: usize) -> (Events, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        (Events { tx, dropped: AtomicU64::new(0) }, rx)
    }

    /// Hands `e` to the reader without waiting (see the module documentation).
    pub fn emit(&self, e: Event) {
        let dropped = self.dropped.load(Relaxed);
        if dropped > 0 {
            let notice = Event::error("events_dropped", format!("{dropped} events were dropped: the reader of termcall's events fell behind"));
            if self.tx.try_send(notice).is_err() {
                self.dropped.fetch_add(1, Relaxed);
                return;
            }
            self.dropped.fetch_sub(dropped, Relaxed);
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(e) {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(i: usize) -> Event {
        Event::Chat { from: "bob".into(), text: i.to_string() }
    }

    #[test]
    fn a_reader_that_falls_behind_loses_the_newest_and_is_told_how_many() {
        let (events, mut rx) = Events::new(4);
        for i in 0..10 {
            events.emit(chat(i));
        }
        let first: Vec<Event> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(first.len(), 4, "the queue holds its capacity, no more");
        assert!(matches!(&first[3], Event::Chat { text, .. } if text == "3"), "the oldest are kept, in order");
        events.emit(chat(10));
        let next: Vec<Event> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        match &next[..] {
            [Event::Error { code, message, fatal: false }, Event::Chat { text, .. }] => {
                assert_eq!(code, "events_dropped");
                assert!(message.starts_with("6 events were dropped"), "{message}");
                assert_eq!(text, "10");
            }
            other => panic!("the notice, then the event: {other:?}"),
        }
        events.emit(chat(11));
        assert!(matches!(rx.try_recv(), Ok(Event::Chat { .. })), "no notice once told");
    }
}
