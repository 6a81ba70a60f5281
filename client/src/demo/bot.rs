//! bob, the demo's scripted peer: answers every call, sends the test pattern and a tone, greets
//! the caller and answers each chat line.

use tokio::task::JoinHandle;

use crate::engine::{self, CallState, Command, EngineConfig, Event};

/// The bot's name on the hub.
pub const NAME: &str = "bob";

/// Starts bob on the current runtime (auto-accept must be on in `cfg`).
pub fn start(cfg: EngineConfig) -> JoinHandle<()> {
    let mut e = engine::start(cfg);
    drop(e.local_video);
    tokio::spawn(async move {
        let mut bob = Bob::default();
        while let Some(ev) = e.events.recv().await {
            if let Some(text) = bob.reply(&ev) {
                let _ = e.commands.send(Command::Chat { text });
            }
        }
    })
}

/// bob's memory: whether this call has had its greeting (a call is `connected` again after
/// a reconnection or a path change).
#[derive(Default)]
pub struct Bob {
    greeted: bool,
}

impl Bob {
    /// What bob says to an event, if anything.
    pub fn reply(&mut self, ev: &Event) -> Option<String> {
        match ev {
            Event::Call { peer, state: CallState::Connected, .. } if !self.greeted => {
                self.greeted = true;
                Some(format!("hi {peer}, I am bob, a scripted peer. You see my test pattern; press i, type a line and Enter to chat."))
            }
            Event::Call { state: CallState::Ended, .. } => {
                self.greeted = false;
                None
            }
            Event::Chat { text, .. } => Some(format!("bob heard: {text}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bob_greets_once_a_call_and_echoes() {
        let mut bob = Bob::default();
        let connected = Event::Call { peer: "ann".into(), state: CallState::Connected, path: None, reason: None };
        assert!(bob.reply(&connected).unwrap().contains("hi ann"));
        assert_eq!(bob.reply(&connected), None, "a path change is not a new call");
        assert_eq!(bob.reply(&Event::Chat { from: "ann".into(), text: "yo".into() }).unwrap(), "bob heard: yo");
        assert_eq!(bob.reply(&Event::Incoming { from: "ann".into(), group: None }), None);
        bob.reply(&Event::Call { peer: "ann".into(), state: CallState::Ended, path: None, reason: None });
        assert!(bob.reply(&connected).is_some());
    }
}
