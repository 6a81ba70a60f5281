//! The `termcall-hub` binary: parses the command line, sets up logging, serves until a signal.

use clap::Parser;
use termcall_hub::cluster::ClusterSettings;
use termcall_hub::config::{Config, Tool};
use termcall_hub::server::{self, Security};
use tracing::{error, info};

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(serve()),
        Err(e) => {
            eprintln!("termcall-hub: cannot start the runtime: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// glibc gives each thread that allocates its own arena; thousands of connections whose buffers
/// are freed on one worker and reused on another then leave most arenas half empty. Two arenas
/// brought the 5,000-client benchmark from 280 MB to 243 MB (must run before any thread starts).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

async fn serve() -> std::process::ExitCode {
    let mut cfg = Config::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Some(tool) = &cfg.tool {
        return run_tool(tool);
    }
    if let Some(fds) = raise_fd_limit(cfg.max_connections) {
        let fit = cfg.media_peers_within(fds);
        if fit < cfg.max_media_peers {
            tracing::warn!(
                "the file descriptor limit ({fds}) leaves room for {fit} media peer connections after --max-connections ({}): \
                 --max-media-peers lowered from {} (raise the limit with ulimit -n)",
                cfg.max_connections,
                cfg.max_media_peers
            );
            cfg.max_media_peers = fit;
        }
    }
    let security = match Security::load(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("termcall-hub: {e}");
            return std::process::ExitCode::from(2);
        }
    };

    let external_ice = match cfg.external_ice() {
        Ok(ice) => ice,
        Err(e) => {
            eprintln!("termcall-hub: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if !external_ice.turn.is_empty() && external_ice.creds.is_none() {
        tracing::warn!("--ice-server {} without --turn-secret: clients get no credentials for it (give the secret its use-auth-secret shares)", external_ice.turn.join(" "));
    }
    let listener = match server::bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {}: {e}", cfg.listen);
            eprintln!("termcall-hub: cannot listen on {}: {e}", cfg.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let metrics = std::sync::Arc::new(termcall_hub::metrics::Metrics::default());
    if let Err(e) = serve_metrics(&cfg, metrics.clone()).await {
        error!("{e}");
        eprintln!("termcall-hub: {e}");
        return std::process::ExitCode::from(2);
    }
    let ws_port = listener.local_addr().map_or(0, |a| a.port());
    let turn = match server::start_turn(&cfg, ws_port, security.tls.clone(), metrics.clone()).await {
        Ok(t) => t,
        Err(e) => {
            error!("{e:#}");
            eprintln!("termcall-hub: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    if !cfg.listen.ip().is_loopback() && security.users.is_none() {
        tracing::warn!("listening on a non-loopback address without access control: anyone who can reach {addr} can join (see --users)");
    }
    if let Some(users) = &security.users {
        info!("access control: {} users", users.len());
    }
    info!("listening on {addr}");

    match &turn {
        Some(t) => {
            info!("STUN/TURN on udp {}", t.addr);
            if t.streams().is_some() {
                info!("TURN also on tcp {} (and tls, with a certificate), and over the WebSocket at {}", t.addr, termcall_hub::turn::STREAM_PATH);
            }
        }
        None => info!("no STUN/TURN server (--no-turn)"),
    }
    let scheme = if security.tls.is_some() { "wss" } else { "ws" };
    cfg.cluster_settings = match &cfg.cluster {
        None => None,
        Some(redis) => match ClusterSettings::new(redis, cfg.node_id.as_deref(), cfg.public_url.as_deref(), &format!("{scheme}://{addr}/ws")) {
            Ok(c) => {
                info!(node = %c.node, url = %c.url, "cluster through Redis at {}", c.redis);
                if cfg.turn_secret.is_none() && turn.is_some() {
                    tracing::warn!("--cluster without --turn-secret: this hub's TURN relay accepts only its own users' credentials; give every hub the same --turn-secret");
                }
                Some(c)
            }
            Err(e) => {
                error!("{e}");
                eprintln!("termcall-hub: {e}");
                return std::process::ExitCode::from(2);
            }
        },
    };
    // One line on stdout for scripts and tests: where to connect (the log above is written by then).
    println!("termcall-hub listening on {scheme}://{addr}/ws");
    server::run(listener, cfg, turn, external_ice, security, metrics, shutdown_signal()).await;
    info!("stopped");
    std::process::ExitCode::SUCCESS
}

/// Binds `--metrics-listen` and serves it in the background. Only an address the operator
/// chose is an error when taken; the default one may belong to another hub on this machine.
async fn serve_metrics(cfg: &Config, metrics: std::sync::Arc<termcall_hub::metrics::Metrics>) -> Result<(), String> {
    let Some(addr) = cfg.metrics_listen.0 else {
        info!("no metrics listener (--metrics-listen off)");
        return Ok(());
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            let bound = listener.local_addr().map_or(addr, |a| a);
            info!("metrics on http://{bound}/metrics");
            tokio::spawn(termcall_hub::admin::serve(listener, metrics));
            Ok(())
        }
        Err(e) if cfg.metrics_listen_is_default() => {
            tracing::warn!("no metrics: cannot listen on {addr} ({e}); choose another with --metrics-listen ADDR");
            Ok(())
        }
        Err(e) => Err(format!("cannot listen on {addr} (--metrics-listen): {e}")),
    }
}

/// Each connection is a file descriptor: lift the soft limit to the hard one, and say so when
/// even that is below --max-connections. Gives the limit in force, when it can be read.
fn raise_fd_limit(max_connections: usize) -> Option<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    let soft = unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        lim.rlim_cur
    };
    if (soft as usize) < max_connections + 64 {
        tracing::warn!("the file descriptor limit ({soft}) is below --max-connections ({max_connections}): raise it (ulimit -n) or lower the option");
    }
    Some(soft)
}

/// `add-user` and `gen-cert`.
fn run_tool(tool: &Tool) -> std::process::ExitCode {
    let result = match tool {
        Tool::AddUser { name, users } => termcall_hub::users::add_user(users, name).map(|(secret, replaced)| {
            let what = if replaced { "has a new secret (the old one no longer works)" } else { "added" };
            eprintln!("{name} {what} in {}. Their secret, shown only this once:", users.display());
            println!("{secret}");
            eprintln!("They log in with: termcall --name {name} --secret <that secret>  (or TERMCALL_SECRET)");
        }),
        Tool::GenCert { cert, key, hosts } => termcall_hub::tls::write_self_signed(cert, key, hosts).map(|()| {
            eprintln!("wrote {} and {} for {}", cert.display(), key.display(), hosts.join(", "));
            eprintln!("serve with: termcall-hub --tls-cert {} --tls-key {}", cert.display(), key.display());
            eprintln!("clients:    termcall --hub wss://HOST:7878/ws --ca {}", cert.display());
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("termcall-hub: {e}");
            std::process::ExitCode::from(2)
        }
    }
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
