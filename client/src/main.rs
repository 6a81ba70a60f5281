//! The `termcall` binary: parse the command line, then run the face it asks for.

use std::process::ExitCode;

use clap::Parser;
use termcall::cli::{Cli, Sub};
use termcall::headless::{self, Outcome};

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
    // Logs go to stderr only: stdout belongs to the headless JSON.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| QUIET_LOGS.into()))
        .init();

    if let Some(Sub::Demo) = cli.command {
        return termcall::demo::run().await;
    }
    let cfg = match cli.engine_config() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("termcall: {why}");
            return ExitCode::from(2);
        }
    };
    if let Err(why) = cfg.media.check() {
        eprintln!("termcall: {why}");
        return ExitCode::from(2);
    }
    if !cli.headless {
        eprintln!("termcall: the terminal UI is not part of this build yet; run with --headless (see --help), or try `termcall demo`");
        return ExitCode::from(2);
    }
    match headless::run(cfg).await {
        Outcome::Quit => ExitCode::SUCCESS,
        Outcome::Refused => ExitCode::from(3),
    }
}
