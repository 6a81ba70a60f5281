//! termcall-load: drives a hub with many signaling clients, as a team of thousands would, and
//! reports what it cost the hub. Bounded in count (`--clients`, `--calls`) and time (`--deadline-secs`).
//!
//! - [`bot`]: one simulated client: connect, hello, count what arrives, answer calls.
//! - [`probe`]: the hub process's memory and CPU from /proc, and its `/metrics`.
//! - [`run`]: the phases: mass join, hold, a probe join timed to every client, calls, leave.

mod bot;
mod probe;
mod run;

use clap::Parser;

/// What to run against which hub.
#[derive(Debug, Clone, Parser)]
#[command(name = "termcall-load", version, about)]
pub struct Opts {
    /// The hub's WebSocket URL (ws:// only: this is for a hub on loopback or a LAN). Repeat it
    /// for the hubs of a cluster: client i goes to hub i mod n, the timed join to the first,
    /// and calls are made both between hubs and within one.
    #[arg(long, default_value = "ws://127.0.0.1:7878/ws")]
    pub hub: Vec<String>,

    /// Clients to connect and hold.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,

    /// New connections a second during the mass join.
    #[arg(long, default_value_t = 1000)]
    pub connect_rate: u32,

    /// How long to hold every client connected and idle, measuring the hub, in seconds.
    #[arg(long, default_value_t = 10)]
    pub hold_secs: u64,

    /// Calls to make between pairs of clients after the hold (each: ring, accept, an offer and
    /// an answer relayed, hang up).
    #[arg(long, default_value_t = 100)]
    pub calls: usize,

    /// How many times to make the calls (the same pairs each round), for more samples from
    /// few clients.
    #[arg(long, default_value_t = 1)]
    pub call_rounds: usize,

    /// How many of the calls to ring at once (the next wave once these are accepted); 0: all.
    #[arg(long, default_value_t = 0)]
    pub calls_at_once: usize,

    /// The hub's process id, to report its memory and CPU (e.g. `$(pidof termcall-hub)`);
    /// one for each --hub, in the same order.
    #[arg(long)]
    pub hub_pid: Vec<u32>,

    /// The cluster's Redis (HOST:PORT), to report its memory and commands a second.
    #[arg(long, value_name = "HOST:PORT")]
    pub redis: Option<String>,

    /// Names are PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "load")]
    pub prefix: String,

    /// Give up (and say so) after this many seconds in all.
    #[arg(long, default_value_t = 300)]
    pub deadline_secs: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = Opts::parse();
    if let Some(bad) = opts.hub.iter().find(|h| !h.starts_with("ws://")) {
        eprintln!("termcall-load: --hub must be a ws:// URL, not {bad}");
        return std::process::ExitCode::from(2);
    }
    if !opts.hub_pid.is_empty() && opts.hub_pid.len() != opts.hub.len() {
        eprintln!("termcall-load: give one --hub-pid for each --hub, or none");
        return std::process::ExitCode::from(2);
    }
    raise_fd_limit();
    let deadline = std::time::Duration::from_secs(opts.deadline_secs);
    match tokio::time::timeout(deadline, run::run(&opts)).await {
        Ok(Ok(report)) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("termcall-load: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("termcall-load: not done within --deadline-secs {}", opts.deadline_secs);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Thousands of sockets need more than the usual 1,024 descriptors: take the hard limit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
