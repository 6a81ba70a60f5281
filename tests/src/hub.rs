use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::{bin, command, scratch, signal};

/// A running `termcall-hub` on a free loopback port. Killed when dropped.
pub struct Hub {
    child: Child,
    /// `ws://127.0.0.1:PORT/ws`
    pub url: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub log: PathBuf,
    /// The network namespace it runs in, if any.
    netns: Option<String>,
}

impl Hub {
    /// Starts a hub with default options.
    pub fn start() -> Hub {
        Hub::start_with(&[])
    }

    /// Starts a hub with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> Hub {
        Hub::start_on("127.0.0.1:0", args)
    }

    /// Starts a hub on a given address (to restart one on the same port).
    pub fn start_on(listen: &str, args: &[&str]) -> Hub {
        Hub::start_in(None, listen, args)
    }

    /// Starts a hub inside a network namespace (or not), listening on `listen`.
    pub fn start_in(netns: Option<&str>, listen: &str, args: &[&str]) -> Hub {
        let log = scratch("hub").join("hub.log");
        // A free TURN port unless the test picks one: tests run side by side.
        let turn_port: &[&str] = if args.contains(&"--turn-port") { &[] } else { &["--turn-port", "0"] };
        // Metrics on a free port of the hub's own address, found in its log by `metrics_page`.
        let ip = listen.rsplit_once(':').map_or("127.0.0.1", |(ip, _)| ip);
        let metrics_at = format!("{ip}:0");
        let metrics: Vec<&str> = if args.contains(&"--metrics-listen") { Vec::new() } else { vec!["--metrics-listen", &metrics_at] };
        let mut child = command(&bin("termcall-hub"), netns)
            .args(["--listen", listen])
            .args(turn_port)
            .args(&metrics)
            .args(args)
            .env("RUST_LOG", std::env::var("TEST_HUB_LOG").unwrap_or_else(|_| "debug".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("hub log"))
            .spawn()
            .expect("start termcall-hub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("hub stdout");
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(url.starts_with("ws://") || url.starts_with("wss://"), "hub said {line:?}; log: {}", std::fs::read_to_string(&log).unwrap_or_default());
        let addr = url.split("://").nth(1).unwrap_or_default().trim_end_matches("/ws").to_owned();
        Hub { child, url, addr, log, netns: netns.map(str::to_owned) }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs one of `termcall-hub`'s tools (`add-user`, `gen-cert`) to the end: (status, stdout, stderr).
    pub fn tool(args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(bin("termcall-hub")).args(args).output().expect("run termcall-hub");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Open file descriptors of the hub process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// The hub's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit status, at most `within`.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        signal(self.pid(), libc::SIGTERM);
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Where the hub serves its metrics (`--metrics-listen`), as its log says.
    pub fn metrics_addr(&self) -> Option<String> {
        let log = self.log_text();
        let at = log.find("metrics on http://")? + "metrics on http://".len();
        Some(log[at..].split('/').next()?.to_owned())
    }

    /// The hub's `/metrics` page, from its metrics listener; empty if it has none.
    pub fn metrics_page(&self) -> String {
        let Some(addr) = self.metrics_addr() else { return String::new() };
        let Some(ns) = &self.netns else { return crate::http_get(&addr, "/metrics") };
        // Inside the namespace: bash's /dev/tcp, from there.
        let (host, port) = addr.rsplit_once(':').unwrap_or_default();
        let script = format!("exec 3<>/dev/tcp/{host}/{port} && printf 'GET /metrics HTTP/1.0\\r\\nHost: {addr}\\r\\n\\r\\n' >&3 && timeout 5 cat <&3");
        let out = std::process::Command::new("ip").args(["netns", "exec", ns, "bash", "-c", &script]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// One figure from the hub's `/metrics`, or `None` if it is not there.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics_page().lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The forwarding-time histogram of `/metrics`: (upper bound in seconds, cumulative
    /// count), +Inf last.
    pub fn forward_histogram(&self) -> Vec<(f64, f64)> {
        let page = self.metrics_page();
        page.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("termcall_sfu_forward_seconds_bucket{le=\"")?;
                let (le, count) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, count.trim().parse().ok()?))
            })
            .collect()
    }

    /// The hub's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a cumulative histogram gained between two readings of it.
pub fn histogram_delta(later: &[(f64, f64)], earlier: &[(f64, f64)]) -> Vec<(f64, f64)> {
    later.iter().zip(earlier).map(|((le, a), (_, b))| (*le, a - b)).collect()
}

/// The `q` quantile of a cumulative histogram, interpolated linearly inside its bucket.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return 0.0;
    }
    let want = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, cum) in buckets {
        if cum >= want {
            if le.is_infinite() {
                return lo; // past the last bound: report the bound
            }
            let inside = (cum - below).max(1.0);
            return lo + (le - lo) * ((want - below) / inside);
        }
        (lo, below) = (le, cum);
    }
    lo
}
