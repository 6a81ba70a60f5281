//! Test hosts in network namespaces: two namespaces joined by a veth pair, addressed from
//! 198.18.0.0/15 (RFC 2544's range for benchmark networks, so nothing real is ever reached),
//! with nftables for loss and blocking. Everything is removed when the value is dropped,
//! also when a test fails.

use std::process::Command;

/// Two test hosts, `a` (198.18.0.1) and `b` (198.18.0.2), on one link.
pub struct Link {
    pub a: String,
    pub b: String,
}

pub const ADDR_A: &str = "198.18.0.1";
pub const ADDR_B: &str = "198.18.0.2";

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs a command inside a namespace.
pub fn exec(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    run(&full)
}

impl Link {
    /// Creates the namespaces and the link; the names carry the test's pid and `tag`.
    /// Needs root, `ip` (iproute2) and `nft` (nftables): `scripts/setup` installs them.
    pub fn new(tag: &str) -> Result<Link, String> {
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let link = Link { a: format!("tca{id}"), b: format!("tcb{id}") };
        let (va, vb) = (format!("va{id}"), format!("vb{id}"));
        for ns in [&link.a, &link.b] {
            run(&["ip", "netns", "add", ns])?;
            exec(ns, &["ip", "link", "set", "lo", "up"])?;
        }
        run(&["ip", "link", "add", &va, "netns", &link.a, "type", "veth", "peer", "name", &vb, "netns", &link.b])?;
        exec(&link.a, &["ip", "addr", "add", &format!("{ADDR_A}/30"), "dev", &va])?;
        exec(&link.b, &["ip", "addr", "add", &format!("{ADDR_B}/30"), "dev", &vb])?;
        exec(&link.a, &["ip", "link", "set", &va, "up"])?;
        exec(&link.b, &["ip", "link", "set", &vb, "up"])?;
        Ok(link)
    }

    /// Drops `percent`% of UDP packets entering and leaving `ns`, at random (nft numgen).
    pub fn udp_loss(&self, ns: &str, percent: u32) -> Result<(), String> {
        let rules = format!(
            "table inet termcall_loss {{
               chain input {{ type filter hook input priority 0; meta l4proto udp numgen random mod 100 < {percent} drop; }}
               chain output {{ type filter hook output priority 0; meta l4proto udp numgen random mod 100 < {percent} drop; }}
             }}"
        );
        let path = std::env::temp_dir().join(format!("termcall-nft-{ns}.nft"));
        std::fs::write(&path, rules).map_err(|e| e.to_string())?;
        exec(ns, &["nft", "-f", path.to_str().unwrap_or_default()])
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace removes its veth end, and the peer with it.
        for ns in [&self.a, &self.b] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// Whether this machine can make test hosts (root, with iproute2 and nftables).
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no side effects.
    if unsafe { libc::geteuid() } != 0 {
        return Err("network-namespace tests need root".into());
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Err(format!("{tool} is missing: run scripts/setup"));
        }
    }
    Ok(())
}
