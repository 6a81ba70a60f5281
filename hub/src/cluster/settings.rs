//! `--cluster`, `--node-id` and `--public-url`, checked.

use termcall_shared::names::validate_name;

/// Where the cluster's Redis is and who this hub is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `redis://HOST:PORT`
    pub redis: String,
    /// This hub's name, unique in the cluster.
    pub node: String,
    /// Where clients reach this hub: `ws://HOST:PORT/ws` or `wss://…`.
    pub url: String,
}

impl ClusterSettings {
    /// Checks the options; `listening` is the URL the hub serves (the default public URL).
    pub fn new(redis: &str, node: Option<&str>, public_url: Option<&str>, listening: &str) -> Result<ClusterSettings, String> {
        if !(redis.starts_with("redis://") || redis.starts_with("unix://")) {
            return Err(format!("bad --cluster {redis:?}: give a Redis URL, like redis://127.0.0.1:6379"));
        }
        redis::Client::open(redis).map_err(|e| format!("bad --cluster {redis:?}: {e}"))?;
        let url = public_url.unwrap_or(listening).to_owned();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!("bad --public-url {url:?}: give the ws:// or wss:// URL clients reach this hub at, like ws://hub1.example.org:7878/ws"));
        }
        let node = match node {
            Some(n) => n.to_owned(),
            // The host and port it is reached at: unique as long as the URLs are.
            None => url.split("://").nth(1).unwrap_or_default().split('/').next().unwrap_or_default().replace(':', "-"),
        };
        validate_name(&node).map_err(|why| format!("bad --node-id {node:?}: {why}"))?;
        Ok(ClusterSettings { redis: redis.to_owned(), node, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_where_the_hub_listens() {
        let s = ClusterSettings::new("redis://127.0.0.1:6379", None, None, "ws://127.0.0.1:7878/ws").unwrap();
        assert_eq!(s.node, "127.0.0.1-7878");
        assert_eq!(s.url, "ws://127.0.0.1:7878/ws");
        let s = ClusterSettings::new("redis://r:1", Some("hub-a"), Some("wss://a.example.org/ws"), "ws://0.0.0.0:7878/ws").unwrap();
        assert_eq!((s.node.as_str(), s.url.as_str()), ("hub-a", "wss://a.example.org/ws"));
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        assert!(ClusterSettings::new("http://x", None, None, "ws://a:1/ws").unwrap_err().contains("--cluster"));
        assert!(ClusterSettings::new("redis://x:1", Some("a b"), None, "ws://a:1/ws").unwrap_err().contains("--node-id"));
        assert!(ClusterSettings::new("redis://x:1", None, Some("http://a"), "ws://a:1/ws").unwrap_err().contains("--public-url"));
    }
}
