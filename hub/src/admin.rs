//! The operator's listener, `--metrics-listen` (loopback by default): `/metrics` in the
//! Prometheus text format, and `/healthz`. Kept off the public listener, where anyone who can
//! reach the hub would read its counters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::debug;

use crate::http::{self, Route};
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
            let (route, mut stream) = http::read_route(stream, HEAD_TIMEOUT).await;
            let route = match route {
                Route::WebSocket => Route::NotFound("/ws".into()),
                Route::Full => Route::BadRequest,
                r => r,
            };
            http::respond(&mut stream, &route, Some(&metrics)).await;
            busy.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
