//! A real browser as a peer: Debian's headless Chromium (a fake camera that plays a y4m clip)
//! or Firefox ESR (its own synthetic fake camera; no H.264 without the OpenH264 plugin, which
//! Debian does not ship), started inside a test's network namespace (so nothing it does in the
//! background leaves the machine), opening `tests/web/peer.html` from disk. Killed, and its
//! profile removed, when dropped.

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

    /// Whether Firefox ESR is installed (`scripts/setup` installs it).
    pub fn firefox_available() -> Result<(), String> {
        match std::process::Command::new("firefox-esr").arg("--version").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("firefox-esr is missing: run scripts/setup (it installs Debian's firefox-esr package)".into()),
        }
    }

    /// Starts Firefox ESR in namespace `netns` on `url`, headless, with a fresh profile whose
    /// prefs give it a fake camera and microphone without asking, plain host candidates
    /// (loopback too), the page's console on its stdout, and every background service off
    /// (updates, telemetry, captive-portal and connectivity checks, remote settings, safe
    /// browsing, plugin downloads). No proxy as a backstop: Firefox then gathers no ICE
    /// candidates at all; the namespace, with only the test LAN in it, is the backstop.
    pub fn firefox(netns: &str, url: &str) -> Browser {
        let dir = scratch("firefox");
        let profile = dir.join("profile");
        let log = dir.join("firefox.log");
        std::fs::create_dir_all(&profile).expect("firefox profile");
        let prefs: Vec<(&str, String)> = vec![
            ("media.navigator.streams.fake", "true".into()),
            ("media.navigator.permission.disabled", "true".into()),
            ("media.autoplay.default", "0".into()),
            ("media.peerconnection.ice.obfuscate_host_addresses", "false".into()),
            ("media.peerconnection.ice.loopback", "true".into()),
            // Every interface's address, not only the default route's: a test host has no
            // default route, and Firefox would then gather no candidate at all.
            ("media.peerconnection.ice.default_address_only", "false".into()),
            ("media.peerconnection.ice.no_host", "false".into()),
            ("devtools.console.stdout.content", "true".into()),
            ("browser.shell.checkDefaultBrowser", "false".into()),
            ("browser.startup.homepage_override.mstone", "\"ignore\"".into()),
            ("browser.aboutwelcome.enabled", "false".into()),
            ("datareporting.policy.dataSubmissionEnabled", "false".into()),
            ("datareporting.healthreport.uploadEnabled", "false".into()),
            ("toolkit.telemetry.enabled", "false".into()),
            ("toolkit.telemetry.unified", "false".into()),
            ("app.update.auto", "false".into()),
            ("app.update.enabled", "false".into()),
            ("app.normandy.enabled", "false".into()),
            ("extensions.update.enabled", "false".into()),
            ("extensions.getAddons.cache.enabled", "false".into()),
            ("extensions.systemAddon.update.enabled", "false".into()),
            ("media.gmp-manager.updateEnabled", "false".into()),
            ("media.gmp-manager.url", "\"http://127.0.0.1:9/\"".into()),
            ("network.captive-portal-service.enabled", "false".into()),
            ("network.connectivity-service.enabled", "false".into()),
            ("network.dns.disablePrefetch", "true".into()),
            ("network.prefetch-next", "false".into()),
            ("services.settings.server", "\"http://127.0.0.1:9/\"".into()),
            ("browser.safebrowsing.malware.enabled", "false".into()),
            ("browser.safebrowsing.phishing.enabled", "false".into()),
            ("browser.safebrowsing.downloads.enabled", "false".into()),
            ("browser.newtabpage.enabled", "false".into()),
            ("browser.ping-centre.telemetry", "false".into()),
        ];
        let user_js: String = prefs.iter().map(|(k, v)| format!("user_pref(\"{k}\", {v});\n")).collect();
        std::fs::write(profile.join("user.js"), user_js).expect("firefox prefs");
        give_a_default_route(netns);
        let out = std::fs::File::create(&log).expect("firefox log");
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", netns, "firefox-esr", "--headless", "--no-remote", "--profile"])
            .arg(&profile)
            .arg(url)
            .env("MOZ_DISABLE_AUTO_SAFE_MODE", "1")
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("firefox log"))
            .stderr(out)
            .spawn()
            .expect("start firefox-esr");
        Browser { child, profile, log }
    }

    /// The newest "stats ..." line the page logged, as its numeric fields (`video_frames`, ...).
    pub fn last_stats(&self) -> Option<std::collections::HashMap<String, u64>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = text.lines().filter_map(|l| l.split("termcall-peer: stats ").nth(1)).next_back()?.to_owned();
        Some(line.split_whitespace().filter_map(|kv| kv.split_once('=')).filter_map(|(k, v)| Some((k.to_owned(), v.trim_end_matches('"').parse().ok()?))).collect())
    }

    /// Waits up to `within` for a stats line that `ok` accepts; panics with the page's log if none.
    pub fn expect_stats(&self, what: &str, within: std::time::Duration, ok: impl Fn(&std::collections::HashMap<String, u64>) -> bool) -> std::collections::HashMap<String, u64> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(s) = self.last_stats().filter(|s| ok(s)) {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "the browser never showed {what}; its log:\n{}", self.log_tail(30));
            std::thread::sleep(std::time::Duration::from_millis(300));
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
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("termcall-peer") || l.contains("ERROR") || l.contains("JavaScript error")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Firefox gathers no ICE candidate at all on a host without a default route (seen with ESR
/// 153): the test host gets one onto its own test link (its first route's device), which
/// leads only to the test's other namespaces.
fn give_a_default_route(netns: &str) {
    let routes = std::process::Command::new("ip").args(["-n", netns, "route", "show"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    if routes.lines().any(|l| l.starts_with("default")) {
        return;
    }
    let dev = routes.split_whitespace().skip_while(|w| *w != "dev").nth(1).expect("the test host has a link").to_owned();
    let ok = std::process::Command::new("ip").args(["-n", netns, "route", "add", "default", "dev", &dev]).status().is_ok_and(|s| s.success());
    assert!(ok, "cannot give {netns} a default route on {dev}");
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
