//! The printed demo: alice and bob in this process call each other and chat; every step is
//! printed as it happens. What `termcall demo` runs when stdout is not a terminal (or `--script`).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{spawn_hub, user, STEP_TIMEOUT};
use crate::engine::{self, CallState, Command, Event};

/// Runs the script; exits non-zero if any step does not happen in time.
pub async fn run() -> std::process::ExitCode {
    match script().await {
        Ok(()) => {
            println!("\ndemo finished: that was a real hub, real WebRTC and a real data channel on this machine.");
            std::process::ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("demo failed: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Cast {
    rx: mpsc::UnboundedReceiver<(&'static str, Event)>,
    started: Instant,
}

impl Cast {
    /// Prints events until one matches.
    async fn until(&mut self, what: &str, mut pred: impl FnMut(&str, &Event) -> bool) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let (who, ev) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .map_err(|_| format!("timed out waiting for {what}"))?
                .ok_or("the users stopped")?;
            self.print(who, &ev);
            if let Event::Error { fatal: true, message, .. } = &ev {
                return Err(message.clone());
            }
            if pred(who, &ev) {
                return Ok(());
            }
        }
    }

    fn print(&self, who: &str, ev: &Event) {
        let t = self.started.elapsed().as_secs_f32();
        let text = match ev {
            Event::Ready { name } => format!("online as {name}"),
            Event::Roster { users } => {
                let list: Vec<String> = users.iter().map(|u| format!("{} ({})", u.name, serde_json::to_string(&u.state).unwrap_or_default().trim_matches('"'))).collect();
                format!("roster: {}", if list.is_empty() { "nobody else".into() } else { list.join(", ") })
            }
            Event::Incoming { from, .. } => format!("incoming call from {from}"),
            Event::Group { joined, .. } => format!("in the call: {}", joined.join(", ")),
            Event::Left { name, reason } => format!("{name} left the call ({reason})"),
            Event::Call { peer, state, path, reason } => {
                let mut s = format!("call with {peer}: {}", serde_json::to_string(state).unwrap_or_default().trim_matches('"'));
                if let (Some(p), CallState::Connected) = (path, state) {
                    s += &format!(" via {}", serde_json::to_string(p).unwrap_or_default().trim_matches('"'));
                }
                if let Some(r) = reason {
                    s += &format!(" ({r})");
                }
                s
            }
            Event::Chat { from, text } => format!("chat from {from}: {text}"),
            Event::Devices { mic, speaker, .. } => format!("sound devices: microphone {}, speaker {}", mic.as_deref().unwrap_or("none"), speaker.as_deref().unwrap_or("none")),
            Event::Hub { state, url } => format!("hub {url}: {state:?}"),
            Event::Stats { stats: s, path, .. } => format!(
                "receiving video {}x{} at {} fps ({} kbps, {} frames decoded), audio at {} dBov; rtt {} ms, path {}",
                s.video.width,
                s.video.height,
                s.video.fps,
                s.video.kbps,
                s.video.frames_decoded,
                s.audio.level_dbov,
                s.rtt_ms.map_or("?".into(), |r| r.to_string()),
                path.map_or("?", crate::engine::Path::as_str),
            ),
            Event::VideoStarted { peer, width, height } => format!("video from {peer} started: {width}x{height}"),
            Event::Snapshot { path, width, height } => format!("snapshot {width}x{height} written to {path}"),
            Event::Mute { audio, video } => format!("muted: audio {audio}, video {video}"),
            Event::Error { code, message, .. } => format!("error {code}: {message}"),
        };
        println!("{t:6.2}s  {who:<5}  {text}");
    }
}

async fn script() -> Result<(), String> {
    let (mut hub, url) = spawn_hub().await?;
    println!("hub started: {url}\n");
    let started = Instant::now();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut cast = Cast { rx, started };
    let mut senders = Vec::new();
    for (name, auto) in [("alice", false), ("bob", true)] {
        let mut e = engine::start(user(name, &url, auto));
        senders.push(e.commands.clone());
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = e.events.recv().await {
                let _ = tx.send((name, ev));
            }
        });
    }
    let (alice, bob) = (&senders[0], &senders[1]);

    cast.until("alice to see bob online", |who, ev| who == "alice" && matches!(ev, Event::Roster { users } if users.iter().any(|u| u.name == "bob"))).await?;
    println!("{:6.2}s  alice  > call bob", started.elapsed().as_secs_f32());
    let _ = alice.send(Command::Call { to: "bob".into() });
    let call_sent = Instant::now();
    let mut connected = 0;
    cast.until("both to connect", |_, ev| {
        connected += matches!(ev, Event::Call { state: CallState::Connected, .. }) as u32;
        connected == 2
    })
    .await?;
    println!("          call set up in {} ms\n", call_sent.elapsed().as_millis());

    let lines = [("alice", "hi bob, can you read me?"), ("bob", "loud and clear, alice"), ("alice", "chat goes over a WebRTC data channel, peer to peer"), ("bob", "and the hub never sees it")];
    for (who, text) in lines {
        println!("{:6.2}s  {who:<5}  > chat {text:?}", started.elapsed().as_secs_f32());
        let sender = if who == "alice" { alice } else { bob };
        let _ = sender.send(Command::Chat { text: text.into() });
        cast.until("the chat line to arrive", |w, ev| w != who && matches!(ev, Event::Chat { text: t, .. } if t == text)).await?;
    }

    println!("\n{:6.2}s  alice  > hangup", started.elapsed().as_secs_f32());
    let _ = alice.send(Command::Hangup);
    cast.until("bob to see the call end", |w, ev| w == "bob" && matches!(ev, Event::Call { state: CallState::Ended, .. })).await?;
    for s in &senders {
        let _ = s.send(Command::Quit);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = hub.start_kill();
    let _ = hub.wait().await;
    Ok(())
}
