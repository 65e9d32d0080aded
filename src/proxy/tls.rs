//! warden's TLS configurations (rustls with ring). As a client, for the servers it reaches
//! over TLS: Redis at `rediss://` (`limits::redis`) and an `https://` upstream (`http::pool`),
//! the server's certificate checked against the system's roots: `SSL_CERT_FILE`, else
//! Debian's `/etc/ssl/certs/ca-certificates.crt`, so a private CA is trusted the usual way. As
//! a server, for an HTTPS listener (`--tls-cert`, `--tls-key`), which may ask clients for a
//! certificate from CAs of its own (`--client-ca`, [`ClientCa`]) and read the names in it
//! ([`subject_names`]). The certificates warden presents, as a server or to an upstream
//! asking for a client certificate (`--upstream-cert`, `--upstream-key`), are reloadable
//! pairs ([`CertPair`]); the client CAs are reloadable too.

use arc_swap::ArcSwap;
use rustls::DistinguishedName;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::UnixTime;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
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
    let roots = read_roots(Path::new(&path))?;
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

/// The CA certificates in a PEM file; none is an error.
fn read_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let shown = path.display();
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the CA certificates {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{shown}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown} holds no CA certificate"));
    }
    Ok(roots)
}

/// The names a client certificate (verified by the handshake) is issued to: its subject
/// alternative names of type DNS (lowercase) and URI (as written, e.g. a SPIFFE ID). The
/// subject's common name is not read: certificates name their holders in these.
pub fn subject_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    let dns = cert.valid_dns_names().map(str::to_ascii_lowercase);
    dns.chain(cert.valid_uri_names().map(str::to_string))
        .collect()
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

    /// The server configuration that presents this pair; ALPN `http/1.1`. With `client_ca`,
    /// clients are asked for a certificate: one that the CAs did not issue (or that is
    /// expired, or not for client authentication) ends the handshake; a client may also
    /// present none (and a bearer token instead).
    pub fn server_config(
        self: &Arc<Self>,
        client_ca: Option<Arc<ClientCa>>,
    ) -> Result<Arc<rustls::ServerConfig>, String> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let asks_certificates = client_ca.is_some();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(ca),
        };
        let mut config = builder.with_cert_resolver(self.clone());
        if asks_certificates {
            // A resumed session skips the client certificate's verification: it would outlive
            // a rotation of the client CAs and the certificate's own expiry. Every connection
            // makes a full handshake instead (agents keep their connections alive).
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The CAs whose certificates an HTTPS listener's clients may present (`--client-ca`, a PEM
/// file), as the listener's rustls verifier: a client may present none (unless `required`:
/// then the handshake ends without one); one it presents must chain to these CAs, be valid
/// now and be for client authentication. [`ClientCa::reload`]
/// reads the file again for the handshakes that follow (trust bundles rotate: a SPIFFE
/// bundle often daily); a file that holds no CA is refused and the CAs in use stay. Clients
/// are not sent the CAs' names (a client with several certificates picks its own).
#[derive(Debug)]
pub struct ClientCa {
    path: PathBuf,
    required: bool,
    current: ArcSwap<Arc<dyn ClientCertVerifier>>,
}

impl ClientCa {
    pub fn load(path: &Path, required: bool) -> Result<Arc<ClientCa>, String> {
        Ok(Arc::new(ClientCa {
            current: ArcSwap::from_pointee(ClientCa::verifier(path)?),
            path: path.to_path_buf(),
            required,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a client must present a certificate to connect.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Reads the file again; on an error the CAs in use stay.
    pub fn reload(&self) -> Result<(), String> {
        self.current
            .store(Arc::new(ClientCa::verifier(&self.path)?));
        Ok(())
    }

    fn verifier(path: &Path) -> Result<Arc<dyn ClientCertVerifier>, String> {
        let roots = Arc::new(read_roots(path)?);
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl ClientCertVerifier for ClientCa {
    fn client_auth_mandatory(&self) -> bool {
        self.required()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current.load().supported_verify_schemes()
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
