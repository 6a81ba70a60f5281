//! Driving Chromium as a user does, over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: fd 3 takes commands, fd 4 gives answers and events, each message
//! JSON ended by a NUL). A pipe, not a port, because Chromium runs in a network namespace of the
//! test's own, whose loopback the test cannot reach. Clicks are real mouse presses at the
//! element's centre, typing is text inserted where the focus is: what a person's hands do.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One page of a Chromium started with `--remote-debugging-pipe`.
pub struct Cdp {
    to: std::fs::File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
}

/// The two pipes: the ends Chromium gets (its fd 3 and 4) and ours.
pub struct Pipes {
    pub child_reads: OwnedFd,
    pub child_writes: OwnedFd,
    ours_write: OwnedFd,
    ours_read: OwnedFd,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors it is given; each is then owned once.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both are fresh descriptors from pipe2, owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Pipes {
    pub fn new() -> Pipes {
        let (child_reads, ours_write) = pipe();
        let (ours_read, child_writes) = pipe();
        Pipes { child_reads, child_writes, ours_write, ours_read }
    }

    /// Makes `cmd`'s child find its ends as fd 3 and fd 4.
    pub fn give_to(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let (r, w) = (self.child_reads.as_raw_fd(), self.child_writes.as_raw_fd());
        // SAFETY: between fork and exec only async-signal-safe dup2 runs, on descriptors that
        // stay open in the parent until the child has started.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way first (either may already be 3 or 4), then into place: dup2 to
                // another number clears close-on-exec.
                let (r, w) = (libc::fcntl(r, libc::F_DUPFD, 10), libc::fcntl(w, libc::F_DUPFD, 10));
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Our ends, once Chromium runs: attaches to its first page.
    pub fn connect(self) -> Cdp {
        let Pipes { child_reads, child_writes, ours_write, ours_read } = self;
        drop((child_reads, child_writes));
        let (tx, from) = mpsc::channel();
        let reader = std::fs::File::from(ours_read);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                buf.clear();
            }
        });
        let mut cdp = Cdp { to: std::fs::File::from(ours_write), from, next_id: 1, session: String::new() };
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = loop {
            let targets = cdp.browser_call("Target.getTargets", json!({})).expect("Target.getTargets");
            if let Some(t) = targets["targetInfos"].as_array().and_then(|a| a.iter().find(|t| t["type"] == "page")) {
                break t["targetId"].as_str().unwrap_or_default().to_owned();
            }
            assert!(Instant::now() < deadline, "Chromium opened no page: {targets}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = cdp.browser_call("Target.attachToTarget", json!({"targetId": target, "flatten": true})).expect("attach");
        cdp.session = attached["sessionId"].as_str().expect("a session").to_owned();
        cdp.call("Page.enable", json!({})).expect("Page.enable");
        cdp.call("Runtime.enable", json!({})).expect("Runtime.enable");
        cdp
    }
}

impl Default for Pipes {
    fn default() -> Self {
        Pipes::new()
    }
}

impl Cdp {
    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to.write_all(&bytes).map_err(|e| format!("{method}: Chromium is gone ({e})"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from.recv_timeout(left).map_err(|_| format!("{method}: no answer from Chromium"))?;
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(format!("{method}: {e}")),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let session = self.session.clone();
        self.send(method, params, Some(session))
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}))
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"));
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("evaluating {expression}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy; gives its value.
    pub fn wait_for(&mut self, what: &str, within: Duration, expression: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.eval(expression);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                let status = self.eval(
                    "document.getElementById('status')?.textContent + ' | tiles: ' + [...document.querySelectorAll('.tile')].map(t => t.dataset.name).join(', ') \
                     + ' | chat: ' + [...document.querySelectorAll('#chat-log li')].slice(-5).map(l => l.textContent).join(' | ') \
                     + ' | tracks: ' + (window.termcall ? termcall.tracks.slice(-12).join(', ') : '') \
                     + ' | transceivers: ' + (window.termcall?.call?.pc ? termcall.call.pc.getTransceivers().map(t => `${t.mid}:${t.direction}/${t.currentDirection}`).join(' ') : '') \
                     + ' | remote msids: ' + (window.termcall?.call?.pc?.remoteDescription?.sdp.match(/a=msid:[^\\r]*/g) || []).join(' ')",
                );
                panic!("{what}: not within {within:?} ({expression}); the page says: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `selector` as a mouse does: pressed and released at its centre,
    /// once it is visible and enabled.
    pub fn click(&mut self, selector: &str) {
        let find = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e || e.disabled) return null; e.scrollIntoView({{block: 'center'}}); \
               const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 ? [r.x + r.width / 2, r.y + r.height / 2] : null; }})()",
            sel = json!(selector)
        );
        let at = self.wait_for(&format!("{selector} to click"), Duration::from_secs(10), &find);
        let (x, y) = (at[0].as_f64().unwrap_or(0.0), at[1].as_f64().unwrap_or(0.0));
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})).expect("a click");
        }
    }

    /// Clicks into `selector` and types `text` there, then presses Enter if `enter`.
    pub fn type_into(&mut self, selector: &str, text: &str, enter: bool) {
        self.click(selector);
        self.call("Input.insertText", json!({"text": text})).expect("typing");
        if enter {
            for kind in ["keyDown", "keyUp"] {
                let mut key = json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
                if kind == "keyDown" {
                    key["text"] = json!("\r");
                }
                self.call("Input.dispatchKeyEvent", key).expect("Enter");
            }
        }
    }

    /// Signs in to the hub's web client as `name`, as a person does: the name typed, the
    /// button clicked, until the page says it is online.
    pub fn sign_in(&mut self, name: &str) {
        self.wait_for("the sign-in form", Duration::from_secs(20), "document.getElementById('name') !== null");
        self.type_into("#name", name, false);
        self.click("#signin-button");
        self.wait_for("signed in", crate::SOON, "document.getElementById('status').textContent === 'online'");
    }

    /// The page as a PNG at `path`.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).expect("a screenshot");
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap_or_default()).expect("base64");
        std::fs::write(path, png).expect("write the screenshot");
    }
}
