//! The engine's whole interface: the [`Command`]s it takes and the [`Event`]s it emits.
//! Their serde form is the headless JSON-lines protocol, so the TUI and scripts see one engine.

use serde::{Deserialize, Serialize};
use termcall_shared::{Callees, UserInfo};

/// What a user (or a script) asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Ring a user (`"to":"bob"`), start a group call (`"to":["bob","carol"]`), or test your
    /// camera and network with `"to":"echo"`.
    Call { to: Callees },
    /// Ring one more user into the group call we are in.
    Invite { to: String },
    /// Take the incoming call.
    Accept,
    /// Refuse the incoming call.
    Decline,
    /// End the call, ringing or connected.
    Hangup,
    /// Send a chat line to the other party over the data channel.
    Chat { text: String },
    /// Write the newest decoded remote frame to a PNG file; in a group call, `of` names
    /// whose (default: the first participant's).
    Snapshot {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<String>,
    },
    /// Stop (true) or resume (false) sending audio and/or video; a field left out is unchanged.
    Mute {
        #[serde(default)]
        audio: Option<bool>,
        #[serde(default)]
        video: Option<bool>,
    },
    /// The largest picture, in pixels, this face can show of the video it receives (of one
    /// participant with `of`, in a group call): the sender, or the hub, sends no more. The
    /// terminal UI says it for each tile as it is laid out; without it, full size.
    View {
        width: u32,
        height: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<String>,
    },
    /// The sound devices (builds with `sound`). With `mic` and/or `speaker` (a name as
    /// `--list-devices` shows it, or `default`): use those from now on, in this call and the
    /// next; a name that is not there is refused and nothing changes. Either way the `devices`
    /// event lists what there is and what is in use.
    Devices {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mic: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speaker: Option<String>,
    },
    /// Hang up, leave the hub, and stop.
    Quit,
}

/// A microphone or speaker, as `--list-devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoundDevice {
    /// What `--audio mic:NAME`, `--speaker NAME` and the `devices` command take.
    pub name: String,
    pub description: String,
    /// The system's default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Ringing: at the callee (for the caller) or here (for the callee).
    Ringing,
    /// Accepted; the peer connection is being set up.
    Connecting,
    /// Media and chat flow. Sent again when the path changes.
    Connected,
    /// Media stopped (a network change); ICE is restarting and the call goes on.
    /// Chat sent meanwhile is delivered once media is back.
    Reconnecting,
    /// Over; `reason` says why.
    Ended,
}

/// How the media travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Directly between the peers (host, server-reflexive or peer-reflexive candidates).
    P2p,
    /// Through a TURN relay.
    Relay,
    /// Through the hub's TURN relay, carried over TCP (the hub's WebSocket) because UDP is blocked.
    #[serde(rename = "relay-tcp")]
    RelayTcp,
    /// To the hub's media endpoint, which forwards it (group calls, echo).
    Hub,
}

impl Path {
    /// As the status line and the headless `path` field say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::P2p => "p2p",
            Path::Relay => "relay",
            Path::RelayTcp => "relay-tcp",
            Path::Hub => "hub",
        }
    }
}

/// The hub connection's state, as the status line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubState {
    Connected,
    Disconnected,
}

/// Received video, over the last second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoStats {
    /// Pictures decoded since the call connected.
    pub frames_decoded: u64,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    pub kbps: f64,
    /// Capture-to-decode delay, the mean over the pictures of the last second (the sender's
    /// encode time included), when the sender's clock mapping is known.
    pub latency_ms: Option<f64>,
    /// Frames the decoder could not decode since the call connected (broken by a loss).
    #[serde(default)]
    pub decode_errors: u64,
    /// Frames not decoded since the call connected because a loss before them was not
    /// repaired: the picture holds until the keyframe asked for comes.
    #[serde(default)]
    pub frames_held: u64,
    /// The codec it arrives in (`H264`, `VP8`), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// When the last flash of the sync test pattern (`--video sync`) was shown, Unix ms: to be
    /// set against when `--audio sync`'s beep was heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_at_ms: Option<u64>,
}

