//! termcall: video calls, voice and chat from a terminal.
//!
//! - [`engine`]: the call engine, with no UI: commands in, events out.
//! - [`tui`]: the terminal UI, the engine's face for people.
//! - [`headless`]: the JSON-lines face of the engine, for scripts and tests.
//! - [`cli`]: the command line.
//! - [`media`]: video and audio sources, codecs, sending, receiving, measuring.
//! - [`demo`]: a hub and a scripted peer on this machine, to see it work with nothing to set up.

pub mod cli;
pub mod demo;
pub mod engine;
pub mod headless;
pub mod media;
pub mod tui;
