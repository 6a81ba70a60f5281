//! The hub's command line.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipnet::IpNet;

use crate::ice::ExternalIce;
use crate::turn::credentials::Credentials;
use crate::turn::policy::PeerPolicy;
use crate::turn::quota::Limits;
use crate::turn::TurnSettings;

/// termcall-hub: the roster and signaling relay for termcall.
#[derive(Debug, Clone, Parser)]
#[command(name = "termcall-hub", version, about, args_conflicts_with_subcommands = true)]
pub struct Config {
    #[command(subcommand)]
    pub tool: Option<Tool>,

    /// Address to serve the WebSocket (/ws) and health check (/healthz) on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Serve wss:// with this certificate chain (PEM); needs --tls-key.
    /// `termcall-hub gen-cert` makes a self-signed pair.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Let in only the users in FILE, each with its secret (made by `termcall-hub add-user`).
    /// With it, a second login under a name replaces the first. Without it the hub is open
    /// to anyone who can reach it, and a second login under a taken name is refused.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

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
    /// With --turn-secret, `turn:`/`turns:` URLs get TURN REST credentials for each user, as
    /// coturn's `use-auth-secret` with the same `static-auth-secret` expects.
    #[arg(long = "ice-server")]
    pub ice_servers: Vec<String>,

    /// Signaling messages a second one connection may send (a token bucket); more are dropped
    /// with `rate_limited`, and a client that keeps it up is disconnected.
    #[arg(long, default_value_t = 20)]
    pub rate_limit: u32,

    /// How many messages a connection may send at once, above the rate.
    #[arg(long, default_value_t = 50)]
    pub rate_burst: u32,

    /// WebSocket connections the hub accepts at once; more get HTTP 503.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,

    /// Web origins allowed to open the WebSocket from a browser (repeatable), e.g.
    /// https://team.example.org. A handshake with another Origin header gets HTTP 403.
    /// Clients that send no Origin (termcall itself) are not affected. Default: any origin.
    #[arg(long = "allow-origin")]
    pub allow_origins: Vec<String>,

    /// UDP port of the embedded STUN/TURN server, on the --listen address. 0 picks a free port.
    #[arg(long, default_value_t = 3478)]
    pub turn_port: u16,

    /// Run no STUN/TURN server: calls then work only where peers reach each other directly.
    #[arg(long)]
    pub no_turn: bool,

    /// The address clients are told to reach the STUN/TURN server and relays at
    /// (the hub's public address behind a 1:1 NAT). Default: the --listen address.
    #[arg(long)]
    pub public_ip: Option<IpAddr>,

    /// UDP ports TURN relays are made in, as MIN-MAX.
    #[arg(long, default_value = "49152-65535", value_parser = parse_port_range)]
    pub relay_ports: RangeInclusive<u16>,

    /// Let the relay reach peers in this range, which would otherwise be refused because it is
    /// loopback, private or link-local (repeatable). E.g. 10.0.0.0/8 for a hub on a LAN.
    #[arg(long = "allow-peer")]
    pub allow_peers: Vec<IpNet>,

    /// How long the TURN credentials in a welcome stay valid, in seconds
    /// (a client gets fresh ones each time it connects).
    #[arg(long, default_value_t = 86_400)]
    pub turn_ttl_secs: u64,

    /// The secret that signs TURN credentials, for the embedded server and for every `turn:`
    /// or `turns:` --ice-server. Default: a random one per start, so credentials die with the
    /// process; set one to share it with other hubs or an external TURN server (coturn).
    #[arg(long, env = "TERMCALL_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Relay allocations one user may hold at once.
    #[arg(long, default_value_t = 16)]
    pub turn_user_allocations: usize,

    /// Bandwidth one user's relays may carry, both directions together, in kbit/s.
    #[arg(long, default_value_t = 20_000)]
    pub turn_user_kbps: u64,

    /// Media peer connections (group calls and echo, one per participant, each a UDP socket)
    /// the hub holds at once; joins past it are refused with a clear error. Lowered at start to
    /// what the file descriptor limit leaves after --max-connections.
    #[arg(long, default_value_t = 1_000)]
    pub max_media_peers: usize,

    /// The most people in one group call (at least 2). The hub forwards each one's media to
    /// all the others, so its upload grows with the square of this.
    #[arg(long, default_value_t = crate::core::DEFAULT_MAX_GROUP)]
    pub max_group: usize,

    /// Where to serve Prometheus metrics (/metrics, and /healthz), apart from the public
    /// listener, which does not serve them. `off` serves none. If the default port is taken
    /// (another hub on this machine), the hub runs without metrics and says so.
    #[arg(long, default_value = DEFAULT_METRICS_LISTEN, value_name = "ADDR|off", value_parser = parse_metrics_listen)]
    pub metrics_listen: MetricsListen,

