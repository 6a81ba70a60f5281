//! TURN over streams, for clients whose UDP is blocked: TCP and TLS on the TURN port (what
//! browsers use for `turn:…?transport=tcp` and `turns:`), and a WebSocket at `/turn` on the
//! hub's own port (what termcall clients use: it gets through wherever the signaling does).
//! Each stream is one more client of the same server as the UDP port:
//!
//! - It gets an address of its own in `100::/64` (the discard prefix, RFC 6666), which the
//!   server keys its allocation by: no stream can be taken for a UDP client or another stream.
//! - What it sends passes the same gate as UDP (rates, challenges, stateless nonces) and joins
//!   the UDP port's packets in the server's one queue, so the server still serves one request
//!   at a time and the quotas and peer policy apply unchanged. Relays stay UDP to the peers.
//! - What the server sends to that address waits in the stream's [`StreamOut`], which drops
//!   late video rather than building a queue behind a slow or retransmitting TCP connection.
//! - Streams are limited in number (in all and per address), must pass the gate within
//!   [`FIRST_WITHIN`], and are closed after [`IDLE`] without a message.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use termcall_shared::media::stream_out::StreamOut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::framing::{cut, is_whole_message, next_frame, MAX_MESSAGE};
use super::guarded::{Guard, Inbound, Route};
use super::listener::Gate;
use crate::metrics::Metrics;

/// Stream clients at once, in all and from one address.
pub const MAX_STREAMS: usize = 1024;
pub const PER_ADDRESS: usize = 32;
/// A new stream must get a message past the gate within this, and any stream is closed after
/// [`IDLE`] without one (a client in a call sends several a second).
pub const FIRST_WITHIN: Duration = Duration::from_secs(10);
pub const IDLE: Duration = Duration::from_secs(120);
/// What waits for one stream at most.
const OUT_BYTES: usize = 64 * 1024;
/// Messages passed to the server are cut from blocks this big: an allocation per block, not per packet.
const STORE_BLOCK: usize = 16 * 1024;

/// The WebSocket settings of `/turn`: one TURN message a frame.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE))
}

/// The stream with this address, if it is a stream's.
pub fn stream_id(addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V6(v6) = addr else { return None };
    let s = v6.ip().segments();
    (s[..4] == [0x100, 0, 0, 0]).then(|| s[4..].iter().fold(0u64, |id, &w| id << 16 | u64::from(w)))
}

fn stream_addr(id: u64, port: u16) -> SocketAddr {
    let w = |shift: u32| (id >> shift) as u16;
    SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0x100, 0, 0, 0, w(48), w(32), w(16), w(0))), port)
}

/// Every stream client of the TURN server.
pub struct Streams {
    guard: Arc<Gate>,
    /// Into the server's queue, with the UDP port's packets.
    inject: mpsc::Sender<(Bytes, SocketAddr)>,
    outs: RwLock<HashMap<u64, Arc<StreamOut>>>,
    next_id: AtomicU64,
    /// Streams open, in all and per source address.
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    metrics: Arc<Metrics>,
}

/// A stream's place under the limits, given back when dropped.
pub struct Admission {
    streams: Arc<Streams>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
        self.streams.metrics.turn_streams_open.store(open.0 as u64, Relaxed);
    }
}

