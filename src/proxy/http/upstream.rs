//! The upstream MCP server over Streamable HTTP: its keep-alive connections (`pool`), the
//! headers that cross warden in each direction, and nothing else.
//!
//! Headers are passed by allow-list, both ways: toward the server only the MCP and content
//! headers (never the client's `Authorization`, cookies or `Origin`), plus the upstream
//! credentials from the grants file; toward the client only the MCP and content headers of the
//! server's answer. Plain `http://` upstreams only (put warden beside the server, or behind a
//! TLS-terminating sidecar).

use super::Body;
use super::pool::{Lent, Pool};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use std::sync::Arc;

/// Request headers a client may send through to the server (names parsed once, at compile
/// time: a lookup by `&str` parses the name on every call).
static TO_SERVER: [HeaderName; 7] = [
    HeaderName::from_static("content-type"),
    HeaderName::from_static("accept"),
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("last-event-id"),
    HeaderName::from_static("mcp-method"),
    HeaderName::from_static("mcp-name"),
];

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
    /// The request target: the URL's path and query.
    target: Uri,
    /// The `Host` header: the URL's host, and its port unless it is 80.
    host: HeaderValue,
    credentials: Vec<(HeaderName, HeaderValue)>,
}

/// `url` as a plain `http://` URI with a host; `https_hint` says what to do instead of https.
pub fn plain_http(url: &str, https_hint: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(format!("`{url}`: {https_hint}")),
        _ => return Err(format!("`{url}` is not an http:// URL")),
    }
    if uri.host().is_none() {
        return Err(format!("`{url}` has no host"));
    }
    Ok(uri)
}

impl Upstream {
    pub fn new(url: &str, credentials: &[(String, String)]) -> Result<Upstream, String> {
        let uri = plain_http(
            url,
            "warden speaks plain http to its upstream (run it beside the server, or behind a TLS sidecar)",
        )?;
        let credentials = credentials
            .iter()
            .map(|(n, v)| {
                Ok((
                    HeaderName::from_bytes(n.as_bytes()).map_err(|e| e.to_string())?,
                    HeaderValue::from_str(v).map_err(|e| e.to_string())?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = match port {
            80 => authority.host().to_string(),
            _ => format!("{}:{port}", authority.host()),
        };
        let host = HeaderValue::from_str(&host).map_err(|e| format!("`{url}`: {e}"))?;
        let name = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let target = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("`{url}`: {e}"))?;
        Ok(Upstream {
            pool: Pool::new(name, port),
            target,
            host,
            credentials,
        })
    }

    /// The path warden serves the MCP endpoint at: the upstream's.
    pub fn path(&self) -> &str {
        self.target.path()
    }

    /// Sends one request upstream with the client's allowed headers and the upstream
    /// credentials.
    pub async fn send(
        &self,
        method: Method,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Lent>, String> {
        let mut builder = Request::builder().method(method).uri(self.target.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.insert(hyper::header::HOST, self.host.clone());
            for name in &TO_SERVER {
                for value in client_headers.get_all(name) {
                    headers.append(name.clone(), value.clone());
                }
            }
            for (name, value) in &self.credentials {
                headers.insert(name.clone(), value.clone());
            }
        }
        let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.pool.send(request).await
    }
}

/// The server's answer's headers that go to the client.
pub fn client_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in &TO_CLIENT {
        for value in from.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
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