    /// Join the other hubs that share this Redis (redis://HOST:PORT): one roster across them,
    /// calls between their users, group calls on the least loaded one, and a hub's users
    /// moving to the others when it stops. Give every hub the same --turn-secret. Without
    /// it this hub works alone.
    #[arg(long, value_name = "redis://HOST:PORT")]
    pub cluster: Option<String>,

    /// This hub's name in its cluster, unique there. Default: the host and port of --public-url.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub node_id: Option<String>,

    /// The URL clients (and their media) reach this hub at, told to those of other hubs whose
    /// group call lives here. Default: the address it listens on.
    #[arg(long, value_name = "ws://HOST:PORT/ws", requires = "cluster")]
    pub public_url: Option<String>,

    /// `--cluster`, `--node-id` and `--public-url` checked, once the hub knows where it listens.
    #[arg(skip)]
    pub cluster_settings: Option<crate::cluster::ClusterSettings>,
}

/// `--metrics-listen`: an address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

/// Loopback, on the port Prometheus exporters of this kind conventionally use.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// File descriptors kept for everything but connections and media peers.
const FD_RESERVE: usize = 256;

fn parse_metrics_listen(s: &str) -> Result<MetricsListen, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(MetricsListen(None));
    }
    s.parse().map(|a| MetricsListen(Some(a))).map_err(|_| format!("{s:?} is not an address like 127.0.0.1:9464 (or off)"))
}

impl Config {
    /// Whether `--metrics-listen` is the default (whose port may be taken by another hub).
    pub fn metrics_listen_is_default(&self) -> bool {
        Some(self.metrics_listen) == parse_metrics_listen(DEFAULT_METRICS_LISTEN).ok()
    }
}

