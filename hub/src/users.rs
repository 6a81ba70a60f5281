//! Access control: the `--users` file, one line per user with a salted hash of that user's
//! secret, and `termcall-hub add-user`, which makes a secret and prints it once.
//!
//! A line is `name:sha256:SALT:HASH` (hex; HASH = SHA-256 of SALT's bytes then the secret).
//! Secrets are 192 random bits made by the hub, not passwords people choose, so one round of a
//! salted SHA-256 is enough: there is no dictionary to try against a stolen file.
//! Blank lines and lines starting with `#` are ignored. The file is read again when it changes,
//! so `add-user` takes effect on a running hub.
//!
//! Logins are checked off the runtime's threads (the check may read the file), and failed ones
//! are limited per source address: [`LOGIN_FAILURES`] at once, then one every
//! [`LOGIN_FAILURE_EVERY`]; past that an address is refused before its secret is looked at.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rate::{Bucket, PerSource};

/// Failed logins one address may make at once, and then one every this long.
pub const LOGIN_FAILURES: u64 = 10;
pub const LOGIN_FAILURE_EVERY: Duration = Duration::from_secs(6);
/// Source addresses are kept in a table of this many buckets.
const LOGIN_SLOTS: usize = 4096;

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefused {
    /// The name or the secret is wrong (or missing).
    Credentials(String),
    /// Too many failed logins from this address lately.
    TooMany(String),
}

/// What tells a changed users file: its mtime, size and inode (`add-user` renames a new file
/// into place, so the inode changes even within one mtime tick).
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

use sha2::{Digest, Sha256};
use termcall_shared::names::validate_name;

/// One user's stored salt and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    salt: [u8; 16],
    hash: [u8; 32],
}

impl Entry {
    fn new(secret: &str) -> Entry {
        let salt: [u8; 16] = rand::random();
        Entry { salt, hash: digest(&salt, secret) }
    }

    fn matches(&self, secret: &str) -> bool {
        let got = digest(&self.salt, secret);
        // Constant time, so that the comparison does not tell how much of a guess was right.
        got.iter().zip(self.hash.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    fn line(&self, name: &str) -> String {
        format!("{name}:sha256:{}:{}", hex(&self.salt), hex(&self.hash))
    }
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Parses a users file; an error names the line and what is wrong with it.
fn parse(text: &str) -> Result<HashMap<String, Entry>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why} (expected name:sha256:SALT:HASH)", i + 1);
        let mut parts = line.split(':');
        let (Some(name), Some(kind), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not four fields"));
        };
        validate_name(name).map_err(|why| bad(&why))?;
        if kind != "sha256" {
            return Err(bad(&format!("unknown hash {kind:?}")));
        }
        let salt = unhex::<16>(salt).ok_or_else(|| bad("the salt is not 32 hex digits"))?;
        let hash = unhex::<32>(hash).ok_or_else(|| bad("the hash is not 64 hex digits"))?;
        users.insert(name.to_owned(), Entry { salt, hash });
    }
    Ok(users)
}

/// The users a hub with `--users` lets in. Shared by the connection tasks; each hello takes
/// the lock once to look a name up.
#[derive(Debug)]
pub struct Users {
    path: PathBuf,
    cache: Mutex<Cache>,
    failures: PerSource,
}

#[derive(Debug)]
struct Cache {
    modified: Stamp,
    users: HashMap<String, Entry>,
}

impl Users {
    /// Reads the file, or says why it cannot be used. The hub refuses to start on an error
    /// rather than run open by mistake.
    pub fn load(path: &Path) -> Result<Users, String> {
        let (modified, users) = read(path)?;
        Ok(Users {
            path: path.to_owned(),
            cache: Mutex::new(Cache { modified, users }),
            failures: PerSource::new(LOGIN_SLOTS, || Bucket::every(LOGIN_FAILURE_EVERY, LOGIN_FAILURES)),
        })
    }

    /// A login from `from`: refused at once when that address failed too often lately; else
    /// checked on a blocking thread ([`Users::check`] may read the file), a failure counting
    /// against the address.
    pub async fn login(self: &Arc<Self>, from: IpAddr, name: &str, secret: Option<&str>) -> Result<(), LoginRefused> {
        let now = Instant::now();
        let bucket = self.failures.of(from);
        if !bucket.available(now) {
            return Err(LoginRefused::TooMany(format!(
                "too many failed logins from {from}: wait {} s and try again",
                LOGIN_FAILURE_EVERY.as_secs()
            )));
        }
        let (users, name, secret) = (self.clone(), name.to_owned(), secret.map(str::to_owned));
        let checked = tokio::task::spawn_blocking(move || users.check(&name, secret.as_deref()))
            .await
            .unwrap_or_else(|_| Err("the users table is unavailable".into()));
        checked.map_err(|why| {
            bucket.take(1, now);
            LoginRefused::Credentials(why)
        })
    }

