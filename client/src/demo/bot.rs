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
        while let Some(ev) = e.events.recv().await {
            if let Some(text) = reply(&ev) {
                let _ = e.commands.send(Command::Chat { text });
            }
        }
    })
}

/// What bob says to an event, if anything.
pub fn reply(ev: &Event) -> Option<String> {
    match ev {
        Event::Call { peer, state: CallState::Connected, .. } => Some(format!(
            "hi {peer}, I am bob, a scripted peer. You see my test pattern; press i, type a line and Enter to chat."
        )),
        Event::Chat { text, .. } => Some(format!("bob heard: {text}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bob_greets_and_echoes() {
        let greet = reply(&Event::Call { peer: "ann".into(), state: CallState::Connected, path: None, reason: None }).unwrap();
        assert!(greet.contains("hi ann"));
        assert_eq!(reply(&Event::Chat { from: "ann".into(), text: "yo".into() }).unwrap(), "bob heard: yo");
        assert_eq!(reply(&Event::Incoming { from: "ann".into() }), None);
    }
}
