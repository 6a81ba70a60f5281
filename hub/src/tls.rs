//! TLS for `wss://`: the server configuration from `--tls-cert`/`--tls-key`, and
//! `termcall-hub gen-cert`, which writes a self-signed pair for a quick start.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The acceptor for every connection, or why the files cannot serve TLS.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("cannot read --tls-cert {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("cannot read --tls-key {}: {e}", key.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: not PEM certificates: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("--tls-key {}: no PEM private key in it: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("--tls-cert and --tls-key do not make a usable pair: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed certificate for `names` (DNS names or IP addresses) and its key, as PEM.
pub fn self_signed(names: &[String]) -> Result<(String, String), String> {
    let made = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| format!("cannot make a certificate: {e}"))?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

/// `termcall-hub gen-cert`: writes the pair, the key readable by its owner only, and refuses
/// to overwrite either file.
pub fn write_self_signed(cert: &Path, key: &Path, names: &[String]) -> Result<(), String> {
    for p in [cert, key] {
        if p.exists() {
            return Err(format!("{} exists; remove it or choose another path", p.display()));
        }
    }
    let (cert_pem, key_pem) = self_signed(names)?;
    std::fs::write(cert, cert_pem).map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let write_key = || -> std::io::Result<()> {
        use std::io::Write;
        opts.open(key)?.write_all(key_pem.as_bytes())
    };
    write_key().map_err(|e| format!("cannot write {}: {e}", key.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_serves() {
        let dir = std::env::temp_dir().join(format!("termcall-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&key);
        write_self_signed(&cert, &key, &["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(acceptor(&cert, &key).is_ok());
        assert!(write_self_signed(&cert, &key, &["localhost".into()]).unwrap_err().contains("exists"));
        assert!(acceptor(&key, &key).err().unwrap().contains("--tls-cert"), "a key is not a certificate");
        assert!(acceptor(&cert, &cert).err().unwrap().contains("--tls-key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
