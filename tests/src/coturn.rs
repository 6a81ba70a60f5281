//! Debian's coturn, started on loopback for a test or a benchmark: TURN REST credentials
//! (`use-auth-secret` with a shared secret, as the hub's `--turn-secret`), loopback peers
//! allowed, nothing but UDP and TCP on one port. Killed when dropped.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scratch;

/// A running `turnserver`.
pub struct Coturn {
    child: Child,
    /// The UDP (and TCP) port it listens on, on 127.0.0.1.
    pub port: u16,
    pub log: PathBuf,
}

impl Coturn {
    /// Whether coturn is installed, or what to do about it.
    pub fn available() -> Result<(), String> {
        match Command::new("turnserver").arg("--version").output() {
            Ok(o) if o.status.success() || !o.stdout.is_empty() => Ok(()),
            _ => Err("coturn is missing: run scripts/setup (Debian's coturn package)".into()),
        }
    }

    /// Starts coturn with `secret`, relaying through ports `relay_ports`; panics with its log
    /// if it does not answer a STUN Binding request within 5 s.
    pub fn start(secret: &str) -> Coturn {
        if let Err(e) = Coturn::available() {
            panic!("{e}");
        }
        let port = free_udp_port();
        let dir = scratch("coturn");
        let log = dir.join("turnserver.log");
        // A relay range of its own, from the port (tests run side by side).
        let lo = 20_000 + (u32::from(port) * 7 % 20_000) as u16;
        let child = Command::new("turnserver")
            .args(["-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", &port.to_string()])
            .args(["--min-port", &lo.to_string(), "--max-port", &(lo + 999).to_string()])
            .args(["--use-auth-secret", "--static-auth-secret", secret, "--realm", "termcall"])
            .args(["--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-software-attribute"])
            .args(["--simple-log", "--log-file", log.to_str().expect("utf-8 path"), "--verbose"])
            .args(["--pidfile", dir.join("turnserver.pid").to_str().expect("utf-8 path")])
            .args(["--userdb", dir.join("turndb").to_str().expect("utf-8 path")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("coturn stderr"))
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !coturn.answers() {
            assert!(Instant::now() < deadline, "coturn did not start; its log:\n{}", coturn.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        coturn
    }

    /// Whether it answers a STUN Binding request.
    fn answers(&self) -> bool {
        let Ok(s) = UdpSocket::bind("127.0.0.1:0") else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        req.extend_from_slice(&[7u8; 12]);
        if s.send_to(&req, ("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let mut buf = [0u8; 512];
        matches!(s.recv_from(&mut buf), Ok((n, _)) if n >= 20 && buf[0] == 0x01 && buf[1] == 0x01)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far (coturn's log file may carry a date in its name: every file it wrote).
    pub fn log_text(&self) -> String {
        let dir = self.log.parent().expect("log dir");
        let mut text = String::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("turnserver") && name.ends_with(".log") || name == "stderr.log" {
                text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
            }
        }
        text
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port free on 127.0.0.1 a moment ago (also free for TCP, which coturn binds too).
fn free_udp_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// What a run of coturn's load client, `turnutils_uclient`, reported.
pub struct Uclient {
    /// Messages it sent, and of those, lost.
    pub sent: u64,
    pub lost: u64,
    /// Its output, for failure messages.
    pub output: String,
}

/// Runs `turnutils_uclient` (Debian's coturn package) with `args` and reads its totals.
pub fn uclient(args: &[&str]) -> Uclient {
    let out = Command::new("turnutils_uclient").args(args).output().expect("run turnutils_uclient (scripts/setup installs coturn)");
    let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // The last "KEY = N" or "KEY N" it printed.
    let number_after = |key: &str| -> u64 {
        output.lines().filter_map(|l| l.split(key).nth(1)).next_back().and_then(|rest| rest.trim_start_matches(['=', ' ']).split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).unwrap_or(0)
    };
    Uclient { sent: number_after("tot_send_msgs"), lost: number_after("Total lost packets "), output }
}
