//! warden's TLS configurations (rustls with ring). As a client, for the servers it reaches
//! over TLS: Redis at `rediss://` (`limits::redis`) and an `https://` upstream (`http::pool`),
//! the server's certificate checked against the system's roots: `SSL_CERT_FILE`, else
//! Debian's `/etc/ssl/certs/ca-certificates.crt`, so a private CA is trusted the usual way. As
//! a server, for an HTTPS listener (`--tls-cert`, `--tls-key`). The certificates warden
//! presents, as a server or to an upstream asking for a client certificate
//! (`--upstream-cert`, `--upstream-key`), are reloadable pairs ([`CertPair`]).

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The client configuration, its roots read now; `alpn` names the application protocols
/// offered (empty: none); `identity`, a certificate to present if the server asks for one.
pub fn client_config(
    alpn: &[&[u8]],
    identity: Option<Arc<CertPair>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let path = std::env::var_os("SSL_CERT_FILE")
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let shown = Path::new(&path).display().to_string();
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
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(pair) => builder.with_client_cert_resolver(pair),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A certificate chain and its key, read from their files: an HTTPS listener's, or the one
/// warden presents to an upstream that asks for a client certificate. [`CertPair::reload`]
/// swaps in a renewed pair for the handshakes that follow (connections already open keep
/// theirs), and refuses a pair whose key does not match its certificate.
#[derive(Debug)]
pub struct CertPair {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl CertPair {
    /// Reads the pair: the chain (PEM, the server's own certificate first) and its private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertPair>, String> {
        Ok(Arc::new(CertPair {
            current: ArcSwap::from_pointee(read_pair(cert, key)?),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    pub fn files(&self) -> (&Path, &Path) {
        (&self.cert, &self.key)
    }

    /// Reads the files again; on an error the pair in use stays.
    pub fn reload(&self) -> Result<(), String> {
        self.current
            .store(Arc::new(read_pair(&self.cert, &self.key)?));
        Ok(())
    }

    /// The server configuration that presents this pair; ALPN `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertPair {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl ResolvesClientCert for CertPair {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together.
fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let shown = key.display();
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {shown}: {e}"))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| format!("{} with {shown}: {e}", cert.display()))
}
