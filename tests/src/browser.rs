//! A real browser as a peer: Debian's headless Chromium, started inside a test's network
//! namespace (so nothing it does in the background leaves the machine), with a fake camera
//! that plays a y4m clip, opening `tests/web/peer.html` from disk. Killed, and its profile
//! removed, when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::scratch;

/// A running Chromium.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    pub log: PathBuf,
}

/// The browser peer page, with its query string.
pub fn peer_page(query: &str) -> String {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/peer.html");
    format!("file://{}?{query}", page.display())
}

impl Browser {
    /// Whether Chromium is installed (`scripts/setup` installs it).
    pub fn available() -> Result<(), String> {
        match std::process::Command::new("chromium").arg("--version").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("chromium is missing: run scripts/setup (it installs Debian's chromium package)".into()),
        }
    }

    /// Starts Chromium in namespace `netns` on `url`, its camera playing `clip` (a y4m file).
    pub fn chromium(netns: &str, url: &str, clip: &Path) -> Browser {
        Browser::start(netns, url, clip, None)
    }

    /// The same, driven over the DevTools protocol (a 1280x900 window): click and type in it.
    pub fn driven(netns: &str, url: &str, clip: &Path) -> (Browser, crate::cdp::Cdp) {
        let pipes = crate::cdp::Pipes::new();
        let browser = Browser::start(netns, url, clip, Some(&pipes));
        (browser, pipes.connect())
    }

    fn start(netns: &str, url: &str, clip: &Path, pipes: Option<&crate::cdp::Pipes>) -> Browser {
        let dir = scratch("chromium");
        let profile = dir.join("profile");
        let log = dir.join("chromium.log");
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", netns, "chromium"])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-file-access-from-files",
                "--enable-logging=stderr",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--use-file-for-fake-video-capture={}", clip.display()))
            .arg(if pipes.is_some() { "--remote-debugging-pipe" } else { "--remote-debugging-port=0" })
            // The test hub is plain http on a test address: let its page use the camera as it
            // would over https (a real deployment serves --tls-cert).
            .arg(format!("--unsafely-treat-insecure-origin-as-secure={}", origin(url)))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("chromium log"));
        if let Some(p) = pipes {
            p.give_to(&mut cmd);
        }
        let child = cmd.spawn().expect("start chromium");
        Browser { child, profile, log }
    }

    /// The page's own lines (console.log "termcall-peer: ...") and Chromium's errors so far.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("termcall-peer") || l.contains("ERROR")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// `scheme://host:port` of `url`.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("file", ""));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(""))
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `ip netns exec` ran chromium as a child: its renderers may outlive the launcher.
        let profile = self.profile.display().to_string();
        let _ = std::process::Command::new("pkill").args(["-f", &profile]).status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
