//! The headless face: JSON commands on stdin, JSON events on stdout, one per line.
//! Bad lines get an `error` event and the client goes on; end of input quits cleanly.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::engine::{self, Command, EngineConfig, Event};

/// How the headless client ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Quit on request or at end of input.
    Quit,
    /// The hub refused us for good (name taken, ...).
    Refused,
}

/// Runs the engine with stdin and stdout until quit.
pub async fn run(cfg: EngineConfig) -> Outcome {
    let engine = engine::start(cfg);
    drop(engine.local_video); // no self-view here: the sender then skips copying it
    let commands = engine.commands.clone();
    let (local_tx, local_rx) = mpsc::unbounded_channel();
    tokio::spawn(read_commands(commands, local_tx));
    let outcome = write_events(engine.events, local_rx).await;
    // The events end when the engine lets go of them, which is before it has told the hub
    // goodbye (the hangup of a call in progress): wait for that, as the TUI does.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), engine.task).await;
    outcome
}

/// One line of input as a command, or the error event that answers it.
pub fn parse_line(line: &str) -> Option<Result<Command, Event>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    Some(serde_json::from_str::<Command>(line).map_err(|e| {
        let why = e.to_string();
        let code = if serde_json::from_str::<serde_json::Value>(line).is_ok() { "bad_command" } else { "bad_json" };
        Event::error(code, format!("cannot read {line:.80}: {why}"))
    }))
}

async fn read_commands(commands: mpsc::UnboundedSender<Command>, errors: mpsc::UnboundedSender<Event>) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match parse_line(&line) {
                None => {}
                Some(Ok(cmd)) => {
                    #[allow(clippy::collapsible_match)] // a guard cannot move `cmd`
                    if commands.send(cmd).is_err() {
                        return;
                    }
                }
                Some(Err(ev)) => {
                    let _ = errors.send(ev);
                }
            },
            Ok(None) => break,
            Err(e) => {
                let _ = errors.send(Event::error("bad_input", format!("stdin is not UTF-8 text: {e}")));
                break;
            }
        }
    }
    let _ = commands.send(Command::Quit);
}

async fn write_events(mut events: mpsc::Receiver<Event>, mut local: mpsc::UnboundedReceiver<Event>) -> Outcome {
    let mut out = tokio::io::stdout();
    let mut outcome = Outcome::Quit;
    loop {
        let ev = tokio::select! {
            biased;
            Some(ev) = local.recv() => ev,
            ev = events.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
        };
        if matches!(ev, Event::Error { fatal: true, .. }) {
            outcome = Outcome::Refused;
        }
        let mut line = serde_json::to_string(&ev).unwrap_or_default();
        line.push('\n');
        if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
            break; // nobody reads our output any more
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_commands_or_errors() {
        assert_eq!(parse_line("  "), None);
        assert_eq!(parse_line(r#"{"cmd":"hangup"}"#), Some(Ok(Command::Hangup)));
        let Some(Err(Event::Error { code, .. })) = parse_line("{nope") else { panic!() };
        assert_eq!(code, "bad_json");
        let Some(Err(Event::Error { code, message, .. })) = parse_line(r#"{"cmd":"fly"}"#) else { panic!() };
        assert_eq!(code, "bad_command");
        assert!(message.contains("fly"));
    }
}