/// Received audio, over the last second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioStats {
    /// Packets received since the call connected.
    pub packets: u64,
    /// RMS level of the decoded sound (-127 is silence).
    pub level_dbov: f64,
    pub kbps: f64,
    /// How long received audio waits before it plays, ms: the jitter buffer's target, which
    /// grows at once when arrivals vary more and shrinks slowly when they calm.
    #[serde(default)]
    pub jitter_ms: u32,
}

/// What we sent, over the last second, and how it adapts to the network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SentStats {
    /// The codec we send video in (`H264`, `VP8`), once negotiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    pub video_frames: u64,
    /// Raw frames not encoded: the network side was behind, the frame rate was lowered, or an
    /// encoded frame was lost.
    pub video_skipped: u64,
    /// Frames the encoder's own rate control dropped.
    pub encoder_dropped: u64,
    pub video_kbps: f64,
    /// Frames sent over the last second.
    pub fps: f64,
    /// The size and frame rate the encoder uses now: the network or the CPU may have lowered them.
    pub width: u32,
    pub height: u32,
    pub target_fps: f64,
    /// The encoder's bitrate target, kbit/s.
    pub target_kbps: f64,
    /// The encoder's mean quantizer over the second (0–51; high: short of bits), if it encoded.
    pub qp: Option<f64>,
    /// The send-side bandwidth estimate, kbit/s: what the path takes, all our media included.
    pub bwe_kbps: f64,
    /// What holds the estimate where it is.
    pub bwe_limit: BweLimit,
    /// Why the picture is less than configured.
    pub quality_limitation: QualityLimitation,
    /// How long the pacer's queue would take to leave, ms.
    pub pacer_ms: f64,
    /// Packets lost on the way to the receiver, as its transport-wide feedback says (before
    /// retransmissions repair them), percent over the last half second or so.
    pub loss_pct: f64,
    pub audio_packets: u64,
    pub audio_level_dbov: f64,
    /// How much the microphone's echo canceller takes off the echo (ERLE), dB, once it knows
    /// (a microphone with processing on, and something played to cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aec_erle_db: Option<f64>,
}

/// Why what we send is less than configured, as browsers' `qualityLimitationReason` says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityLimitation {
    #[default]
    None,
    /// The network's estimate is too low for the configured size or frame rate.
    Bandwidth,
    /// The encoder cannot keep up with the frame rate.
    Cpu,
}

/// What holds the send estimate where it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BweLimit {
    /// Queueing delay on the path (or the estimate is still climbing).
    #[default]
    Delay,
    /// Heavy packet loss.
    Loss,
    /// The receiver's REMB.
    Remb,
    /// Nothing: the estimate is at our ceiling (`--video-kbps` plus audio).
    Max,
}

/// What one other participant of a group call sent us, over the last second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParticipantStats {
    pub name: String,
    pub video: VideoStats,
    pub audio: AudioStats,
}

/// One second of a call, measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    pub rtt_ms: Option<f64>,
    /// Packets lost on the way to us and not repaired by a retransmission, as a percentage of
    /// those expected.
    pub loss_pct: f64,
    /// In a call through the hub: the totals over the participants below.
    pub video: VideoStats,
    pub audio: AudioStats,
    pub sent: SentStats,
    /// In a call through the hub: each other participant (or `echo`), in the order they came.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<ParticipantStats>,
}