impl Streams {
    pub fn new(guard: Arc<Gate>, inject: mpsc::Sender<(Bytes, SocketAddr)>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Streams { guard, inject, outs: RwLock::default(), next_id: AtomicU64::new(1), open: Mutex::default(), metrics })
    }

    /// A place for a stream from `ip`, unless too many are open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admission> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= MAX_STREAMS || from_ip >= PER_ADDRESS {
            Metrics::add(&self.metrics.turn_streams_refused_total, 1);
            debug!(%ip, open = open.0, from_ip, "TURN stream refused: too many open");
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, from_ip + 1);
        self.metrics.turn_streams_open.store(open.0 as u64, Relaxed);
        Metrics::add(&self.metrics.turn_streams_total, 1);
        Some(Admission { streams: self.clone(), ip })
    }

    fn open_stream(&self, peer: SocketAddr, fd: Option<i32>) -> Opened<'_> {
        let id = self.next_id.fetch_add(1, Relaxed);
        let out = Arc::new(StreamOut::with_limit(fd, OUT_BYTES));
        self.outs.write().unwrap_or_else(|p| p.into_inner()).insert(id, out.clone());
        let from = stream_addr(id, peer.port());
        debug!(%peer, %from, "TURN stream open");
        Opened { streams: self, id, from, out, store: BytesMut::new(), passed: false, dropped: 0 }
    }

    /// Serves a TURN client on a TCP or TLS stream (`fd` is its socket) until it closes, idles
    /// or sends what cannot be TURN.
    pub async fn serve_framed<S: AsyncRead + AsyncWrite + Send>(self: Arc<Self>, _admission: Admission, stream: S, peer: SocketAddr, fd: Option<i32>) {
        let mut s = self.open_stream(peer, fd);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let out = s.out.clone();
        let writer = async {
            while let Some(p) = out.next().await {
                let sent = wr.write_all(&p).await;
                out.recycle(p);
                if sent.is_err() {
                    break;
                }
            }
        };
        let reader = async {
            let mut buf = BytesMut::with_capacity(MAX_MESSAGE);
            let opened = Instant::now();
            loop {
                loop {
                    match cut(&mut buf) {
                        Err(e) => return debug!(from = %s.from, "TURN stream closed: {e:?}"),
                        Ok(None) => break,
                        Ok(Some(message)) => s.inbound(&message),
                    }
                }
                buf.reserve(MAX_MESSAGE.saturating_sub(buf.len()));
                match tokio::time::timeout_at(s.deadline(opened), rd.read_buf(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return,
                }
            }
        };
        tokio::select! {
            () = writer => {}
            () = reader => {}
        }
        s.close();
    }

    /// Serves a TURN client on the `/turn` WebSocket: one TURN message a binary message.
    pub async fn serve_ws<S: AsyncRead + AsyncWrite + Unpin + Send>(self: Arc<Self>, _admission: Admission, ws: WebSocketStream<S>, peer: SocketAddr, fd: Option<i32>) {
        let mut s = self.open_stream(peer, fd);
        let (mut sink, mut source) = ws.split();
        let out = s.out.clone();
        let writer = async {
            while let Some(p) = out.next().await {
                // tungstenite takes the buffer: it is not recycled.
                if sink.send(Message::Binary(Bytes::from(p))).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        };
        let reader = async {
            let opened = Instant::now();
            loop {
                match tokio::time::timeout_at(s.deadline(opened), source.next()).await {
                    Ok(Some(Ok(Message::Binary(m)))) if is_whole_message(&m) => {
                        if let Ok(Some((own, _))) = next_frame(&m) {
                            s.inbound(&m[..own]);
                        }
                    }
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Ok(Some(Ok(Message::Close(_)))) => return,
                    Ok(Some(Ok(other))) => return debug!(from = %s.from, "TURN WebSocket closed: not a TURN message ({} bytes)", other.len()),
                    _ => return,
                }
            }
        };
        tokio::select! {
            () = writer => {}
            () = reader => {}
        }
        s.close();
    }
}

impl Route for Streams {
    /// The server sends `packet` to `to`: queued for its stream if `to` is a stream's address
    /// (dropped if that stream is gone or full). False if `to` is not a stream's.
    fn send(&self, packet: &[u8], to: SocketAddr) -> bool {
        let Some(id) = stream_id(to) else { return false };
        let out = self.outs.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        match out {
            // Its own drops are counted as the stream goes on.
            Some(out) => {
                out.push(packet);
            }
            None => Metrics::add(&self.metrics.turn_stream_dropped_total, 1),
        }
        true
    }
}

/// One open stream.
struct Opened<'a> {
    streams: &'a Streams,
    id: u64,
    /// Its address, as the server knows it.
    from: SocketAddr,
    out: Arc<StreamOut>,
    /// Where passed messages are copied to.
    store: BytesMut,
    /// A message got past the gate.
    passed: bool,
    /// The out queue's drops already counted.
    dropped: u64,
}

impl Opened<'_> {
    /// When the stream is closed if nothing more comes.
    fn deadline(&self, opened: Instant) -> Instant {
        if self.passed {
            Instant::now() + IDLE
        } else {
            opened + FIRST_WITHIN
        }
    }

    /// A message from the client: to the server, answered by the gate, or dropped.
    fn inbound(&mut self, message: &[u8]) {
        let pass = |bytes: &[u8], store: &mut BytesMut| {
            if store.capacity() - store.len() < bytes.len() {
                *store = BytesMut::with_capacity(STORE_BLOCK);
            }
            store.extend_from_slice(bytes);
            // A full queue loses it, as a full socket queue would.
            let _ = self.streams.inject.try_send((store.split().freeze(), self.from));
        };
        match self.streams.guard.inbound(message, self.from) {
            Inbound::Pass => pass(message, &mut self.store),
            Inbound::Rewrite(rewritten) => pass(&rewritten, &mut self.store),
            Inbound::Reply(answer) => {
                self.out.push(&answer);
                return;
            }
            Inbound::Drop => return,
        }
        self.passed = true;
        let dropped = self.out.dropped();
        Metrics::add(&self.streams.metrics.turn_stream_dropped_total, dropped - self.dropped);
        self.dropped = dropped;
    }

    fn close(self) {
        self.out.close();
        self.streams.outs.write().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        Metrics::add(&self.streams.metrics.turn_stream_dropped_total, self.out.dropped() - self.dropped);
        debug!(from = %self.from, "TURN stream closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_addresses_are_their_own_and_never_a_udp_clients() {
        for id in [1, 2, 0xFFFF, 0x1_0000, u64::MAX] {
            assert_eq!(stream_id(stream_addr(id, 5000)), Some(id));
        }
        assert_eq!(stream_id("198.51.100.7:5000".parse().unwrap()), None);
        assert_eq!(stream_id("[2001:db8::1]:5000".parse().unwrap()), None);
        assert_eq!(stream_id("[::ffff:198.51.100.7]:5000".parse().unwrap()), None);
    }
}
