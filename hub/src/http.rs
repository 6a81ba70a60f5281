//! Routing a new connection by its HTTP request line, before any WebSocket handshake:
//! `/healthz` and the web client's files ([`crate::web`], with ETag revalidation and HEAD) are
//! answered here; `/ws` goes on to the WebSocket handshake, which reads the same head again
//! from a [`Replay`]. Works the same over TCP and over TLS. `/metrics` is answered only on the
//! operator's own listener ([`crate::admin`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::metrics::Metrics;
use crate::web::{self, Asset};

/// The largest request head the hub reads before routing.
const MAX_HEAD: usize = 8 * 1024;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    WebSocket,
    Health,
    /// A file of the web client; `head` for a HEAD request, `fresh` when the browser's copy
    /// (If-None-Match) is this one.
    Asset { asset: &'static Asset, head: bool, fresh: bool },
    Metrics,
    /// The hub holds `--max-connections` already.
    Full,
    NotFound(String),
    BadRequest,
}

/// A stream whose first bytes, already read for routing, are read again before the rest.
pub struct Replay<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        if me.at < me.head.len() {
            let n = (me.head.len() - me.at).min(buf.remaining());
            buf.put_slice(&me.head[me.at..me.at + n]);
            me.at += n;
            if me.at == me.head.len() {
                me.head = Vec::new();
                me.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads the request head (within `timeout`) and decides the route; the stream comes back
/// ready to read the head again.
pub async fn read_route<S: AsyncRead + Unpin>(mut stream: S, timeout: Duration) -> (Route, Replay<S>) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    let route = loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break Route::BadRequest,
        };
        head.extend_from_slice(&chunk[..n]);
        if let Some(route) = route_of(&head) {
            break route;
        }
        if head.len() >= MAX_HEAD {
            break Route::BadRequest;
        }
    };
    (route, Replay { head, at: 0, inner: stream })
}

/// The route of a complete request head, or `None` while the head is incomplete.
fn route_of(head: &[u8]) -> Option<Route> {
    let text = std::str::from_utf8(head).ok()?;
    let line_end = text.find("\r\n")?;
    let mut parts = text[..line_end].split(' ');
    let (method, target) = (parts.next()?, parts.next().unwrap_or(""));
    if !text.contains("\r\n\r\n") {
        return None;
    }
    let path = target.split('?').next().unwrap_or("");
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    };
    Some(match (method, path) {
        ("GET", "/ws") => Route::WebSocket,
        ("GET", "/healthz") | ("HEAD", "/healthz") => Route::Health,
        ("GET" | "HEAD", p) if web::find(p).is_some() => {
            let asset = web::find(p)?;
            let fresh = header("if-none-match").is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*"));
            Route::Asset { asset, head: method == "HEAD", fresh }
        }
        ("GET", "/metrics") => Route::Metrics,
        ("GET", p) | ("HEAD", p) => Route::NotFound(p.to_owned()),
        _ => Route::BadRequest,
    })
}

/// Answers a plain HTTP request and closes. `metrics` is given on the metrics listener only:
/// elsewhere `/metrics` is not found.
pub async fn respond<S: AsyncWrite + Unpin>(stream: &mut S, route: &Route, metrics: Option<&Metrics>) {
    if let (Route::Asset { asset, head, fresh }, None) = (route, metrics) {
        return serve_asset(stream, asset, *head, *fresh).await;
    }
    let (status, body) = match route {
        Route::Health => ("200 OK", "ok\n".to_owned()),
        Route::Metrics => match metrics {
            Some(metrics) => ("200 OK", metrics.render()),
            None => ("404 Not Found", "no /metrics here: the hub serves them on --metrics-listen (loopback by default)\n".to_owned()),
        },
        Route::Full => ("503 Service Unavailable", "the hub is full: try again later\n".to_owned()),
        Route::NotFound(p) if metrics.is_some() => ("404 Not Found", format!("no such path {p}: this listener serves /metrics and /healthz\n")),
        Route::NotFound(p) => ("404 Not Found", format!("no such path {p}: the WebSocket is at /ws\n")),
        Route::Asset { asset, .. } => ("404 Not Found", format!("no such path {}: this listener serves /metrics and /healthz\n", asset.path)),
        Route::BadRequest | Route::WebSocket => ("400 Bad Request", "bad request\n".to_owned()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A web client file, or 304 when the browser has it already.
async fn serve_asset<S: AsyncWrite + Unpin>(stream: &mut S, asset: &Asset, head: bool, fresh: bool) {
    let status = if fresh { "304 Not Modified" } else { "200 OK" };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nETag: {}\r\nCache-Control: no-cache\r\n{}Connection: close\r\n\r\n",
        asset.content_type,
        if fresh { 0 } else { asset.body.len() },
        asset.etag,
        web::SECURITY_HEADERS,
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    if !head && !fresh {
        let _ = stream.write_all(asset.body).await;
    }
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route_of(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"), Some(Route::WebSocket));
        assert_eq!(route_of(b"GET /healthz HTTP/1.1\r\n\r\n"), Some(Route::Health));
        assert_eq!(route_of(b"GET /metrics HTTP/1.1\r\n\r\n"), Some(Route::Metrics));
        assert_eq!(route_of(b"GET /nope?x=1 HTTP/1.1\r\n\r\n"), Some(Route::NotFound("/nope".into())));
        assert_eq!(route_of(b"POST /ws HTTP/1.1\r\n\r\n"), Some(Route::BadRequest));
        let app = web::find("/app.js").unwrap();
        assert_eq!(route_of(b"GET / HTTP/1.1\r\n\r\n"), Some(Route::Asset { asset: web::find("/").unwrap(), head: false, fresh: false }));
        assert_eq!(route_of(b"HEAD /app.js HTTP/1.1\r\n\r\n"), Some(Route::Asset { asset: app, head: true, fresh: false }));
        let revalidate = format!("GET /app.js?v=2 HTTP/1.1\r\nIf-None-Match: \"x\", {}\r\n\r\n", app.etag);
        assert_eq!(route_of(revalidate.as_bytes()), Some(Route::Asset { asset: app, head: false, fresh: true }));
        assert_eq!(route_of(b"GET /ws HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(route_of(b"\xff\xfe"), None);
    }

    #[tokio::test]
    async fn the_head_is_read_again_after_routing() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\nAFTER").await.unwrap();
        drop(client);
        let (route, mut replay) = read_route(server, Duration::from_secs(1)).await;
        assert_eq!(route, Route::WebSocket);
        let mut all = String::new();
        replay.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\nAFTER");
    }
}
