//! The operator's listener, `--metrics-listen` (loopback by default): `/metrics` in the
//! Prometheus text format, and `/healthz`. Kept off the public listener, where anyone who can
//! reach the hub would read its counters.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::debug;

use crate::http::{self, Body};
use crate::metrics::Metrics;

/// Scrapes served at once; more connections are closed at once.
const AT_ONCE: usize = 16;
/// How long a scraper may take to send its request.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let busy = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                debug!("metrics accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if busy.fetch_add(1, Ordering::AcqRel) >= AT_ONCE {
            busy.fetch_sub(1, Ordering::AcqRel);
            debug!(%peer, "metrics listener busy: closed");
            continue;
        }
        let (busy, metrics) = (busy.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(http::last(answer(&req, &metrics))) }
            });
            if let Err(e) = http::builder(HEAD_TIMEOUT).serve_connection(TokioIo::new(stream), service).await {
                debug!(%peer, "metrics request: {e}");
            }
            busy.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// The answer to one request on the metrics listener.
fn answer<B>(req: &Request<B>, metrics: &Metrics) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return http::method_not_allowed(req.method());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(metrics.render())));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
            r
        }
        "/healthz" => http::health(),
        p => http::text(StatusCode::NOT_FOUND, format!("no such path {p}: this listener serves /metrics and /healthz\n")),
    }
}
