//! termcall-hub: the roster, the consented signaling relay, and the STUN/TURN media relay of a team.
//!
//! - [`config`]: the command line and its defaults.
//! - [`core`]: the roster and call state machine, pure and synchronous.
//! - [`actor`]: the one task that owns the [`core::Hub`] and delivers what it says.
//! - [`http`]: the first bytes of a TCP connection: `/healthz`, `/ws`, the web client, or an
//!   error page.
//! - [`web`]: the web client's files (`hub/web/`), built in.
//! - [`connection`]: one WebSocket client: framing, limits, liveness.
//! - [`limits`]: the per-connection message rate limit.
//! - [`rate`]: the one token bucket every rate limit of the hub is made of.
//! - [`users`]: access control: the `--users` file of salted secret hashes, and `add-user`.
//! - [`tls`]: `wss://` from `--tls-cert`/`--tls-key`, and `gen-cert`'s self-signed pair.
//! - [`server`]: accepting connections and shutting down cleanly.
//! - [`sfu`]: the media endpoint of group calls and `echo`: forwards RTP, keyframe requests
//!   and chat between participants, never decoding.
//! - [`turn`]: the embedded STUN/TURN server: credentials, relays, peer policy, quotas.
//! - [`ice`]: the ICE servers (with fresh TURN credentials) each welcome carries.
//! - [`cluster`]: `--cluster`: the hubs of a team sharing one roster and their calls through Redis.
//! - [`metrics`]: the hub's counters.
//! - [`admin`]: the operator's listener (`--metrics-listen`): `/metrics` and `/healthz`.
//! - [`fuzzing`]: what the fuzz targets in `fuzz/` run (and the unit tests replay).

pub mod actor;
pub mod admin;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod core;
pub mod fuzzing;
pub mod http;
pub mod ice;
pub mod limits;
pub mod metrics;
pub mod rate;
pub mod server;
pub mod sfu;
pub mod tls;
pub mod turn;
pub mod users;
pub mod web;
