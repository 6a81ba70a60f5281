//! Opening the hub's WebSocket: `ws://` over TCP, or `wss://` over TLS checked against the
//! system's root certificates plus `--ca FILE` (for a hub with a self-signed certificate).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::WebSocketStream;


/// How long connecting (TCP, TLS and the WebSocket handshake) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A byte stream the WebSocket runs on, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The hub connection, whichever transport it runs on.
pub type HubSocket = WebSocketStream<Box<dyn Io>>;

/// Why a connection attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// Worth retrying: the hub is down, restarting, or the network is.
    Retry(String),
    /// Retrying cannot help (the certificate is not trusted, the URL is wrong): stop and say why.
    Fatal { code: &'static str, message: String },
}

/// The TLS settings for `wss://`: the system's roots, plus the certificates in `ca`.
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read --ca {}: {e}", ca.display()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--ca {}: not PEM certificates: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("--ca {}: no certificate in it", ca.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("--ca {}: unusable certificate: {e}", ca.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects and does the WebSocket handshake, over TLS for `wss://`.
pub async fn connect(url: &str, tls: Option<&Arc<ClientConfig>>) -> Result<HubSocket, ConnectError> {
    Ok(connect_with_fd(url, tls).await?.0)
}

/// The same, with the TCP socket's descriptor (valid as long as the WebSocket is), for those
/// who watch its send backlog.
pub async fn connect_with_fd(url: &str, tls: Option<&Arc<ClientConfig>>) -> Result<(HubSocket, Option<i32>), ConnectError> {
    let fatal = |message: String| ConnectError::Fatal { code: "bad_hub_url", message };
    let request = url.into_client_request().map_err(|e| fatal(format!("bad hub URL {url}: {e}")))?;
    let secure = match request.uri().scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(fatal(format!("bad hub URL {url}: give ws:// or wss://"))),
    };
    let host = request.uri().host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = request.uri().port_u16().unwrap_or(if secure { 443 } else { 80 });
    let attempt = async {
        let tcp = connect_any(&host, port, url).await?;
        let _ = tcp.set_nodelay(true);
        #[cfg(unix)]
        let fd = Some(std::os::fd::AsRawFd::as_raw_fd(&tcp));
        #[cfg(not(unix))]
        let fd = None;
        let stream: Box<dyn Io> = if secure {
            let Some(tls) = tls else {
                return Err(fatal("a wss:// hub needs TLS settings".into()));
            };
            let name = ServerName::try_from(host.clone()).map_err(|e| fatal(format!("bad hub host {host:?}: {e}")))?;
            let tls = TlsConnector::from(tls.clone()).connect(name, tcp).await.map_err(|e| tls_error(&host, e))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, None)
            .await
            .map_err(|e| ConnectError::Retry(format!("WebSocket handshake with {url} failed: {e}")))?;
        Ok((ws, fd))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Retry(format!("no answer from {url} within {CONNECT_TIMEOUT:?}"))),
    }
}

/// How long one address of the hub's name gets before the next is tried: a name may stand for
/// the hubs of a cluster, and one of them may be down without refusing.
const PER_ADDRESS: Duration = Duration::from_secs(2);

/// A TCP connection to the first of `host`'s addresses that answers, in the resolver's order.
async fn connect_any(host: &str, port: u16, url: &str) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ConnectError::Retry(format!("cannot resolve {host} for {url}: {e}")))?
        .collect();
    let mut why = format!("{host} has no address");
    for addr in addrs {
        match tokio::time::timeout(PER_ADDRESS, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => return Ok(tcp),
            Ok(Err(e)) => why = format!("{addr}: {e}"),
            Err(_) => why = format!("{addr}: no answer within {PER_ADDRESS:?}"),
        }
    }
    Err(ConnectError::Retry(format!("cannot connect to {url}: {why}")))
}

/// A TLS handshake failure: certificate problems are final and say what to do; the rest is retried.
fn tls_error(host: &str, e: std::io::Error) -> ConnectError {
    let Some(rustls::Error::InvalidCertificate(cert)) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return ConnectError::Retry(format!("TLS handshake with {host} failed: {e}"));
    };
    let message = match cert {
        CertificateError::UnknownIssuer => format!(
            "the hub's certificate is not trusted (UnknownIssuer: no trusted authority signed it). \
             If {host} uses a self-signed certificate, pass it with --ca FILE"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
            "the hub's certificate is not valid for the name {host} (NotValidForName); connect by a name it lists, or make it with `termcall-hub gen-cert --host {host}`"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the hub's certificate has expired (Expired)".to_owned(),
        other => format!("the hub's certificate was refused: {other:?}"),
    };
    ConnectError::Fatal { code: "bad_certificate", message }
}
