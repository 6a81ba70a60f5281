//! The hub's command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// termcall-hub: the roster and signaling relay for termcall.
#[derive(Debug, Clone, Parser)]
#[command(name = "termcall-hub", version, about)]
pub struct Config {
    /// Address to serve the WebSocket (/ws) and health check (/healthz) on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// How often the hub pings each client, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub ping_interval_ms: u64,

    /// A client silent this long (milliseconds, no pong nor message) is taken for dead:
    /// its calls end and it leaves the roster.
    #[arg(long, default_value_t = 1500)]
    pub dead_after_ms: u64,

    /// How long a call may ring unanswered, in seconds.
    #[arg(long, default_value_t = 30)]
    pub ring_timeout_secs: u64,

    /// STUN/TURN URLs handed to clients in their welcome (repeatable). Empty by default:
    /// on one machine or one LAN none is needed, and the hub never hands out a public server.
    #[arg(long = "ice-server")]
    pub ice_servers: Vec<String>,
}

impl Config {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(50))
    }
    pub fn dead_after(&self) -> Duration {
        Duration::from_millis(self.dead_after_ms.max(self.ping_interval_ms * 2))
    }
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_secs)
    }
}
