//! HTTP, served by hyper (HTTP/1.1, one request a connection): the answers both listeners give,
//! and the WebSocket upgrade. On the public listener ([`crate::server`]): `/ws` upgrades to the
//! WebSocket, `/healthz` answers, and the web client's files ([`crate::web`]) are served with
//! their type, an ETag (304 when the browser has the file), gzip when the browser takes it, and
//! HEAD. On the operator's listener ([`crate::admin`]): `/metrics` and `/healthz`. Works the
//! same over TCP and TLS.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioTimer;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::web::{self, Asset};

/// What every response carries.
pub type Body = Full<Bytes>;

/// The answer to a request for `/ws` that is not a WebSocket handshake.
const NOT_A_WEBSOCKET: &str = "/ws is the WebSocket: open it with a WebSocket client (GET with Upgrade: websocket)\n";

/// The connection settings of both listeners: the request head within `head_timeout`, heads of
/// at most 16 KiB, conventional header case. One request a connection: every answer but a
/// WebSocket's 101 goes out through [`last`]. (Keep-alive is not turned off in hyper itself,
/// which would add `close` to the 101's `Connection: Upgrade`.)
pub fn builder(head_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new()).header_read_timeout(head_timeout.max(Duration::from_millis(1))).max_buf_size(16 * 1024).title_case_headers(true);
    b
}

/// `r`, closing the connection after it (a 101 excepted: its connection becomes the WebSocket).
pub fn last(mut r: Response<Body>) -> Response<Body> {
    if r.status() != StatusCode::SWITCHING_PROTOCOLS {
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// `/healthz`.
pub fn health() -> Response<Body> {
    text(StatusCode::OK, "ok\n")
}

/// Anything but GET and HEAD (the WebSocket aside).
pub fn method_not_allowed(method: &Method) -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not served here: only GET and HEAD\n"));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// The public listener's answer to anything that is not `/ws`: health, the web client's files,
/// or where to look instead.
pub fn public_page<B>(req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed(req.method());
    }
    let path = req.uri().path();
    match path {
        "/healthz" => health(),
        "/metrics" => text(StatusCode::NOT_FOUND, "no /metrics here: the hub serves them on --metrics-listen (loopback by default)\n"),
        "/ws" => text(StatusCode::BAD_REQUEST, NOT_A_WEBSOCKET),
        p => match web::find(p) {
            Some(asset) => asset_response(req, asset),
            None => text(StatusCode::NOT_FOUND, format!("no such path {p}: the web client is at /, the WebSocket at /ws\n")),
        },
    }
}

/// A web client file, gzipped when the browser takes it, or 304 when it has it already.
fn asset_response<B>(req: &Request<B>, asset: &'static Asset) -> Response<Body> {
    let gzip = accepts_gzip(req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or(""));
    let (body, etag) = if gzip { (asset.gzipped(), asset.gzip_etag()) } else { (asset.body, asset.etag.as_str()) };
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    let mut r = if fresh {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Full::new(Bytes::from_static(body)))
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, tag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    for (name, value) in web::SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// Whether an Accept-Encoding value takes gzip (and does not refuse it with q=0).
fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let refused = it.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>().is_ok_and(|q| q == 0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// The 101 answer to a WebSocket request (RFC 6455 4.2), or why it is not one.
pub fn websocket_accept<B>(req: &Request<B>) -> Result<Response<Body>, Response<Body>> {
    let h = req.headers();
    let has = |name: header::HeaderName, token: &str| {
        h.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if req.method() != Method::GET || !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(text(StatusCode::BAD_REQUEST, NOT_A_WEBSOCKET));
    }
    if h.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        let mut r = text(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only\n");
        r.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(r);
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(text(StatusCode::BAD_REQUEST, "a WebSocket request needs Sec-WebSocket-Key\n"));
    };
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = r.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(Method::GET).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn pages() {
        assert_eq!(public_page(&get("/healthz", &[])).status(), StatusCode::OK);
        let missing = public_page(&get("/nope?x=1", &[]));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(public_page(&get("/metrics", &[])).status(), StatusCode::NOT_FOUND);
        let post = Request::builder().method(Method::POST).uri("/").body(()).unwrap();
        assert_eq!(public_page(&post).status(), StatusCode::METHOD_NOT_ALLOWED);
        let page = public_page(&get("/", &[]));
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    #[test]
    fn files_are_revalidated_and_gzipped_for_those_who_take_it() {
        let app = web::find("/app.js").unwrap();
        let first = public_page(&get("/app.js", &[]));
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(tag, app.etag);
        let again = public_page(&get("/app.js", &[("if-none-match", &format!("\"x\", {tag}"))]));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let gz = public_page(&get("/app.js", &[("accept-encoding", "gzip, deflate, br")]));
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_ne!(gz.headers()[header::ETAG], tag, "each form has its own tag");
        assert!(app.gzipped().len() * 2 < app.body.len(), "{} → {}", app.body.len(), app.gzipped().len());
        assert!(!public_page(&get("/app.js", &[("accept-encoding", "gzip;q=0, identity")])).headers().contains_key(header::CONTENT_ENCODING));
    }

    #[test]
    fn websocket_requests() {
        let good = [("upgrade", "websocket"), ("connection", "keep-alive, Upgrade"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")];
        let ok = websocket_accept(&get("/ws", &good)).unwrap();
        assert_eq!(ok.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455's own example.
        assert_eq!(ok.headers()[header::SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(websocket_accept(&get("/ws", &good[..2])).unwrap_err().status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(websocket_accept(&get("/ws", &[])).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
