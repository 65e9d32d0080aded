//! The Streamable HTTP transport of the catalog client: each JSON-RPC message is POSTed to the
//! endpoint with `Accept: application/json, text/event-stream`; the answer comes as one JSON
//! body or as a server-sent event stream, read until the awaited response arrives. The
//! `Mcp-Session-Id` the server assigns at `initialize` is sent back on every later request,
//! with `MCP-Protocol-Version`, and the session is closed with a `DELETE` at the end. Every
//! request also names its method in `Mcp-Method` (2026-07-28 servers check it against the body).
//! Plain `http://` only (no TLS in this client).

use super::client::{MAX_MESSAGE_BYTES, Read, Transport, read};
use crate::proxy::jsonrpc::Id;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";
/// The 2026-07-28 routing header: the JSON-RPC method of the body.
const METHOD: &str = "mcp-method";

#[derive(Debug)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    session: Option<String>,
    version: Option<String>,
}

impl Http {
    pub fn new(url: &str) -> Result<Http, String> {
        let uri = crate::proxy::http::upstream::plain_http(
            url,
            "https is not supported by `--url` (plain http only); reach the server through a local TLS terminator",
        )?;
        Ok(Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            uri,
            session: None,
            version: None,
        })
    }

    fn builder(&self, method: Method) -> hyper::http::request::Builder {
        let mut b = Request::builder().method(method).uri(self.uri.clone());
        if let Some(s) = &self.session {
            b = b.header(SESSION, s);
        }
        if let Some(v) = &self.version {
            b = b.header(VERSION, v);
        }
        b
    }

    async fn post(
        &mut self,
        method: Option<&str>,
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let mut request = self.builder(Method::POST);
        if let Some(m) = method {
            request = request.header(METHOD, m);
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.uri))?;
        if let Some(s) = response
            .headers()
            .get(SESSION)
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(s.to_string());
        }
        if !response.status().is_success() {
            let status = response.status();
            let text = collect(response.into_body()).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text[..text.len().min(500)]).into_owned();
            return Err(format!("{} answered HTTP {status}: {text}", self.uri));
        }
        Ok(response)
    }

    /// Ends the session (servers that keep sessions free them on `DELETE`).
    pub async fn close(&mut self) {
        if self.session.is_none() {
            return;
        }
        let Ok(request) = self.builder(Method::DELETE).body(Full::new(Bytes::new())) else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.request(request)).await;
    }
}

/// A whole body, refused past the size limit.
async fn collect(mut body: hyper::body::Incoming) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_MESSAGE_BYTES {
                return Err(format!("an answer is over {MAX_MESSAGE_BYTES} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
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
        let sse = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let mut body = response.into_body();
        if !sse {
            let bytes = collect(body).await?;
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
        self.version = version.map(str::to_string);
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
        assert!(
            Http::new("https://example.com/mcp")
                .unwrap_err()
                .contains("https")
        );
        assert!(Http::new("ftp://x").is_err());
        assert!(Http::new("http://127.0.0.1:1/mcp").is_ok());
    }
}
