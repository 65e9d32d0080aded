//! The upstream MCP server over Streamable HTTP: one pooled hyper client, the headers that
//! cross warden in each direction, and nothing else.
//!
//! Headers are passed by allow-list, both ways: toward the server only the MCP and content
//! headers (never the client's `Authorization`, cookies or `Origin`), plus the upstream
//! credentials from the grants file; toward the client only the MCP and content headers of the
//! server's answer. Plain `http://` upstreams only (put warden beside the server, or behind a
//! TLS-terminating sidecar).

use super::Body;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri, body::Incoming};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// Request headers a client may send through to the server.
const TO_SERVER: [&str; 7] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
];

/// Response headers the server may send through to the client.
const TO_CLIENT: [&str; 7] = [
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "cache-control",
    "retry-after",
    "allow",
    "x-accel-buffering",
];

pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Idle connections are dropped before common servers' keep-alive timeouts (Node's is
        // 5 s): a request written on a connection the server is closing fails and cannot be
        // retried (a POST may have run).
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build(connector);
        Ok(Upstream {
            client,
            uri,
            credentials,
        })
    }

    /// The path warden serves the MCP endpoint at: the upstream's.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// Sends one request upstream with the client's allowed headers and the upstream
    /// credentials.
    pub async fn send(
        &self,
        method: Method,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let mut builder = Request::builder().method(method).uri(self.uri.clone());
        if let Some(headers) = builder.headers_mut() {
            for name in TO_SERVER {
                for value in client_headers.get_all(name) {
                    headers.append(name, value.clone());
                }
            }
            for (name, value) in &self.credentials {
                headers.insert(name.clone(), value.clone());
            }
        }
        let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.client
            .request(request)
            .await
            .map_err(|e| format!("upstream request failed: {e}"))
    }
}

/// The server's answer's headers that go to the client.
pub fn client_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in TO_CLIENT {
        for value in from.get_all(name) {
            out.append(name, value.clone());
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
