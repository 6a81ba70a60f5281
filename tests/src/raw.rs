use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, stream::MaybeTlsStream, Message, WebSocket};

/// A bare WebSocket client speaking to the hub directly: for protocol and abuse tests.
pub struct Raw {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub fn connect(url: &str) -> Raw {
        Raw::try_connect(url, None).expect("connect to hub")
    }

    /// Connects, as a browser page from `origin` would when one is given; the handshake's
    /// error (with the HTTP status of a refusal) on failure.
    pub fn try_connect(url: &str, origin: Option<&str>) -> Result<Raw, String> {
        use tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        if let Some(o) = origin {
            request.headers_mut().insert("Origin", o.parse().map_err(|_| "bad origin".to_string())?);
        }
        let (ws, _) = tungstenite::connect(request).map_err(|e| match e {
            tungstenite::Error::Http(resp) => format!("HTTP {}", resp.status().as_u16()),
            other => other.to_string(),
        })?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        }
        Ok(Raw { ws })
    }

    /// Connects and registers as `name`; returns the welcome.
    pub fn hello(url: &str, name: &str) -> (Raw, Value) {
        let mut r = Raw::connect(url);
        r.send_json(&serde_json::json!({"type":"hello","version":termcall_shared::PROTOCOL_VERSION,"name":name}));
        let welcome = r.expect(crate::SOON, |m| m["type"] == "welcome" || m["type"] == "error");
        (r, welcome)
    }

    pub fn send_text(&mut self, text: &str) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::Text(text.into()))
    }

    pub fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).expect("send");
    }

    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::Binary(data.to_vec().into()))
    }

    /// The next JSON message satisfying `pred` within `within`; panics otherwise.
    pub fn expect(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let until = std::time::Instant::now() + within;
        let mut seen = Vec::new();
        while std::time::Instant::now() < until {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).expect("hub sent JSON");
                    if pred(&v) {
                        return v;
                    }
                    seen.push(v);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("connection ended ({e}) before the expected message; saw {seen:?}"),
            }
        }
        panic!("no expected message within {within:?}; saw {seen:?}")
    }

    /// Closes the WebSocket politely (a close frame), as a well-behaved client leaves.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
        let _ = self.ws.read();
    }

    /// The next JSON message, if one comes within `within` (and the connection is open).
    pub fn try_next(&mut self, within: Duration) -> Option<Value> {
        let set = |ws: &WebSocket<MaybeTlsStream<TcpStream>>, t: Duration| {
            if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                let _ = s.set_read_timeout(Some(t.max(Duration::from_millis(1))));
            }
        };
        set(&self.ws, within);
        let until = std::time::Instant::now() + within;
        let mut got = None;
        while got.is_none() && std::time::Instant::now() < until {
            match self.ws.read() {
                Ok(Message::Text(t)) => got = serde_json::from_str(&t).ok(),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        set(&self.ws, Duration::from_millis(200));
        got
    }

    /// Reads until the hub closes the connection; true if it did within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            match self.ws.read() {
                Ok(Message::Close(_)) => {}
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}
