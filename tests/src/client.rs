use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{bin, command, scratch, Hub};

/// A running `termcall --headless`: write commands, wait for events. Killed when dropped.
pub struct Client {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Every event seen so far, in order.
    pub seen: Vec<Value>,
    cursor: usize,
    pub log: PathBuf,
}

impl Client {
    /// Starts a client for `name` against `hub`, with extra arguments.
    pub fn start(hub: &Hub, name: &str, args: &[&str]) -> Client {
        Client::start_url(&hub.url, name, args)
    }

    pub fn start_url(url: &str, name: &str, args: &[&str]) -> Client {
        Client::start_in(None, "127.0.0.1", url, name, args)
    }

    /// Starts a client inside a network namespace (or not), gathering ICE candidates on `ice_bind`.
    pub fn start_in(netns: Option<&str>, ice_bind: &str, url: &str, name: &str, args: &[&str]) -> Client {
        Client::spawn(&bin("termcall"), &[], netns, ice_bind, url, name, args)
    }

    /// Starts the client binary at `binary` (a build with other features) on loopback, with
    /// `env` added to its environment (a sound server of the test's own, say).
    pub fn start_binary(binary: &std::path::Path, env: &[(String, String)], url: &str, name: &str, args: &[&str]) -> Client {
        Client::spawn(binary, env, None, "127.0.0.1", url, name, args)
    }

    fn spawn(binary: &std::path::Path, env: &[(String, String)], netns: Option<&str>, ice_bind: &str, url: &str, name: &str, args: &[&str]) -> Client {
        let dir = scratch(name);
        let log = dir.join("client.log");
        let mut child = command(binary, netns)
            .args(["--hub", url, "--name", name, "--headless", "--ice-bind", ice_bind])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", std::env::var("TEST_CLIENT_LOG").unwrap_or_else(|_| "termcall=debug,warn".into()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("client log"))
            .spawn()
            .expect("start termcall");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        // Every event is kept beside the log too (events.jsonl), for a person reading a failure.
        let mut kept = std::fs::File::create(dir.join("events.jsonl")).ok();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = kept.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                // Anything on stdout that is not one JSON object is a bug the tests must see.
                let v = serde_json::from_str::<Value>(&line).unwrap_or_else(|_| json!({"event": "NOT_JSON", "line": line}));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client { name: name.to_owned(), child, stdin, lines, seen: Vec::new(), cursor: 0, log }
    }

