//! The admin listener (`--admin ADDR`), apart from the MCP endpoint so that it can stay on a
//! private interface: `GET /metrics` (Prometheus text) and `GET /healthz` (200 `ok` with the
//! policy hash and the counter store while serving; 503 while draining, or while a shared
//! counter store (`--state`) does not answer and the proxy fails closed).

use super::front::{self, Incoming};
use super::server::{Proxy, plain};
use super::socket::Stream;
use super::{Body, full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::sync::Arc;

pub async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let limits = proxy.settings.limits();
            front::serve(
                Stream::Plain(stream),
                limits,
                |req| {
                    let proxy = proxy.clone();
                    async move {
                        if req.method == Method::GET && req.uri.path() == "/healthz" {
                            return health(&proxy).await;
                        }
                        answer(&proxy, &req)
                    }
                },
                |_| {},
            )
            .await;
        });
    }
}

fn answer(proxy: &Proxy, req: &Incoming) -> Response<Body> {
    if req.method != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    match req.uri.path() {
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
        _ => plain(StatusCode::NOT_FOUND, "not found: /metrics, /healthz"),
    }
}

/// `/healthz`: serving or draining, and whether the counter store answers. A Redis `PING`
/// may take up to the store's timeout, so it runs off the event loop.
async fn health(proxy: &Arc<Proxy>) -> Response<Body> {
    if proxy.is_draining() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    let engine = proxy.engine.clone();
    let store = tokio::task::spawn_blocking(move || {
        (engine.counters.health(), engine.counters.fails_open())
    })
    .await;
    let policy = &proxy.engine.policy().hash;
    match store {
        Ok((h, _)) if h.ok => plain(
            StatusCode::OK,
            &format!("ok policy={policy} state={} ({})", h.store, h.detail),
        ),
        Ok((h, true)) => plain(
            StatusCode::OK,
            &format!(
                "degraded policy={policy} state={} unavailable, limits not enforced (--state-fail-mode open): {}",
                h.store, h.detail
            ),
        ),
        Ok((h, false)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "unavailable policy={policy} state={} unavailable, calls under a limit are denied: {}",
                h.store, h.detail
            ),
        ),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "the health check failed"),
    }
}
