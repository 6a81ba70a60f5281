//! The web client (`hub/web/`), built into the hub and served at `/`: the page, its script and
//! its style. Each file goes with its content type and an ETag (a hash of its bytes), so a
//! browser revalidates it cheaply (`Cache-Control: no-cache`, then 304) and picks up a new hub
//! at once; a gzipped copy is made once, at first use.

use std::io::Write;
use std::sync::LazyLock;

use hyper::header::{self, HeaderName};
use sha2::{Digest, Sha256};

/// One file of the web client.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub etag: String,
    gz: Vec<u8>,
    gz_etag: String,
}

impl Asset {
    /// The file, gzipped.
    pub fn gzipped(&'static self) -> &'static [u8] {
        &self.gz
    }

    /// The ETag of the gzipped form.
    pub fn gzip_etag(&self) -> &str {
        &self.gz_etag
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    let asset = |path, content_type, body: &'static [u8]| {
        let hash = Sha256::digest(body);
        let tag = hash[..12].iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gz = gz.write_all(body).and_then(|()| gz.finish()).unwrap_or_default();
        Asset { path, content_type, body, etag: format!("\"{tag}\""), gz, gz_etag: format!("\"{tag}-gz\"") }
    };
    [
        asset("/", "text/html; charset=utf-8", include_bytes!("../web/index.html")),
        asset("/app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app.js")),
        asset("/style.css", "text/css; charset=utf-8", include_bytes!("../web/style.css")),
    ]
});

/// The file served at `path` (`/index.html` is `/`).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The headers every web client file goes with: no sniffing, and a policy that lets the page
/// load only its own files and talk only to its own hub.
pub const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_there_with_types_and_distinct_tags() {
        let page = find("/").unwrap();
        assert!(page.content_type.starts_with("text/html"));
        assert!(std::str::from_utf8(page.body).unwrap().contains("<script src=\"/app.js\">"));
        assert_eq!(find("/index.html"), Some(page));
        assert!(find("/app.js").unwrap().content_type.starts_with("text/javascript"));
        assert!(find("/style.css").unwrap().content_type.starts_with("text/css"));
        assert_ne!(find("/app.js").unwrap().etag, find("/style.css").unwrap().etag);
        assert_eq!(find("/app.js").unwrap().etag.len(), 26, "24 hex digits in quotes");
        assert_eq!(find("/nope.js"), None);
    }

    #[test]
    fn the_page_speaks_the_protocol_version_of_shared() {
        let script = std::str::from_utf8(find("/app.js").unwrap().body).unwrap();
        let want = format!("const PROTOCOL_VERSION = {};", termcall_shared::PROTOCOL_VERSION);
        assert!(script.contains(&want), "hub/web/app.js must say {want}");
    }
}
