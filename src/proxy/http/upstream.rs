//! The upstream MCP server over Streamable HTTP: its keep-alive connections (`pool`), the
//! headers that cross warden in each direction, and nothing else.
//!
//! The requests go out as [`wire`] writes them, on connections of the [`Pool`].
//!
//! Headers are passed by allow-list, both ways: toward the server only the MCP and content
//! headers (`front::Headers::forwarded`: never the client's `Authorization`, cookies or
//! `Origin`), plus the upstream
//! credentials from the grants file; toward the client only the MCP and content headers of the
//! server's answer. An `https://` upstream is reached over TLS (the server's certificate
//! checked against the system's roots or `SSL_CERT_FILE`, `proxy::tls`; ALPN `http/1.1`).

use super::Body;
use super::front::Headers;
use super::pool::{Lent, Pool};
use super::wire;
use crate::proxy::tls::CertPair;
use arc_swap::ArcSwap;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, Uri};
use std::sync::Arc;

/// Response headers the server may send through to the client.
static TO_CLIENT: [HeaderName; 7] = [
    HeaderName::from_static("content-type"),
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("cache-control"),
    HeaderName::from_static("retry-after"),
    HeaderName::from_static("allow"),
    HeaderName::from_static("x-accel-buffering"),
];

pub struct Upstream {
    pool: Arc<Pool>,
    endpoint: Endpoint,
    /// Swapped whole when the grants file is reloaded.
    credentials: ArcSwap<Vec<(HeaderName, HeaderValue)>>,
}

/// Where an HTTP server is: a URL's parts that reach it.
pub struct Endpoint {
    /// The host as connected to (a name or an IP address, without brackets).
    pub host: String,
    pub port: u16,
    /// `https://`.
    pub tls: bool,
    /// The `Host` header: the URL's host, and its port unless it is the scheme's.
    pub host_header: HeaderValue,
    /// The request target: the URL's path and query.
    pub target: Uri,
}

impl Endpoint {
    /// An `http://` or `https://` URL with a host.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("http") => (false, 80),
            Some("https") => (true, 443),
            _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = match port == default_port {
            true => authority.host().to_string(),
            false => format!("{}:{port}", authority.host()),
        };
        let target = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("`{url}`: {e}"))?;
        Ok(Endpoint {
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            host_header: HeaderValue::from_str(&host_header)
                .map_err(|e| format!("`{url}`: {e}"))?,
            target,
        })
    }

    /// A request to it (head and body, for [`Pool::send`]): `Host` first, then `headers`.
    pub fn request<'a>(
        &'a self,
        method: &str,
        headers: impl Iterator<Item = (&'a HeaderName, &'a [u8])>,
        body: &[u8],
    ) -> Vec<u8> {
        let host = (&hyper::header::HOST, self.host_header.as_bytes());
        let target = self.target.path_and_query().map_or("/", |p| p.as_str());
        wire::request(method, target, std::iter::once(host).chain(headers), body)
    }

    /// A pool of connections to it (TLS ones for `https://`, the CA roots read now,
    /// presenting `identity` if the server asks for a client certificate).
    pub fn pool(&self, identity: Option<Arc<CertPair>>) -> Result<Arc<Pool>, String> {
        if !self.tls {
            return Ok(Pool::new(&self.host, self.port));
        }
        let config = crate::proxy::tls::client_config(&[b"http/1.1"], identity)?;
        Pool::tls(&self.host, self.port, config)
    }
}

impl Upstream {
    /// The server at `url`, sent `credentials` with every request; `identity` is presented
    /// over TLS if the server asks for a client certificate.
    pub fn new(
        url: &str,
        credentials: &[(String, String)],
        identity: Option<Arc<CertPair>>,
    ) -> Result<Upstream, String> {
        let endpoint = Endpoint::parse(url)?;
        Ok(Upstream {
            pool: endpoint.pool(identity)?,
            endpoint,
            credentials: ArcSwap::from_pointee(headers(credentials)?),
        })
    }

    /// Sends these credentials from the next request on (a reloaded grants file).
    pub fn set_credentials(&self, credentials: &[(String, String)]) -> Result<(), String> {
        self.credentials.store(Arc::new(headers(credentials)?));
        Ok(())
    }

    /// The path warden serves the MCP endpoint at: the upstream's.
    pub fn path(&self) -> &str {
        self.endpoint.target.path()
    }

    /// Sends one request upstream with the client's allowed headers and the upstream
    /// credentials; the answer carries only the headers the client may see.
    pub async fn send(
        &self,
        method: Method,
        client_headers: &Headers,
        body: &[u8],
    ) -> Result<Response<Lent>, String> {
        let credentials = self.credentials.load();
        let from_client = client_headers
            .forwarded()
            .filter(|(name, _)| !credentials.iter().any(|(n, _)| n == *name))
            .map(|(n, v)| (n, v.as_bytes()));
        let own = credentials.iter().map(|(n, v)| (n, v.as_bytes()));
        let request = self
            .endpoint
            .request(method.as_str(), from_client.chain(own), body);
        self.pool.send(&request, &TO_CLIENT).await
    }
}

/// Header pairs as header names and values.
fn headers(pairs: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    pairs
        .iter()
        .map(|(n, v)| {
            Ok((
                HeaderName::from_bytes(n.as_bytes()).map_err(|e| e.to_string())?,
                HeaderValue::from_str(v).map_err(|e| e.to_string())?,
            ))
        })
        .collect()
}

/// Whether a response is an SSE stream.
pub fn is_sse(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// Whether a response is one JSON body.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// A response with these parts (never fails: a bad header value is dropped).
pub fn response(status: hyper::StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}