    /// How many users the file holds.
    pub fn len(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.users.len())
    }

    /// Whether the file holds no users (then no one can log in).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `secret` is `name`'s. Picks up changes to the file; a file that became
    /// unreadable or malformed keeps the users it had, with a warning.
    pub fn check(&self, name: &str, secret: Option<&str>) -> Result<(), String> {
        let Ok(mut cache) = self.cache.lock() else { return Err("the users table is unavailable".into()) };
        let modified = stamp(&self.path);
        if modified != cache.modified {
            match read(&self.path) {
                Ok((modified, users)) => {
                    tracing::info!(path = %self.path.display(), users = users.len(), "users file reloaded");
                    *cache = Cache { modified, users };
                }
                Err(e) => {
                    tracing::warn!("{e}; keeping the users read before");
                    cache.modified = modified;
                }
            }
        }
        let Some(secret) = secret else { return Err("this hub needs a secret: pass --secret (or TERMCALL_SECRET)".into()) };
        match cache.users.get(name) {
            Some(entry) if entry.matches(secret) => Ok(()),
            // The same words whether the name or the secret is wrong: a stranger learns nothing.
            _ => Err(format!("unknown user or wrong secret for {name}")),
        }
    }
}

fn read(path: &Path) -> Result<(Stamp, HashMap<String, Entry>), String> {
    // The stamp is taken first: a change while reading is then seen at the next check.
    let modified = stamp(path);
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read users file {}: {e}", path.display()))?;
    let users = parse(&text).map_err(|e| format!("users file {}: {e}", path.display()))?;
    Ok((modified, users))
}

/// A new random secret: 24 bytes as 32 URL-safe base64 characters, never starting with `-`
/// (which a command line would take for an option: `--secret -x…`). Drawn again when it does,
/// which costs a 64th of the secrets 6 bits of their 192.
pub fn new_secret() -> String {
    use base64::Engine;
    loop {
        let bytes: [u8; 24] = rand::random();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !secret.starts_with('-') {
            return secret;
        }
    }
}

/// `termcall-hub add-user`: gives `name` a new secret in the users file (creating the file,
/// readable by its owner only), replacing any older one, and returns the secret.
pub fn add_user(path: &Path, name: &str) -> Result<(String, bool), String> {
    validate_name(name)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("{}: {e}; fix it before adding users", path.display()))?;
    let secret = new_secret();
    let mut replaced = false;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            let same = l.trim().split(':').next() == Some(name) && !l.trim_start().starts_with('#');
            replaced |= same;
            !same
        })
        .map(str::to_owned)
        .collect();
    if text.is_empty() {
        lines.push("# termcall-hub users: name:sha256:SALT:HASH. Add users with `termcall-hub add-user NAME`.".into());
    }
    lines.push(Entry::new(&secret).line(name));
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all((lines.join("\n") + "\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((secret, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_look_like_options() {
        // A 64th of plain draws would start with '-': 4,000 draws hit that about 60 times.
        assert!((0..4000).map(|_| new_secret()).all(|s| s.len() == 32 && !s.starts_with('-')));
    }

    #[test]
    fn add_check_and_replace() {
        let dir = std::env::temp_dir().join(format!("termcall-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let _ = std::fs::remove_file(&path);
        let (alice, replaced) = add_user(&path, "alice").unwrap();
        assert!(!replaced);
        let (bob, _) = add_user(&path, "bob").unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.check("alice", Some(&alice)).is_ok());
        assert!(users.check("alice", Some(&bob)).is_err(), "bob's secret is not alice's");
        assert!(users.check("carol", Some(&alice)).is_err());
        assert!(users.check("alice", None).unwrap_err().contains("--secret"));
        // A new secret for alice replaces the old one, and the running table sees it at once.
        let (alice2, replaced) = add_user(&path, "alice").unwrap();
        assert!(replaced);
        assert!(users.check("alice", Some(&alice2)).is_ok());
        assert!(users.check("alice", Some(&alice)).is_err());
        assert!(users.check("bob", Some(&bob)).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn failed_logins_are_limited_per_address() {
        let dir = std::env::temp_dir().join(format!("termcall-users-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let _ = std::fs::remove_file(&path);
        let (alice, _) = add_user(&path, "alice").unwrap();
        let users = Arc::new(Users::load(&path).unwrap());
        let (guesser, other): (IpAddr, IpAddr) = ("198.18.0.9".parse().unwrap(), "198.18.0.10".parse().unwrap());
        assert_eq!(users.login(guesser, "alice", Some(&alice)).await, Ok(()), "successes cost nothing");
        for _ in 0..LOGIN_FAILURES {
            assert!(matches!(users.login(guesser, "alice", Some("guess")).await, Err(LoginRefused::Credentials(_))));
        }
        match users.login(guesser, "alice", Some(&alice)).await {
            Err(LoginRefused::TooMany(why)) => assert!(why.contains("too many failed logins"), "{why}"),
            other => panic!("the guesser's address is held back, even with the right secret: {other:?}"),
        }
        assert_eq!(users.login(other, "alice", Some(&alice)).await, Ok(()), "another address is not");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_lines_are_named() {
        assert!(parse("# comment\n\n").unwrap().is_empty());
        assert!(parse("alice:sha256:00").unwrap_err().starts_with("line 1"));
        assert!(parse("\nalice:md5:00000000000000000000000000000000:00").unwrap_err().contains("line 2: unknown hash"));
        assert!(parse("a b:sha256:00000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000").is_err());
        assert!(parse("alice:sha256:zz000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000").unwrap_err().contains("salt"));
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
