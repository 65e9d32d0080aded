//! The Streamable HTTP transport of the catalog client: each JSON-RPC message is POSTed to the
//! endpoint with `Accept: application/json, text/event-stream`; the answer comes as one JSON
//! body or as a server-sent event stream, read until the awaited response arrives. The
//! `Mcp-Session-Id` the server assigns at `initialize` is sent back on every later request,
//! with `MCP-Protocol-Version`, and the session is closed with a `DELETE` at the end. Every
//! request also names its method in `Mcp-Method` (2026-07-28 servers check it against the body).
//! The requests go out on the proxy's own HTTP/1.1 client (`proxy::http::upstream::Endpoint`,
//! `pool`):
//! `http://`, or `https://` with the server's certificate checked against the system's roots
//! (`SSL_CERT_FILE`).

use super::client::{MAX_MESSAGE_BYTES, Read, Transport, read};
use crate::proxy::http::pool::{Lent, Pool, collect};
use crate::proxy::http::upstream::Endpoint;
use crate::proxy::jsonrpc::Id;
use http_body_util::BodyExt;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Response};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

static SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
static VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The 2026-07-28 routing header: the JSON-RPC method of the body.
static METHOD: HeaderName = HeaderName::from_static("mcp-method");

/// The answer headers the client reads.
static KEEP: [HeaderName; 2] = [
    header::CONTENT_TYPE,
    HeaderName::from_static("mcp-session-id"),
];

pub struct Http {
    url: String,
    endpoint: Endpoint,
    pool: Arc<Pool>,
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
}

impl Http {
    pub fn new(url: &str) -> Result<Http, String> {
        let endpoint = Endpoint::parse(url)?;
        Ok(Http {
            url: url.to_string(),
            pool: endpoint.pool(None)?,
            endpoint,
            session: None,
            version: None,
        })
    }

    /// Sends one request with the session's headers; `post` adds a JSON body's.
    async fn send(
        &self,
        method: Method,
        mcp_method: Option<&str>,
        body: &[u8],
    ) -> Result<Response<Lent>, String> {
        let json = HeaderValue::from_static("application/json");
        let accept = HeaderValue::from_static("application/json, text/event-stream");
        let mcp_method = mcp_method.and_then(|m| HeaderValue::from_str(m).ok());
        let post = method == Method::POST;
        let headers = [
            self.session.as_ref().map(|s| (&SESSION, s)),
            self.version.as_ref().map(|v| (&VERSION, v)),
            mcp_method.as_ref().map(|m| (&METHOD, m)),
            post.then_some((&header::CONTENT_TYPE, &json)),
            post.then_some((&header::ACCEPT, &accept)),
        ];
        let headers = headers
            .into_iter()
            .flatten()
            .map(|(n, v)| (n, v.as_bytes()));
        let request = self.endpoint.request(method.as_str(), headers, body);
        self.pool
            .send(&request, &KEEP)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.url))
    }

    async fn post(
        &mut self,
        method: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Response<Lent>, String> {
        let response = self.send(Method::POST, method, &body).await?;
        if let Some(s) = response.headers().get(&SESSION) {
            self.session = Some(s.clone());
        }
        if !response.status().is_success() {
            let status = response.status();
            let text = collect(response.into_body(), MAX_MESSAGE_BYTES)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text[..text.len().min(500)]).into_owned();
            return Err(format!("{} answered HTTP {status}: {text}", self.url));
        }
        Ok(response)
    }

    /// Ends the session (servers that keep sessions free them on `DELETE`).
    pub async fn close(&mut self) {
        if self.session.is_none() {
            return;
        }
        let delete = self.send(Method::DELETE, None, &[]);
        if let Ok(Ok(answer)) = tokio::time::timeout(Duration::from_secs(2), delete).await {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                collect(answer.into_body(), MAX_MESSAGE_BYTES),
            )
            .await;
        }
    }
}

/// Takes the complete events off the front of an SSE buffer and returns their `data`.
fn events(buffer: &mut String) -> Vec<String> {
    if buffer.contains('\r') {
        *buffer = buffer.replace("\r\n", "\n");
    }
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let event: String = buffer.drain(..end + 2).collect();
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            out.push(data.join("\n"));
        }
    }
    out
}

impl Transport for Http {
    async fn call(&mut self, id: &Id, method: &str, request: Vec<u8>) -> Result<Value, String> {
        let response = self.post(Some(method), request).await?;
        let sse = crate::proxy::http::upstream::is_sse(response.headers());
        let mut body = response.into_body();
        if !sse {
            let bytes = collect(body, MAX_MESSAGE_BYTES).await?;
            return match read(&bytes, id) {
                Read::Answer(v) => Ok(v),
                _ => Err("the server's HTTP answer is not the response to the request".into()),
            };
        }
        let mut buffer = String::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("cannot read the event stream: {e}"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len();
            if seen > MAX_MESSAGE_BYTES {
                return Err(format!("an event stream is over {MAX_MESSAGE_BYTES} bytes"));
            }
            buffer.push_str(&String::from_utf8_lossy(&data));
            for event in events(&mut buffer) {
                match read(event.as_bytes(), id) {
                    Read::Answer(v) => return Ok(v),
                    Read::Reply(bytes) => {
                        // An answer to the server's request: no method of its own.
                        self.post(None, bytes).await?;
                    }
                    Read::Skip => {}
                }
            }
        }
        Err("the event stream ended before the response".into())
    }

    async fn notify(&mut self, method: &str, notification: Vec<u8>) -> Result<(), String> {
        self.post(Some(method), notification).await.map(|_| ())
    }

    fn negotiated(&mut self, version: Option<&str>) {
        self.version = version.and_then(|v| HeaderValue::from_str(v).ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_joined() {
        let mut b = String::from(
            "id: 1\ndata: \n\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: part",
        );
        assert_eq!(
            events(&mut b),
            vec!["".to_string(), "{\"a\":\n1}".to_string()]
        );
        assert_eq!(b, "data: part");
        assert!(Http::new("ftp://x").is_err());
        assert!(Http::new("http://127.0.0.1:1/mcp").is_ok());
    }
}
