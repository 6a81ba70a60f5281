//! The `termcall` binary: parse the command line, then run the face it asks for.

use std::process::ExitCode;

use clap::Parser;
use termcall::cli::{Cli, Sub};
use termcall::headless::{self, Outcome};
use termcall::media::MediaConfig;

/// termcall's own warnings, and only the errors of the WebRTC stack (which warns about normal events).
const QUIET_LOGS: &str = "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("termcall: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(Cli::parse()));
    // A blocking read of stdin may still be parked: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

async fn run(cli: Cli) -> ExitCode {
    // Headless: logs go to stderr, as stdout belongs to the JSON. The TUI owns the terminal, so
    // its logs go to a file.
    let tui = is_terminal() && !cli.headless && !matches!(cli.command, Some(Sub::Demo { script: true }));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| QUIET_LOGS.into());
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let writer = match (tui, tui.then(log_file).flatten()) {
        (true, Some(file)) => BoxMakeWriter::new(std::sync::Mutex::new(file)),
        (true, None) => BoxMakeWriter::new(std::io::sink),
        (false, _) => BoxMakeWriter::new(std::io::stderr),
    };
    tracing_subscriber::fmt().with_ansi(!tui).with_writer(writer).with_env_filter(filter).init();

    if cli.list_devices {
        return list_devices();
    }
    if let Some(Sub::Demo { script }) = cli.command {
        if script || !is_terminal() {
            return termcall::demo::script::run().await;
        }
        let opts = match cli.tui_options() {
            Ok(o) => o,
            Err(why) => return usage(&why),
        };
        let me = cli.name.clone().or_else(|| std::env::var("USER").ok());
        let me = me.filter(|n| termcall_shared::names::validate_name(n).is_ok() && n != termcall::demo::bot::NAME).unwrap_or_else(|| "you".into());
        return termcall::demo::run_tui(me, opts, MediaConfig { width: 320, height: 240, ..Default::default() }).await;
    }
    let cfg = match cli.engine_config() {
        Ok(c) => c,
        Err(why) => return usage(&why),
    };
    if let Err(why) = cfg.media.check() {
        return usage(&why);
    }
    let outcome = if cli.headless {
        headless::run(cfg).await
    } else {
        if !is_terminal() {
            return usage("the terminal UI needs a terminal on stdin and stdout; use --headless for scripts (see --help)");
        }
        let opts = match cli.tui_options() {
            Ok(o) => o,
            Err(why) => return usage(&why),
        };
        match termcall::tui::run(cfg, opts).await {
            Ok(o) => o,
            Err(why) => {
                eprintln!("termcall: {why}");
                return ExitCode::FAILURE;
            }
        }
    };
    match outcome {
        Outcome::Quit => ExitCode::SUCCESS,
        Outcome::Refused => ExitCode::from(3),
    }
}

/// The TUI's log, `termcall.log` in the temporary directory (appended to).
fn log_file() -> Option<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(std::env::temp_dir().join("termcall.log")).ok()
}

/// Both ends of the terminal are a terminal (not a pipe or a file).
fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// A command-line problem: say it, exit 2.
fn usage(why: &str) -> ExitCode {
    eprintln!("termcall: {why}");
    ExitCode::from(2)
}

/// `--list-devices`: the sound devices, or why there are none to list.
#[cfg(feature = "sound")]
fn list_devices() -> ExitCode {
    match termcall::media::sound::devices() {
        Ok(list) => {
            print!("{list}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("termcall: {why}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "sound"))]
fn list_devices() -> ExitCode {
    usage("this termcall was built without sound support, so it has no devices to list; rebuild with `cargo build --release --features sound` (needs libasound2-dev)")
}
