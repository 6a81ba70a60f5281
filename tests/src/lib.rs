//! The end-to-end test harness: starts the real `termcall-hub` and `termcall` binaries on
//! loopback and drives them as a script (headless JSON lines) or a person (the TUI in tmux) would.
//!
//! - [`Hub`]: a hub process on a free loopback port.
//! - [`Client`]: a headless client process, its events and its commands.
//! - [`Raw`]: a bare WebSocket client, for speaking (or abusing) the protocol directly.
//! - [`media`]: test pictures and clips, and ways to compare pictures.
//! - [`netns`]: test hosts in network namespaces, with loss and blocking.
//! - [`tmux`]: a terminal for the TUI, driven by keys and read back with its colours.
//! - [`shaped`]: a one-to-one call across a shaped link, measured second by second.
//! - [`browser`]: Debian's headless Chromium as a peer, in a test's network namespace.
//! - [`coturn`]: Debian's coturn on loopback, sharing a TURN REST secret with a hub.

pub mod browser;
pub mod cdp;
mod client;
pub mod coturn;
pub mod hub;
pub mod media;
pub mod netns;
pub mod pty;
pub mod redis;
mod raw;
pub mod shaped;
pub mod sound;
pub mod tmux;
pub mod xvfb;

pub use client::{chat_both_ways, Client};
pub use hub::Hub;
pub use raw::Raw;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where the binaries are: `TERMCALL_BIN_DIR`, else the profile directory of this test executable
/// (`target/debug` for tests, `target/release` for benches).
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("TERMCALL_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("current exe");
            let deps = exe.parent().expect("exe dir");
            if deps.ends_with("deps") { deps.parent().expect("profile dir").to_path_buf() } else { deps.to_path_buf() }
        }
    };
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --bins` (or --release for benches) first", path.display());
    path
}

/// A fresh scratch directory for one process's logs and files.
pub fn scratch(label: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("termcall-test-{}-{}-{label}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The usual patience for something that should happen at once on loopback.
pub const SOON: Duration = Duration::from_secs(5);

/// A command for `bin`, run inside network namespace `netns` when one is given.
pub fn command(bin_path: &std::path::Path, netns: Option<&str>) -> std::process::Command {
    match netns {
        None => std::process::Command::new(bin_path),
        Some(ns) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin_path);
            c
        }
    }
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A plain HTTP/1.1 GET; the whole reply, head and body (empty when the server is unreachable).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = s.set_read_timeout(Some(SOON));
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

/// utime + stime of a process, in clock ticks (for benchmarks' CPU figures).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3) at index 0.
    fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// One other participant's entry in a `stats` event of a call through the hub.
pub fn participant<'a>(stats: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    stats["participants"].as_array()?.iter().find(|p| p["name"] == name)
}

/// The time of day in UTC as the hub and clients log it (`HH:MM:SS.mmm`), to place a test's
/// own steps (a link shaped, a process stopped) among their log lines.
pub fn utc_now() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (s, ms) = (t.as_secs() % 86_400, t.subsec_millis());
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// The TURN server (host:port) and credentials (username, password) a hub's welcome gives.
pub fn turn_credentials(welcome: &serde_json::Value) -> (String, String, String) {
    let servers = welcome["ice_servers"].as_array().expect("ice_servers in the welcome");
    let server = servers.iter().find(|s| s["urls"][0].as_str().unwrap_or("").starts_with("turn:")).expect("a TURN server in the welcome");
    let url = server["urls"][0].as_str().unwrap_or_default();
    let addr = url.trim_start_matches("turn:").split('?').next().unwrap_or_default().to_owned();
    (addr, server["username"].as_str().unwrap_or_default().to_owned(), server["credential"].as_str().unwrap_or_default().to_owned())
}
