//! Debian's `redis-server`, started on a free loopback port for a test or a benchmark, with
//! nothing saved to disk; and a few commands to it over RESP. Killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scratch;

/// A running `redis-server`.
pub struct Redis {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Redis {
    /// Starts one on a free port; panics (with what to do) if redis-server is not installed
    /// or does not answer within 5 s.
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        Redis::start_on(port)
    }

    /// Starts one on `port` (to restart it where the hubs look for it).
    pub fn start_on(port: u16) -> Redis {
        let log = scratch("redis").join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", &log.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): run scripts/setup (Debian's redis-server package)"));
        let redis = Redis { child, port, log };
        let until = Instant::now() + Duration::from_secs(5);
        while redis.cmd(&["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < until, "redis-server did not answer on port {port} within 5 s; log: {}", std::fs::read_to_string(&redis.log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// What hubs are given: `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs one command; the reply as text (a number, a status, a string, or an array's
    /// elements one a line), `None` if Redis does not answer or answers with an error.
    pub fn cmd(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        read_reply(&mut BufReader::new(s))
    }

    /// One field of `INFO` (e.g. `used_memory`, `total_commands_processed`).
    pub fn info(&self, field: &str) -> Option<String> {
        let info = self.cmd(&["INFO", "all"])?;
        info.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_owned()))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_reply(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | ":" => Some(rest.to_owned()),
        "$" => {
            let n: i64 = rest.parse().ok()?;
            if n < 0 {
                return Some(String::new());
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf).ok()?;
            buf.truncate(n as usize);
            String::from_utf8(buf).ok()
        }
        "*" => {
            let n: i64 = rest.parse().ok()?;
            let items: Option<Vec<String>> = (0..n.max(0)).map(|_| read_reply(r)).collect();
            Some(items?.join("\n"))
        }
        _ => None,
    }
}
