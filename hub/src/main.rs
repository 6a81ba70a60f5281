//! The `termcall-hub` binary: parses the command line, sets up logging, serves until a signal.

use clap::Parser;
use termcall_hub::{config::Config, server};
use tracing::{error, info};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let listener = match server::bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {}: {e}", cfg.listen);
            eprintln!("termcall-hub: cannot listen on {}: {e}", cfg.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let metrics = std::sync::Arc::new(termcall_hub::metrics::Metrics::default());
    let ws_port = listener.local_addr().map_or(0, |a| a.port());
    let turn = match server::start_turn(&cfg, ws_port, metrics.clone()).await {
        Ok(t) => t,
        Err(e) => {
            error!("{e:#}");
            eprintln!("termcall-hub: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    if !cfg.listen.ip().is_loopback() {
        tracing::warn!("listening on a non-loopback address without access control: anyone who can reach {addr} can join");
    }
    info!("listening on {addr}");

    // One line on stdout for scripts and tests: where to connect.
    println!("termcall-hub listening on ws://{addr}/ws");
    match &turn {
        Some(t) => info!("STUN/TURN on udp {}", t.addr),
        None => info!("no STUN/TURN server (--no-turn)"),
    }
    server::run(listener, cfg, turn, metrics, shutdown_signal()).await;
    info!("stopped");
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT"),
        _ = term.recv() => info!("SIGTERM"),
    }
}