/// The hub's other jobs, run instead of serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Tool {
    /// Give a user a new secret in the users file (made if missing) and print it once.
    /// A running hub picks the change up at the user's next login.
    AddUser {
        /// The user's name, as they log in with.
        name: String,
        /// The users file, as given to the hub's --users.
        #[arg(long, value_name = "FILE", default_value = "termcall-users")]
        users: PathBuf,
    },
    /// Write a self-signed certificate and key for --tls-cert/--tls-key. Clients then pass
    /// the certificate with `termcall --ca FILE`.
    GenCert {
        /// Where to write the certificate.
        #[arg(long, value_name = "FILE", default_value = "termcall-hub.crt")]
        cert: PathBuf,
        /// Where to write the private key (readable by its owner only).
        #[arg(long, value_name = "FILE", default_value = "termcall-hub.key")]
        key: PathBuf,
        /// The host names and IP addresses clients reach the hub by (repeatable).
        #[arg(long = "host", default_values = ["localhost", "127.0.0.1", "::1"])]
        hosts: Vec<String>,
    },
}

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s.split_once('-').ok_or("expected MIN-MAX, e.g. 49152-65535")?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("{lo:?} is not a port"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("{hi:?} is not a port"))?;
    if lo == 0 || hi < lo {
        return Err(format!("{lo}-{hi} is not a range of ports from 1 up"));
    }
    Ok(lo..=hi)
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

    /// The media peer connections that fit under a file descriptor limit of `fds`, beside
    /// --max-connections and a reserve for everything else (listeners, TURN, logs): at most
    /// --max-media-peers.
    pub fn media_peers_within(&self, fds: u64) -> usize {
        let left = usize::try_from(fds).unwrap_or(usize::MAX).saturating_sub(self.max_connections.saturating_add(FD_RESERVE));
        left.min(self.max_media_peers)
    }

    /// Where the media endpoint (group calls, echo) gathers candidates: on the --listen
    /// address, announcing --public-ip instead when given.
    pub fn sfu(&self) -> crate::sfu::SfuSettings {
        crate::sfu::SfuSettings { bind_ip: self.listen.ip(), public_ip: self.public_ip, max_peers: self.max_media_peers }
    }

    /// The embedded STUN/TURN server's settings, `Ok(None)` with --no-turn, or why the
    /// options do not make sense together.
    pub fn turn(&self) -> Result<Option<TurnSettings>, String> {
        if self.no_turn {
            return Ok(None);
        }
        let public_ip = self.public_ip.unwrap_or(self.listen.ip());
        if public_ip.is_unspecified() {
            return Err(format!(
                "--listen {} is every address: give --public-ip, the address clients reach this hub at (or --no-turn)",
                self.listen.ip()
            ));
        }
        if self.turn_secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err("--turn-secret is empty: give a long random string, or leave it out for a random one".into());
        }
        if public_ip.is_ipv4() != self.listen.is_ipv4() {
            return Err("--public-ip and --listen must be of one address family".into());
        }
        Ok(Some(TurnSettings {
            listen: SocketAddr::new(self.listen.ip(), self.turn_port),
            public_ip,
            relay_ports: self.relay_ports.clone(),
            policy: PeerPolicy::new(self.allow_peers.clone()),
            // The WebSocket port is known once bound: `server::start_turn` adds it.
            service_ports: Vec::new(),
            limits: Limits {
                allocations: self.turn_user_allocations.max(1),
                bytes_per_sec: self.turn_user_kbps.clamp(1, u64::MAX / 1000) * 1000 / 8,
                burst: Duration::from_millis(500),
            },
            ttl: self.turn_ttl(),
            secret: self.turn_secret.clone(),
        }))
    }

    /// How long TURN credentials last.
    pub fn turn_ttl(&self) -> Duration {
        Duration::from_secs(self.turn_ttl_secs.clamp(60, 10 * 365 * 86_400))
    }

    /// The `--ice-server` list, checked, with what signs credentials for its TURN servers.
    pub fn external_ice(&self) -> Result<ExternalIce, String> {
        if self.turn_secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err("--turn-secret is empty: give a long random string, or leave it out for a random one".into());
        }
        let creds = self.turn_secret.as_ref().map(|s| Credentials::new(s.as_bytes().to_vec(), self.turn_ttl()));
        ExternalIce::new(&self.ice_servers, creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_on_loopback_unless_told() {
        let cfg = Config::parse_from(["termcall-hub"]);
        assert_eq!(cfg.metrics_listen.0, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(cfg.metrics_listen_is_default());
        let cfg = Config::parse_from(["termcall-hub", "--metrics-listen", "off"]);
        assert_eq!(cfg.metrics_listen.0, None);
        let cfg = Config::parse_from(["termcall-hub", "--metrics-listen", "[::1]:9100"]);
        assert_eq!(cfg.metrics_listen.0, Some("[::1]:9100".parse().unwrap()));
        assert!(!cfg.metrics_listen_is_default());
        assert!(Config::try_parse_from(["termcall-hub", "--metrics-listen", "9100"]).is_err());
    }

    #[test]
    fn media_peers_fit_the_file_descriptor_limit() {
        let cfg = Config::parse_from(["termcall-hub", "--max-connections", "1000"]);
        assert_eq!(cfg.max_media_peers, 1000);
        assert_eq!(cfg.media_peers_within(1_048_576), 1000, "room for all");
        assert_eq!(cfg.media_peers_within(1024), 0, "the connections take it all");
        assert_eq!(cfg.media_peers_within(1756), 500);
        let cfg = Config::parse_from(["termcall-hub", "--max-media-peers", "20"]);
        assert_eq!(cfg.media_peers_within(u64::MAX), 20);
    }

    #[test]
    fn external_turn_servers_share_the_turn_secret() {
        let cfg = Config::parse_from(["termcall-hub", "--ice-server", "turn:127.0.0.1:3479", "--turn-secret", "s3cret"]);
        let ice = cfg.external_ice().unwrap();
        assert_eq!(ice.turn, ["turn:127.0.0.1:3479"]);
        assert!(ice.creds.is_some());
        let cfg = Config::parse_from(["termcall-hub", "--ice-server", "https://example.org"]);
        assert!(cfg.external_ice().err().unwrap().contains("not a stun:"));
    }

    #[test]
    fn port_ranges_parse_or_say_why_not() {
        assert_eq!(parse_port_range("50000-50010"), Ok(50000..=50010));
        assert!(parse_port_range("5000").is_err());
        assert!(parse_port_range("0-10").is_err());
        assert!(parse_port_range("20-10").is_err());
    }

    #[test]
    fn turn_needs_a_reachable_address() {
        let cfg = Config::parse_from(["termcall-hub", "--listen", "0.0.0.0:7878"]);
        assert!(cfg.turn().unwrap_err().contains("--public-ip"));
        let cfg = Config::parse_from(["termcall-hub", "--listen", "0.0.0.0:7878", "--public-ip", "203.0.113.5"]);
        let t = cfg.turn().unwrap().unwrap();
        assert_eq!(t.public_ip.to_string(), "203.0.113.5");
        assert_eq!(t.listen.port(), 3478);
        let cfg = Config::parse_from(["termcall-hub", "--no-turn"]);
        assert!(cfg.turn().unwrap().is_none());
    }
}
