//! The `termcall` command line.

use clap::{Parser, Subcommand};

use crate::engine::signaling::Login;
use crate::engine::{EngineConfig, IceOptions, RelayMode};
use crate::media::video_codec::VideoCodec;
use crate::media::audio::AudioSpec;
use crate::media::source::{parse_size, VideoSpec};
use crate::media::MediaConfig;
use termcall_shared::media::interceptors::Feedback;
use crate::tui::color::ColorMode;
use crate::tui::TuiOptions;

/// termcall: video calls, voice and chat from a terminal, over WebRTC.
#[derive(Debug, Parser)]
#[command(name = "termcall", version, about, after_help = HEADLESS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// The hub's WebSocket URL. Repeat it for the hubs of a cluster: the first is used, and
    /// when the one in use is lost, the next (your call goes on, and is claimed back there).
    #[arg(long, default_value = "ws://127.0.0.1:7878/ws", global = true)]
    pub hub: Vec<String>,

    /// Your name on the hub (letters, digits, '-', '_', '.'; at most 32). Defaults to $USER.
    #[arg(long)]
    pub name: Option<String>,

    /// Your secret, for a hub with access control.
    #[arg(long, env = "TERMCALL_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub secret: Option<String>,

    /// A PEM file of certificates to trust for a wss:// hub, besides the system's: the hub's own
    /// certificate when it is self-signed (`termcall-hub gen-cert` writes one).
    #[arg(long, value_name = "FILE", global = true)]
    pub ca: Option<std::path::PathBuf>,

    /// No terminal UI: read JSON commands on stdin, write JSON events on stdout.
    #[arg(long)]
    pub headless: bool,

    /// Accept every incoming call at once.
    #[arg(long)]
    pub auto_accept: bool,

    /// Local address to gather ICE host candidates on (repeatable). Default: loopback when the
    /// hub is on loopback, else every interface (0.0.0.0).
    #[arg(long = "ice-bind", value_name = "IP")]
    pub ice_bind: Vec<String>,

    /// When media may go through the hub's TURN relay: auto (directly when the peers reach
    /// each other, else relayed; when UDP to the hub is blocked, relayed over its WebSocket),
    /// always (only relayed, which hides your address from the peer), never (directly or not
    /// at all), tcp (only relayed, over the hub's WebSocket, as auto does when UDP is blocked).
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never", "tcp"])]
    pub relay: String,

    /// Video to send: testsrc (a test pattern), sync (dark, flashing white every 2 s with
    /// `--audio sync`'s beep, to check lip sync), none, a .y4m file (looped), a .png/.jpg image,
    /// or a V4L2 camera /dev/videoN (builds with `--features camera`).
    #[arg(long, default_value = "testsrc")]
    pub video: String,

    /// Video size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480")]
    pub video_size: String,

    /// Video frames a second.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,

    /// The most video may use, kbit/s; the network's estimate decides below it. Default: by size,
    /// as browsers do (600 up to 320x240, 1700 up to 640x480, 2000 up to 960x540, else 2500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=20000))]
    pub video_kbps: Option<u32>,

    /// Video codecs to offer and accept: auto (H.264, then VP8: the peer's first common one is
    /// used), h264 or vp8 (only that one; a peer without it gets audio and chat, no video).
    #[arg(long, default_value = "auto", value_parser = ["auto", "h264", "vp8"])]
    pub video_codec: String,

    /// Audio to send: tone (a quiet 440 Hz sine), sync (silence, and a 100 ms beep every 2 s with
    /// `--video sync`'s flash), none, a .wav file (looped), or mic (the default microphone;
    /// builds with `--features sound`).
    #[arg(long, default_value = "tone")]
    pub audio: String,

    /// Video colours in the terminal: auto (truecolor when COLORTERM or TERM says so, else 256),
    /// truecolor, or 256.
    #[arg(long, default_value = "auto", global = true)]
    pub color: String,

    /// How video is drawn: auto (asks the terminal: kitty graphics, iTerm2 images or sixel where
    /// it shows them, else sextants or half blocks; cells over SSH and inside tmux), kitty,
    /// sixel, iterm (real pixels), sextant (six pixels a cell: needs a font with Unicode 13's
    /// block sextants) or halfblock (two pixels a cell: every terminal and font).
    #[arg(long, default_value = "auto", global = true)]
    pub graphics: String,

    /// Video redraws a second at most (the rest of the UI redraws whenever it changes).
    #[arg(long, default_value_t = 15, global = true, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub max_fps: u32,

    /// How far (0-255, per colour channel) a cell must change before it is redrawn: higher
    /// sends less to the terminal (for slow SSH links), lower is more faithful.
    #[arg(long, default_value_t = crate::tui::video::DEFAULT_THRESHOLD, global = true)]
    pub redraw_threshold: u8,

    /// Do not play received audio (it is played only in builds with `--features sound`).
    #[arg(long)]
    pub no_speaker: bool,

    /// Send the microphone as it is: no echo cancellation, noise suppression or gain control
    /// (they are on by default, as in a browser; for a headset, or to compare).
    #[arg(long)]
    pub no_aec: bool,

    /// Show received video as soon as it is decoded, not in step with its sound (lip sync is
    /// on by default with a speaker, as in a browser; to compare).
    #[arg(long)]
    pub no_lip_sync: bool,

    /// The speaker to play received audio on, by the name `--list-devices` shows (default: the
    /// system's default output).
    #[arg(long, value_name = "NAME")]
    pub speaker: Option<String>,

    /// List the microphones and speakers there are, with the names `--audio mic:NAME` and
    /// `--speaker NAME` take, and exit (builds with `--features sound`).
    #[arg(long)]
    pub list_devices: bool,

    /// The feedback the sender adapts to the network from: transport-cc (transport-wide
    /// feedback, as browsers send it), or remb (only REMB, as older endpoints; for testing).
    #[arg(long, default_value = "transport-cc", value_parser = ["transport-cc", "remb"])]
    pub feedback: String,

    /// How often, in milliseconds, a call reports its figures (the `stats` event; 100 to 60000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub stats_every: u64,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Start a hub and a scripted peer (bob) on this machine, and open the terminal UI in a call
    /// with bob. Without a terminal (or with --script) it prints a call between alice and bob.
    Demo {
        /// Print a scripted call instead of opening the terminal UI.
        #[arg(long)]
        script: bool,
    },
}

