//! Per-request observability: a span named by the route template (`GET /registry/{registry}/v0.1/servers`,
//! never the raw path) whose parent is the caller's W3C `traceparent`, one log line
//! (method, route, status, `duration_ms`, bytes), and the request metrics.

use std::sync::OnceLock;
use std::time::Instant;

use opentelemetry::propagation::Extractor;
use poem::http::HeaderMap;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::metrics;

/// Route label of requests that matched no operation.
const UNMATCHED: &str = "unmatched";

/// Paths served outside the OpenAPI document.
const EXTRA_ROUTES: &[&str] = &["/metrics", "/openapi.json", "/openapi.yaml"];

static ROUTES: OnceLock<Vec<Vec<String>>> = OnceLock::new();

/// Every route template, split into segments (`{…}` matches any one segment).
fn routes() -> &'static [Vec<String>] {
    ROUTES.get_or_init(|| {
        let spec: serde_json::Value = serde_json::from_str(&super::spec_json()).unwrap_or_default();
        let mut paths: Vec<String> = spec["paths"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        paths.extend(EXTRA_ROUTES.iter().map(|p| (*p).to_owned()));
        paths.iter().map(|p| p.split('/').map(str::to_owned).collect()).collect()
    })
}

/// The route template a path matches (after normalisation), or [`UNMATCHED`]. Literal segments
/// win over parameters when several templates match.
fn route_of(path: &str) -> String {
    if path == "/docs" || path.starts_with("/docs/") {
        return "/docs".to_owned();
    }
    let segs: Vec<&str> = path.split('/').collect();
    routes()
        .iter()
        .filter(|t| {
            t.len() == segs.len() && t.iter().zip(&segs).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .max_by_key(|t| t.iter().filter(|s| !s.starts_with('{')).count())
        .map_or_else(|| UNMATCHED.to_owned(), |t| t.join("/"))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(poem::http::HeaderName::as_str).collect()
    }
}

/// Marks a request served as one of the operations endpoints (`/health`, `/metrics`…) so it is
/// not logged at info level (probes would drown the log).
fn is_probe(route: &str) -> bool {
    matches!(route, "/health" | "/readiness" | "/ping" | "/metrics")
}

/// The middleware. It runs after path normalisation, so `/v0/…` is reported as `/v0.1/…`.
pub async fn observe<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let method = req.method().as_str().to_owned();
    let route = route_of(req.uri().path());
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        url.path = %req.uri().path(),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::telemetry::record_remote_trace_id(&span, &parent);
    let _ = span.set_parent(parent);
    metrics::in_flight(1.0);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    metrics::in_flight(-1.0);
    let mut resp = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let elapsed = started.elapsed();
    let route = route.as_str();
    let status = resp.status().as_u16();
    let body = resp.take_body().into_bytes().await.unwrap_or_default();
    let bytes = body.len();
    resp.set_body(body);
    span.record("http.response.status_code", status);
    // After the name is final: reading the ids starts the exported span.
    crate::telemetry::record_ids(&span);
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    if is_probe(route) {
        tracing::debug!(parent: &span, method, route, status, duration_ms, bytes, "request");
    } else {
        tracing::info!(parent: &span, method, route, status, duration_ms, bytes, "request");
    }
    metrics::request(&method, route, status, elapsed);
    Ok(resp)
}
