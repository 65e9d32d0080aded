//! warden's TLS client configuration, for the servers it reaches over TLS: Redis at
//! `rediss://` (`limits::redis`) and an `https://` upstream (`http::pool`). rustls with ring;
//! the server's certificate is checked against the system's roots: `SSL_CERT_FILE`, else
//! Debian's `/etc/ssl/certs/ca-certificates.crt`, so a private CA is trusted the usual way.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;

/// The client configuration, its roots read now; `alpn` names the application protocols
/// offered (empty: none).
pub fn client_config(alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, String> {
    let path = std::env::var_os("SSL_CERT_FILE")
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let shown = std::path::Path::new(&path).display().to_string();
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| format!("cannot read the CA certificates {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{shown}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown} holds no CA certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
