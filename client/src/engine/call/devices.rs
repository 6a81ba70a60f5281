//! A call's microphone and speakers, switched mid-call (the `devices` command): the new
//! microphone is opened off the call's task and handed to the audio thread, which takes it at
//! its next frame; every received audio stream follows the speaker's name.

use super::{Call, CallOut};
use crate::media::audio::{AudioSource, AudioSpec};

impl Call<'_> {
    /// Sends from the microphone `name` (`None`: the default) from now on. If it cannot be
    /// opened the call keeps what it sends and says why.
    pub(super) fn switch_microphone(&mut self, name: Option<String>) {
        self.media.audio = AudioSpec::Microphone(name.clone());
        if !self.sending.as_ref().is_some_and(|s| s.audio) {
            // Nothing is sent yet (the call is not connected): it starts with this one.
            return;
        }
        let (controls, out, id, processing) = (self.controls.clone(), self.out.clone(), self.id, self.media.voice_processing);
        tokio::task::spawn_blocking(move || match AudioSource::open(&AudioSpec::Microphone(name), processing) {
            Ok(Some(source)) => controls.offer_audio(source),
            Ok(None) => {}
            Err(e) => drop(out.send((id, CallOut::Warning("device_failed", format!("{e}; the call keeps its microphone"))))),
        });
    }

    /// Plays on the speaker `name` (`None`: the default) from now on.
    pub(super) fn switch_speaker(&mut self, name: Option<String>) {
        self.media.speaker_device = name.clone();
        self.speaker.send_replace(name);
    }
}
