//! Test hosts in network namespaces: two namespaces joined by a veth pair, addressed from
//! 198.18.0.0/15 (RFC 2544's range for benchmark networks, so nothing real is ever reached),
//! with nftables for loss and blocking. Everything is removed when the value is dropped,
//! also when a test fails.

use std::process::Command;

/// Two test hosts, `a` (198.18.0.1) and `b` (198.18.0.2), on one link.
pub struct Link {
    pub a: String,
    pub b: String,
    /// The link's two ends: `va` in `a`, `vb` in `b`.
    va: String,
    vb: String,
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

/// Loads an nftables ruleset into namespace `ns`.
fn nft(ns: &str, rules: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("termcall-nft-{ns}-{}.nft", std::process::id()));
    std::fs::write(&path, rules).map_err(|e| e.to_string())?;
    let result = exec(ns, &["nft", "-f", path.to_str().unwrap_or_default()]);
    let _ = std::fs::remove_file(&path);
    result
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
        let (va, vb) = (format!("va{id}"), format!("vb{id}"));
        let link = Link { a: format!("tca{id}"), b: format!("tcb{id}"), va: va.clone(), vb: vb.clone() };
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
        nft(ns, &rules)
    }

    /// A bottleneck of `kbit` kbit/s in both directions: a token bucket (tc tbf) on each end's
    /// egress with an 8 KB burst and a 150 ms queue, as a home uplink or a phone tether has.
    /// Called again, it changes the rate in place (mid-call); `None` removes the bottleneck.
    pub fn shape(&self, kbit: Option<u32>) -> Result<(), String> {
        for (ns, dev) in [(&self.a, &self.va), (&self.b, &self.vb)] {
            match kbit {
                Some(k) => {
                    let rate = format!("{k}kbit");
                    let args = ["root", "tbf", "rate", &rate, "burst", "8kb", "latency", "150ms"];
                    // `replace` adds the qdisc or changes the one there, so a rate can move mid-call.
                    let mut cmd = vec!["tc", "qdisc", "replace", "dev", dev.as_str()];
                    cmd.extend_from_slice(&args);
                    exec(ns, &cmd)?;
                }
                None => {
                    let _ = exec(ns, &["tc", "qdisc", "del", "dev", dev, "root"]);
                }
            }
        }
        Ok(())
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

/// Three test hosts on one Ethernet segment: a hub (198.18.1.1), alice (.2) and bob (.3),
/// each in its own namespace with a veth to a bridge in a fourth. A firewall rule on alice can
/// then cut alice from bob while both still reach the hub, as a NAT or firewall would.
pub struct Lan {
    pub hub: String,
    pub alice: String,
    pub bob: String,
    switch: String,
}

pub const LAN_HUB: &str = "198.18.1.1";
pub const LAN_ALICE: &str = "198.18.1.2";
pub const LAN_BOB: &str = "198.18.1.3";
/// The LAN's range, for the hub's `--allow-peer`.
pub const LAN_CIDR: &str = "198.18.1.0/24";

impl Lan {
    /// Creates the four namespaces, the bridge and the links; names carry the pid and `tag`.
    pub fn new(tag: &str) -> Result<Lan, String> {
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let lan = Lan { hub: format!("tch{id}"), alice: format!("tca{id}"), bob: format!("tcb{id}"), switch: format!("tcs{id}") };
        // From here on, a failure drops `lan`, which deletes whatever was made.
        for ns in [&lan.switch, &lan.hub, &lan.alice, &lan.bob] {
            run(&["ip", "netns", "add", ns])?;
            exec(ns, &["ip", "link", "set", "lo", "up"])?;
        }
        exec(&lan.switch, &["ip", "link", "add", "br0", "type", "bridge"])?;
        exec(&lan.switch, &["ip", "link", "set", "br0", "up"])?;
        for (i, (ns, addr)) in [(&lan.hub, LAN_HUB), (&lan.alice, LAN_ALICE), (&lan.bob, LAN_BOB)].into_iter().enumerate() {
            let (port, host) = (format!("p{i}"), "eth0");
            exec(&lan.switch, &["ip", "link", "add", &port, "type", "veth", "peer", "name", host, "netns", ns])?;
            exec(&lan.switch, &["ip", "link", "set", &port, "master", "br0", "up"])?;
            exec(ns, &["ip", "addr", "add", &format!("{addr}/24"), "dev", host])?;
            exec(ns, &["ip", "link", "set", host, "up"])?;
        }
        Ok(lan)
    }

    /// Drops all UDP between alice and bob, both ways (nftables in alice's namespace);
    /// each still reaches the hub.
    pub fn block_alice_bob(&self) -> Result<(), String> {
        let rules = format!(
            "table inet termcall_block {{
               chain input {{ type filter hook input priority 0; ip saddr {LAN_BOB} meta l4proto udp drop; }}
               chain output {{ type filter hook output priority 0; ip daddr {LAN_BOB} meta l4proto udp drop; }}
             }}"
        );
        nft(&self.alice, &rules)
    }
}

impl Lan {
    /// Lifts [`Lan::block_alice_bob`].
    pub fn unblock_alice_bob(&self) -> Result<(), String> {
        exec(&self.alice, &["nft", "delete", "table", "inet", "termcall_block"])
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting the switch removes the bridge and every veth pair with it.
        for ns in [&self.switch, &self.hub, &self.alice, &self.bob] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// Drops all UDP into and out of namespace `ns` except on its loopback, as a firewall that
/// lets only TCP out does: the host's own programs still talk to each other.
pub fn block_udp(ns: &str) -> Result<(), String> {
    let rules = "table inet termcall_no_udp {
           chain input { type filter hook input priority 0; iifname != \"lo\" meta l4proto udp drop; }
           chain output { type filter hook output priority 0; oifname != \"lo\" meta l4proto udp drop; }
         }";
    nft(ns, rules)
}

/// Drops `percent`% of all packets (any protocol: TCP segments too) into and out of namespace
/// `ns`, at random (nft numgen), except on its loopback.
pub fn lossy(ns: &str, percent: u32) -> Result<(), String> {
    let rules = format!(
        "table inet termcall_lossy {{
           chain input {{ type filter hook input priority 0; iifname != \"lo\" numgen random mod 100 < {percent} drop; }}
           chain output {{ type filter hook output priority 0; oifname != \"lo\" numgen random mod 100 < {percent} drop; }}
         }}"
    );
    nft(ns, &rules)
}

/// Whether this machine can make test hosts (root, with iproute2 and nftables).
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no side effects.
    if unsafe { libc::geteuid() } != 0 {
        return Err("network-namespace tests need root".into());
    }
    for tool in ["ip", "nft", "tc"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Err(format!("{tool} is missing: run scripts/setup"));
        }
    }
    Ok(())
}