const HEADLESS_HELP: &str = "\
Headless mode reads one JSON command per line:
  {\"cmd\":\"call\",\"to\":\"bob\"}  {\"cmd\":\"accept\"}  {\"cmd\":\"decline\"}  {\"cmd\":\"hangup\"}
  {\"cmd\":\"chat\",\"text\":\"hi\"}  {\"cmd\":\"snapshot\",\"path\":\"/tmp/x.png\"}
  {\"cmd\":\"mute\",\"audio\":true}  {\"cmd\":\"mute\",\"video\":false}  {\"cmd\":\"quit\"}
  {\"cmd\":\"view\",\"width\":160,\"height\":96}  (the most you show; \"of\":\"bob\" for one participant)
and writes one JSON event per line: ready, roster, incoming, call, chat, stats (each second
in a call, or --stats-every), snapshot, mute, hub, error.
Logs go to stderr in headless mode, and to termcall.log in the temporary directory (/tmp)\nwith the terminal UI; set RUST_LOG=debug for more.";

impl Cli {
    /// The TUI's options, or why they are wrong.
    pub fn tui_options(&self) -> Result<TuiOptions, String> {
        Ok(TuiOptions {
            color: ColorMode::parse(
                &self.color,
                std::env::var("COLORTERM").ok().as_deref(),
                std::env::var("TERM").ok().as_deref(),
            )?,
            graphics: crate::tui::graphics::parse(&self.graphics)?,
            max_fps: self.max_fps,
            threshold: self.redraw_threshold,
            autocall: None,
        })
    }

    /// The engine configuration this command line asks for, or why it is wrong.
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        let name = match &self.name {
            Some(n) => n.clone(),
            None => std::env::var("USER").unwrap_or_else(|_| "user".into()),
        };
        termcall_shared::names::validate_name(&name).map_err(|why| format!("bad --name {name:?}: {why}"))?;
        for hub in &self.hub {
            if !(hub.starts_with("ws://") || hub.starts_with("wss://")) {
                return Err(format!("bad --hub {hub:?}: give a ws:// or wss:// URL, like ws://127.0.0.1:7878/ws"));
            }
            if self.ca.is_some() && !hub.starts_with("wss://") {
                return Err(format!("--ca is for a wss:// hub, and --hub is {hub}"));
            }
        }
        let (hub, others) = self.hub.split_first().ok_or("give a hub: --hub ws://HOST:PORT/ws")?;
        let (width, height) = parse_size(&self.video_size)?;
        let media = MediaConfig {
            video: VideoSpec::parse(&self.video)?,
            width,
            height,
            fps: self.fps,
            video_kbps: self.video_kbps,
            audio: AudioSpec::parse(&self.audio)?,
            voice_processing: !self.no_aec,
            speaker: !self.no_speaker,
            lip_sync: !self.no_lip_sync,
            speaker_device: self.speaker.clone(),
            feedback: if self.feedback == "remb" { Feedback::RembOnly } else { Feedback::TransportWide },
            stats_every: std::time::Duration::from_millis(self.stats_every),
            video_codecs: match self.video_codec.as_str() {
                "auto" => VideoCodec::ALL.to_vec(),
                one => vec![one.parse::<VideoCodec>()?],
            },
        };
        Ok(EngineConfig {
            login: Login { url: hub.clone(), others: others.to_vec(), name, secret: self.secret.clone(), ca: self.ca.clone() },
            auto_accept: self.auto_accept,
            ice: IceOptions { bind: ice_bind(hub, &self.ice_bind), relay: RelayMode::parse(&self.relay)? },
            media,
        })
    }
}

/// The addresses to gather on: as given (an IP gets port 0), else loopback for a hub on
/// loopback (both ends are then on this machine), else every interface.
pub fn ice_bind(hub: &str, given: &[String]) -> Vec<String> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|a| if a.parse::<std::net::SocketAddr>().is_ok() { a.clone() } else if a.contains(':') { format!("[{a}]:0") } else { format!("{a}:0") })
            .collect();
    }
    let host = hub.split("://").nth(1).unwrap_or("").split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    vec![if loopback { "127.0.0.1:0".into() } else { "0.0.0.0:0".into() }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hubs_keep_ice_on_loopback() {
        assert_eq!(ice_bind("ws://127.0.0.1:7878/ws", &[]), vec!["127.0.0.1:0"]);
        assert_eq!(ice_bind("ws://localhost:1/ws", &[]), vec!["127.0.0.1:0"]);
        assert_eq!(ice_bind("wss://hub.example.org/ws", &[]), vec!["0.0.0.0:0"]);
        assert_eq!(ice_bind("x", &["10.0.0.2".into(), "::1".into(), "127.0.0.1:5000".into()]), vec!["10.0.0.2:0", "[::1]:0", "127.0.0.1:5000"]);
    }

    #[test]
    fn a_secret_may_start_with_a_hyphen() {
        let cli = Cli::parse_from(["termcall", "--name", "a", "--secret", "-Rx_y"]);
        assert_eq!(cli.secret.as_deref(), Some("-Rx_y"));
    }

    #[test]
    fn bad_names_and_urls_are_refused() {
        let cli = Cli::parse_from(["termcall", "--name", "a b"]);
        assert!(cli.engine_config().unwrap_err().contains("bad --name"));
        let cli = Cli::parse_from(["termcall", "--name", "a", "--hub", "http://x"]);
        assert!(cli.engine_config().unwrap_err().contains("bad --hub"));
    }
}
