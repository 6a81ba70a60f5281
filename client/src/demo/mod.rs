//! `termcall demo`: a real hub process and a call on this machine, with nothing to set up.
//!
//! - In a terminal it opens the TUI, already calling bob, a scripted peer ([`bot`]) that answers,
//!   sends the test pattern and replies to chat.
//! - Otherwise (or with `--script`) it prints a call between alice and bob step by step ([`script`]).

pub mod bot;
pub mod script;

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command as Process};

use crate::engine::signaling::Login;
use crate::engine::{EngineConfig, IceOptions, RelayMode};
use crate::media::MediaConfig;
use crate::tui::{self, TuiOptions};

const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// The TUI demo: a hub, bob the bot, and you in the TUI calling bob.
pub async fn run_tui(me: String, opts: TuiOptions, media: MediaConfig) -> ExitCode {
    let (mut hub, url) = match spawn_hub().await {
        Ok(h) => h,
        Err(why) => {
            eprintln!("demo failed: {why}");
            return ExitCode::FAILURE;
        }
    };
    let bob = bot::start(user(bot::NAME, &url, true));
    let opts = TuiOptions { autocall: Some(bot::NAME.into()), ..opts };
    let cfg = EngineConfig { media, ..user(&me, &url, false) };
    let result = tui::run(cfg, opts).await;
    bob.abort();
    let _ = hub.start_kill();
    let _ = hub.wait().await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("termcall: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Starts `termcall-hub` from beside this executable on a free loopback port; returns it and its URL.
pub async fn spawn_hub() -> Result<(Child, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let hub_bin = exe.with_file_name("termcall-hub");
    if !hub_bin.exists() {
        return Err(format!("{} is missing: build it with `cargo build --bins`", hub_bin.display()));
    }
    let mut child = Process::new(&hub_bin)
        // Free ports, so that the demo runs beside a hub that holds the defaults.
        .args(["--listen", "127.0.0.1:0", "--turn-port", "0"])
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        // Its log must not land on the TUI's screen.
        .stderr(if std::io::IsTerminal::is_terminal(&std::io::stdout()) { Stdio::null() } else { Stdio::inherit() })
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", hub_bin.display()))?;
    let stdout = child.stdout.take().ok_or("no hub stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(STEP_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| "the hub did not start in time".to_string())?
        .map_err(|e| e.to_string())?
        .ok_or("the hub exited at start")?;
    let url = line.rsplit(' ').next().unwrap_or_default().to_owned();
    Ok((child, url))
}

/// A user of the demo: on loopback, 320x240 video unless said otherwise.
pub fn user(name: &str, url: &str, auto_accept: bool) -> EngineConfig {
    EngineConfig {
        login: Login { url: url.to_owned(), others: Vec::new(), name: name.to_owned(), secret: None, ca: None },
        auto_accept,
        ice: IceOptions { bind: vec!["127.0.0.1:0".into()], relay: RelayMode::Auto },
        media: crate::media::MediaConfig { width: 320, height: 240, ..Default::default() },
    }
}