/// What the engine tells its face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Registered at the hub under `name`.
    Ready { name: String },
    /// The other users online, whenever that changes.
    Roster { users: Vec<UserInfo> },
    /// Someone is calling; answer with accept or decline. In a group call, `group` lists the
    /// others already in it or being rung.
    Incoming {
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Vec<String>>,
    },
    /// Who is in our group call now (us included), and who is being rung.
    Group { joined: Vec<String>, ringing: Vec<String> },
    /// Someone left our group call, or will not join it; `reason` as in an ended call.
    Left { name: String, reason: String },
    /// The call's state changed.
    Call {
        peer: String,
        state: CallState,
        /// Known once connected; `null` before.
        path: Option<Path>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A chat line from the other party (in a group call: from the participant named, as the
    /// hub vouches).
    Chat { from: String, text: String },
    /// Once a second while connected.
    Stats {
        peer: String,
        path: Option<Path>,
        #[serde(flatten)]
        stats: CallStats,
    },
    /// The first picture of the peer's video was decoded.
    VideoStarted { peer: String, width: u32, height: u32 },
    /// A snapshot was written.
    Snapshot { path: String, width: u32, height: u32 },
    /// What we send now (after a mute command).
    Mute { audio: bool, video: bool },
    /// The sound devices there are, and the ones in use (`null`: the system's default; no
    /// `mic` when the audio sent is not a microphone's).
    Devices {
        microphones: Vec<SoundDevice>,
        speakers: Vec<SoundDevice>,
        mic: Option<String>,
        speaker: Option<String>,
    },
    /// The hub connection went down or came back.
    Hub { state: HubState, url: String },
    /// Something was refused or went wrong; the engine goes on unless `fatal`.
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fatal: bool,
    },
}

impl Event {
    /// A non-fatal error.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Event::Error { code: code.into(), message: message.into(), fatal: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_the_documented_lines() {
        let cases = [
            (r#"{"cmd":"call","to":"bob"}"#, Command::Call { to: "bob".into() }),
            (r#"{"cmd":"call","to":["bob","carol"]}"#, Command::Call { to: Callees::Group(vec!["bob".into(), "carol".into()]) }),
            (r#"{"cmd":"invite","to":"dave"}"#, Command::Invite { to: "dave".into() }),
            (r#"{"cmd":"snapshot","path":"/tmp/x.png","of":"bob"}"#, Command::Snapshot { path: "/tmp/x.png".into(), of: Some("bob".into()) }),
            (r#"{"cmd":"accept"}"#, Command::Accept),
            (r#"{"cmd":"decline"}"#, Command::Decline),
            (r#"{"cmd":"hangup"}"#, Command::Hangup),
            (r#"{"cmd":"chat","text":"hi"}"#, Command::Chat { text: "hi".into() }),
            (r#"{"cmd":"quit"}"#, Command::Quit),
            (r#"{"cmd":"view","width":80,"height":48,"of":"bob"}"#, Command::View { width: 80, height: 48, of: Some("bob".into()) }),
            (r#"{"cmd":"snapshot","path":"/tmp/x.png"}"#, Command::Snapshot { path: "/tmp/x.png".into(), of: None }),
            (r#"{"cmd":"mute","audio":true}"#, Command::Mute { audio: Some(true), video: None }),
            (r#"{"cmd":"mute","video":false}"#, Command::Mute { audio: None, video: Some(false) }),
            (r#"{"cmd":"devices"}"#, Command::Devices { mic: None, speaker: None }),
            (r#"{"cmd":"devices","speaker":"pulse"}"#, Command::Devices { mic: None, speaker: Some("pulse".into()) }),
        ];
        for (line, cmd) in cases {
            assert_eq!(serde_json::from_str::<Command>(line).unwrap(), cmd, "{line}");
        }
        assert!(serde_json::from_str::<Command>(r#"{"cmd":"fly"}"#).is_err());
    }

    #[test]
    fn events_have_the_documented_form() {
        let e = Event::Call { peer: "bob".into(), state: CallState::Connecting, path: None, reason: None };
        assert_eq!(serde_json::to_value(e).unwrap(), json!({"event":"call","peer":"bob","state":"connecting","path":null}));
        let e = Event::Call { peer: "bob".into(), state: CallState::Ended, path: Some(Path::P2p), reason: Some("hangup".into()) };
        assert_eq!(serde_json::to_value(e).unwrap()["reason"], "hangup");
        assert_eq!(serde_json::to_value(Event::error("x", "y")).unwrap(), json!({"event":"error","code":"x","message":"y"}));
        let e = Event::Stats { peer: "bob".into(), path: Some(Path::Relay), stats: CallStats::default() };
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["path"], "relay");
        assert_eq!(v["video"]["frames_decoded"], 0);
        assert!(v["video"]["latency_ms"].is_null());
        assert!(v["audio"]["level_dbov"].is_number());
    }
}
