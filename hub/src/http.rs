//! Routing a new TCP connection by its HTTP request line, before any WebSocket handshake:
//! `/healthz` and `/metrics` are answered here; `/ws` goes on to the WebSocket handshake.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::metrics::Metrics;

/// The largest request head the hub reads before routing.
const MAX_HEAD: usize = 8 * 1024;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    WebSocket,
    Health,
    Metrics,
    /// The hub holds `--max-connections` already.
    Full,
    NotFound(String),
    BadRequest,
}

/// Reads (without consuming) the request head and decides the route; the WebSocket handshake
/// then reads the same bytes again.
pub async fn peek_route(stream: &TcpStream, timeout: Duration) -> Route {
    let mut buf = vec![0u8; MAX_HEAD];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return Route::BadRequest,
        };
        if n == 0 {
            return Route::BadRequest;
        }
        if let Some(route) = route_of(&buf[..n]) {
            return route;
        }
        if n == buf.len() {
            return Route::BadRequest;
        }
        if n == seen {
            // peek returns what is buffered at once; wait a moment for more to arrive.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen = n;
    }
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
    Some(match (method, path) {
        ("GET", "/ws") => Route::WebSocket,
        ("GET", "/healthz") | ("HEAD", "/healthz") => Route::Health,
        ("GET", "/metrics") => Route::Metrics,
        ("GET", p) | ("HEAD", p) => Route::NotFound(p.to_owned()),
        _ => Route::BadRequest,
    })
}

/// Answers a plain HTTP request and closes.
pub async fn respond(stream: &mut TcpStream, route: &Route, metrics: &Metrics) {
    let (status, body) = match route {
        Route::Health => ("200 OK", "ok\n".to_owned()),
        Route::Metrics => ("200 OK", metrics.render()),
        Route::Full => ("503 Service Unavailable", "the hub is full: try again later\n".to_owned()),
        Route::NotFound(p) => ("404 Not Found", format!("no such path {p}: the WebSocket is at /ws\n")),
        Route::BadRequest | Route::WebSocket => ("400 Bad Request", "bad request\n".to_owned()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
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
        assert_eq!(route_of(b"GET /ws HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(route_of(b"\xff\xfe"), None);
    }
}
