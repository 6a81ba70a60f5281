//! Sound devices from the keyboard: `d` moves to the next microphone, `o` to the next speaker
//! (output). The first press asks the engine for the list; each switch is the engine's
//! `devices` command, so the TUI does exactly what a headless client can.

use super::{Action, App, Tone};
use crate::engine::api::SoundDevice;
use crate::engine::{Command, Event};

/// What the engine last said of the sound devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Devices {
    pub microphones: Vec<SoundDevice>,
    pub speakers: Vec<SoundDevice>,
    pub mic: Option<String>,
    pub speaker: Option<String>,
}

/// The device after `current` in `list` (after the default one if `current` is `default`),
/// round the end.
fn next(list: &[SoundDevice], current: Option<&str>) -> Option<String> {
    let at = list.iter().position(|d| Some(d.name.as_str()) == current || (current == Some("default") && d.default));
    let i = at.map_or(0, |i| (i + 1) % list.len().max(1));
    list.get(i).map(|d| d.name.clone())
}

impl App {
    /// `d` (microphone) or `o` (speaker).
    pub(super) fn next_device(&mut self, microphone: bool) -> Vec<Action> {
        let Some(known) = &self.devices else {
            self.notify("looking for sound devices…", Tone::Info);
            return vec![Action::Engine(Command::Devices { mic: None, speaker: None })];
        };
        let (list, current, what) = if microphone { (&known.microphones, known.mic.as_deref(), "microphone") } else { (&known.speakers, known.speaker.as_deref(), "speaker") };
        match next(list, current) {
            None => {
                self.notify(format!("no {what} found"), Tone::Error);
                Vec::new()
            }
            Some(name) if microphone => vec![Action::Engine(Command::Devices { mic: Some(name), speaker: None })],
            Some(name) => vec![Action::Engine(Command::Devices { mic: None, speaker: Some(name) })],
        }
    }

    /// The engine's `devices` event: kept, and said.
    pub(super) fn on_devices(&mut self, e: Event) {
        let Event::Devices { microphones, speakers, mic, speaker } = e else { return };
        let say = |n: &Option<String>, list: &[SoundDevice]| match n {
            None => "not in use".to_owned(),
            Some(n) => list.iter().find(|d| &d.name == n || (n == "default" && d.default)).map_or(n.clone(), |d| format!("{} ({})", d.name, d.description)),
        };
        let text = format!("microphone: {} · speaker: {} · d/o: next", say(&mic, &microphones), say(&speaker, &speakers));
        self.devices = Some(Devices { microphones, speakers, mic, speaker });
        self.notify(text, Tone::Info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, default: bool) -> SoundDevice {
        SoundDevice { name: name.into(), description: format!("{name} device"), default }
    }

    #[test]
    fn keys_ask_for_the_list_then_step_through_it() {
        let mut app = App::new("me", "ws://hub");
        assert_eq!(app.next_device(true), vec![Action::Engine(Command::Devices { mic: None, speaker: None })]);
        let list = vec![dev("default", false), dev("pulse", true), dev("hw:1", false)];
        app.on_devices(Event::Devices { microphones: list.clone(), speakers: list, mic: Some("default".into()), speaker: Some("hw:1".into()) });
        assert!(app.notice.as_ref().is_some_and(|(t, ..)| t.contains("speaker: hw:1 (hw:1 device)")), "{:?}", app.notice);
        // After `default` comes pulse; after hw:1, round to the first.
        assert_eq!(app.next_device(true), vec![Action::Engine(Command::Devices { mic: Some("pulse".into()), speaker: None })]);
        assert_eq!(app.next_device(false), vec![Action::Engine(Command::Devices { mic: None, speaker: Some("default".into()) })]);
        // `default` when no device has that name: the one marked default (pulse), and then hw:1.
        let list = vec![dev("pulse", true), dev("hw:1", false)];
        app.on_devices(Event::Devices { microphones: list.clone(), speakers: list, mic: Some("default".into()), speaker: None });
        assert_eq!(app.next_device(true), vec![Action::Engine(Command::Devices { mic: Some("hw:1".into()), speaker: None })]);
        app.on_devices(Event::Devices { microphones: Vec::new(), speakers: Vec::new(), mic: None, speaker: None });
        assert!(app.next_device(true).is_empty(), "no microphone: nothing to ask");
    }
}
