//! The sound devices, listed and switched while the engine runs (the `devices` command): a name
//! is checked against the devices there are before anything changes; the engine's media
//! settings take it for the next call, and a call under way switches its microphone and
//! speakers at once.

use super::api::{Event, SoundDevice};
use super::call::CallIn;
use super::{Active, State};
use crate::media::audio::AudioSpec;

/// `default` names the system's default device.
fn named(name: String) -> Option<String> {
    (name != "default").then_some(name)
}

impl State {
    /// Checks `mic` and `speaker` (if given), switches to them, and lists the devices.
    pub(super) async fn devices(&mut self, mic: Option<String>, speaker: Option<String>) {
        let (m, s) = (mic.clone().and_then(named), speaker.clone().and_then(named));
        // Enumerating ALSA devices blocks for a moment: off the runtime's threads.
        let found = tokio::task::spawn_blocking(move || lists(m.as_deref(), s.as_deref())).await;
        let (microphones, speakers) = match found {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return self.emit(Event::error("bad_device", e)),
            Err(e) => return self.emit(Event::error("bad_device", format!("the device check failed: {e}"))),
        };
        let media = self.call.as_ref().and_then(|c: &Active| c.media.as_ref());
        if let Some(mic) = mic.map(named) {
            self.cfg.media.audio = AudioSpec::Microphone(mic.clone());
            if let Some(m) = media {
                m.send(CallIn::Microphone(mic));
            }
        }
        if let Some(spk) = speaker.map(named) {
            self.cfg.media.speaker_device = spk.clone();
            if let Some(m) = media {
                m.send(CallIn::Speaker(spk));
            }
        }
        let mic = match &self.cfg.media.audio {
            AudioSpec::Microphone(name) => Some(name.clone().unwrap_or_else(|| "default".into())),
            _ => None,
        };
        let speaker = Some(self.cfg.media.speaker_device.clone().unwrap_or_else(|| "default".into()));
        self.emit(Event::Devices { microphones, speakers, mic, speaker });
    }
}

#[cfg(feature = "sound")]
fn lists(mic: Option<&str>, speaker: Option<&str>) -> Result<(Vec<SoundDevice>, Vec<SoundDevice>), String> {
    use crate::media::sound;
    if let Some(m) = mic {
        sound::check_microphone(m)?;
    }
    if let Some(s) = speaker {
        sound::check_speaker(s)?;
    }
    sound::device_lists()
}

#[cfg(not(feature = "sound"))]
fn lists(_: Option<&str>, _: Option<&str>) -> Result<(Vec<SoundDevice>, Vec<SoundDevice>), String> {
    Err("this termcall was built without sound support: rebuild with `cargo build --release --features sound` (needs libasound2-dev)".into())
}