    /// Starts a client and waits until it is registered.
    pub fn ready(hub: &Hub, name: &str, args: &[&str]) -> Client {
        let mut c = Client::start(hub, name, args);
        c.expect("ready", crate::SOON, |e| e["event"] == "ready");
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one command line.
    pub fn send(&mut self, cmd: Value) {
        self.send_raw(&cmd.to_string());
    }

    /// Writes one raw line (which need not be JSON).
    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to client");
        stdin.flush().expect("flush");
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn pump(&mut self, until: Instant) -> bool {
        let wait = until.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(v) => {
                assert_ne!(v["event"], "NOT_JSON", "{} wrote a non-JSON line to stdout: {v}", self.name);
                self.seen.push(v);
                true
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                if Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5).min(wait));
                }
                false
            }
        }
    }

    /// Waits for the next event (after the last one matched) that satisfies `pred`; panics
    /// with the events seen and the client's log if none comes within `within`.
    pub fn expect(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        match self.wait(within, &pred) {
            Some(v) => v,
            None => panic!(
                "{}: no {what} within {within:?}.\nevents: {}\nlog tail:\n{}",
                self.name,
                self.seen.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n  "),
                self.log_tail(40)
            ),
        }
    }

    /// The newest event satisfying `pred` among those written so far and not yet looked at;
    /// all of them count as looked at afterwards. Does not wait.
    pub fn latest(&mut self, pred: &dyn Fn(&Value) -> bool) -> Option<Value> {
        while let Ok(v) = self.lines.try_recv() {
            assert_ne!(v["event"], "NOT_JSON", "{} wrote a non-JSON line to stdout: {v}", self.name);
            self.seen.push(v);
        }
        let found = self.seen[self.cursor..].iter().rev().find(|v| pred(v)).cloned();
        self.cursor = self.seen.len();
        found
    }

    /// Like [`expect`](Self::expect) but returns `None` on timeout.
    pub fn wait(&mut self, within: Duration, pred: &dyn Fn(&Value) -> bool) -> Option<Value> {
        let until = Instant::now() + within;
        loop {
            while self.cursor < self.seen.len() {
                let v = &self.seen[self.cursor];
                self.cursor += 1;
                if pred(v) {
                    return Some(v.clone());
                }
            }
            if Instant::now() >= until {
                return None;
            }
            self.pump(until);
        }
    }

    /// Waits until an event satisfying `pred` has been seen at any point (before the cursor too).
    pub fn expect_seen(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + within;
        loop {
            if let Some(v) = self.seen.iter().find(|v| pred(v)) {
                return v.clone();
            }
            if Instant::now() >= until {
                panic!("{}: never saw {what} within {within:?}; log tail:\n{}", self.name, self.log_tail(20));
            }
            self.pump(until);
        }
    }

    /// Collects everything that arrives within `during`, without consuming it.
    pub fn idle(&mut self, during: Duration) {
        let until = Instant::now() + during;
        while Instant::now() < until {
            self.pump(until);
        }
    }

    /// Both clients ready, then `self` calls `callee` (once it sees it online, and it answers
    /// with `--auto-accept`) and the call connects within 10 s.
    pub fn call_connected(&mut self, callee: &mut Client) {
        for c in [&mut *self, &mut *callee] {
            c.expect("ready", crate::SOON, |e| e["event"] == "ready");
        }
        let name = callee.name.clone();
        self.expect_roster(&name, crate::SOON, |u| !u.is_empty());
        self.send(serde_json::json!({"cmd":"call","to":name}));
        self.expect_call("connected", Duration::from_secs(10));
    }

    /// Waits for the call event with this state.
    pub fn expect_call(&mut self, state: &str, within: Duration) -> Value {
        self.expect(&format!("call {state}"), within, |e| e["event"] == "call" && e["state"] == state)
    }

    /// Waits until the newest roster event (seen before the cursor too) satisfies `pred`: the
    /// client's roster as it is now, without the built-in `echo`, which is always in it. The hub batches roster changes, so a state that changed and
    /// changed back within one batch never shows up as an event of its own.
    pub fn expect_roster_now(&mut self, what: &str, within: Duration, pred: impl Fn(&[Value]) -> bool) {
        let until = Instant::now() + within;
        loop {
            let newest = self.seen.iter().rev().find(|e| e["event"] == "roster");
            if newest.and_then(|e| e["users"].as_array()).is_some_and(|u| pred(&people(u))) {
                return;
            }
            if Instant::now() >= until {
                panic!("{}: the roster never showed {what} within {within:?}; newest: {newest:?}", self.name);
            }
            self.pump(until);
        }
    }

    /// Waits for a roster event that satisfies `pred` on its user list (without `echo`).
    pub fn expect_roster(&mut self, what: &str, within: Duration, pred: impl Fn(&[Value]) -> bool) -> Value {
        self.expect(what, within, |e| e["event"] == "roster" && e["users"].as_array().is_some_and(|u| pred(&people(u))))
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself.
    pub fn exit_status(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}


/// A roster's users other than the built-in `echo`.
fn people(users: &[Value]) -> Vec<Value> {
    users.iter().filter(|u| u["name"] != "echo").cloned().collect()
}

/// A chat line from each of `alice` and `bob` (tagged `tag`) reaches the other.
pub fn chat_both_ways(alice: &mut Client, bob: &mut Client, tag: &str) {
    alice.send(json!({"cmd":"chat","text": format!("{tag} from alice")}));
    bob.send(json!({"cmd":"chat","text": format!("{tag} from bob")}));
    let want = format!("{tag} from alice");
    bob.expect_seen("alice's line", crate::SOON, |e| e["event"] == "chat" && e["text"] == want.as_str());
    let want = format!("{tag} from bob");
    alice.expect_seen("bob's line", crate::SOON, |e| e["event"] == "chat" && e["text"] == want.as_str());
}
