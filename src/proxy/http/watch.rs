//! The files the HTTP proxy follows while it runs, polled like the policy (`proxy::reload`):
//! the grants file (tokens and upstream credentials), the certificates warden presents
//! (an HTTPS listener's, the client certificate for the upstream) and the CAs of the
//! listener's clients' certificates (`--client-ca`).
//! A changed file is read and swapped in whole; one with errors is refused, logged, and what
//! was in use stays.

use super::grants::Grants;
use super::server::{Backend, Proxy};
use crate::proxy::reload::FileWatch;
use crate::proxy::tls::{CertPair, ClientCa};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Reloads the grants file whenever it changes, or the JWKS file it names does (an identity
/// provider's key rotation): the tokens, the JWT keys and the upstream credentials are swapped
/// in together; a file with errors is refused and the previous grants stay. Sessions belong
/// to grant names: a rotated token keeps its grant's sessions.
pub async fn grants(proxy: Arc<Proxy>, mut file: FileWatch, every: Duration) {
    let jwks_of = |grants: &Grants| {
        let file = grants.jwt.as_ref().and_then(|j| j.jwks_file());
        file.map(Path::to_path_buf)
    };
    let mut jwks = jwks_of(&proxy.grants.load()).map(|p| FileWatch::new(p, every));
    loop {
        match &mut jwks {
            Some(keys) => tokio::select! {
                _ = file.changed() => {}
                _ = keys.changed() => {}
            },
            None => file.changed().await,
        }
        let path = file.path().display();
        let loaded = match Grants::load(file.path()) {
            Ok(grants) => fetch_keys(&grants).await.map(|()| grants),
            Err(e) => Err(e),
        };
        let loaded = loaded.and_then(|grants| {
            super::server::proxy_can_use(&grants, &proxy.settings)?;
            if let Backend::Http(upstream) = &proxy.backend {
                upstream.set_credentials(&grants.upstream_headers)?;
            }
            Ok(grants)
        });
        match loaded {
            Ok(grants) => {
                let summary = grants.summary();
                let keys = jwks_of(&grants);
                if keys.as_deref() != jwks.as_ref().map(FileWatch::path) {
                    jwks = keys.map(|p| FileWatch::new(p, every));
                }
                proxy.grants.store(Arc::new(grants));
                proxy.metrics.grants_reloaded(true);
                eprintln!("warden: reloaded the grants in {path} ({summary})");
            }
            Err(e) => {
                proxy.metrics.grants_reloaded(false);
                eprintln!("warden: refused to reload {path}, keeping the previous grants: {e}");
            }
        }
    }
}

/// Fetches the keys at the grants' JWKS URL, if they name one (keys from a file are read with
/// the grants file); an error is the grants'.
pub async fn fetch_keys(grants: &Grants) -> Result<(), String> {
    match &grants.jwt {
        Some(jwt) => jwt.refresh().await.map(|_| ()),
        None => Ok(()),
    }
}

/// Fetches the JWKS of the grants in use again, at the interval they give (keys at a URL
/// rotate there); a failed fetch is logged and the keys in use stay.
pub async fn jwks(proxy: Arc<Proxy>) {
    let every = |proxy: &Proxy| proxy.grants.load().jwt.as_ref()?.refresh_every();
    loop {
        tokio::time::sleep(every(&proxy).unwrap_or(Duration::from_secs(60))).await;
        let grants = proxy.grants.load_full();
        let Some(jwt) = grants.jwt.as_ref().filter(|j| j.refresh_every().is_some()) else {
            continue;
        };
        if let Err(e) = jwt.refresh().await {
            eprintln!("warden: cannot fetch the JWKS again, keeping the keys in use: {e}");
        }
    }
}

/// Reloads a certificate pair (the listener's, or the upstream client one) whenever its
/// certificate or key file changes (a renewal writes both: a pair caught half-written is
/// refused, and the second write reloads again).
pub async fn certificate(cert: Arc<CertPair>, every: Duration) {
    let (cert_file, key_file) = cert.files();
    let files = [cert_file, key_file].map(|f| FileWatch::new(f.to_path_buf(), every));
    reloading(files, "certificate", || cert.reload()).await
}

/// Reloads the listener's client CAs whenever their file changes.
pub async fn client_ca(ca: Arc<ClientCa>, every: Duration) {
    let file = FileWatch::new(ca.path().to_path_buf(), every);
    reloading([file], "client CAs", || ca.reload()).await
}

/// Calls `reload` whenever one of `files` changes, and says how it went (`what`: what the
/// files hold); a refused reload keeps what is in use.
async fn reloading<const N: usize>(
    mut files: [FileWatch; N],
    what: &str,
    reload: impl Fn() -> Result<(), String>,
) {
    let shown = files[0].path().display().to_string();
    loop {
        FileWatch::any_changed(&mut files).await;
        match reload() {
            Ok(()) => eprintln!("warden: reloaded the {what} {shown}"),
            Err(e) => {
                eprintln!("warden: refused to reload the {what}, keeping the previous one: {e}")
            }
        }
    }
}
