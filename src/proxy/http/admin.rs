//! The admin listener (`--admin ADDR`), apart from the MCP endpoint so that it can stay on a
//! private interface: `GET /metrics` (Prometheus text) and `GET /healthz` (200 `ok` with the
//! policy hash while serving, 503 while draining).

use super::server::{Proxy, plain};
use super::{Body, full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, body::Incoming};
use std::sync::Arc;

pub async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&proxy, &req)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn answer(proxy: &Proxy, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    match req.uri().path() {
        "/metrics" => {
            let text = proxy
                .metrics
                .render(&proxy.engine.stats.snapshot(), &proxy.gauges());
            let mut headers = HeaderMap::new();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            super::upstream::response(StatusCode::OK, headers, full(text))
        }
        "/healthz" if proxy.is_draining() => plain(StatusCode::SERVICE_UNAVAILABLE, "draining"),
        "/healthz" => plain(
            StatusCode::OK,
            &format!("ok policy={}", &proxy.engine.policy().hash),
        ),
        _ => plain(StatusCode::NOT_FOUND, "not found: /metrics, /healthz"),
    }
}
