//! Per-request observability: a span named by the route template (`GET /registry/{registry}/v0.1/servers`,
//! never the raw path) whose parent is the caller's W3C `traceparent`, one log line
//! (method, route, status, `duration_ms`, bytes), and the request metrics.
//!
//! The span exists when something uses it: when traces are exported, or when the caller sent a
//! `traceparent` (every log line of the request then carries its `trace_id`). Otherwise the
//! request runs without one, which saves a good share of the cost of a request.

use std::time::Instant;

use opentelemetry::propagation::Extractor;
use poem::http::HeaderMap;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::metrics;

/// The `tracing` target of the request log line: this module's path, which the log writer
/// batches by ([`crate::telemetry::log_writer::REQUEST_LOG_TARGET`]).
pub const LOG_TARGET: &str = module_path!();

/// Route label of requests that matched no operation.
const UNMATCHED: &str = "unmatched";

/// A route template and its segments (`{…}` matches any one segment).
#[derive(Debug)]
struct Route {
    template: String,
    segments: Vec<String>,
    /// How many segments are literal: the most literal of the matching templates wins.
    literals: usize,
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        self.segments.iter().zip(path.split('/')).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    }
}

/// The route templates of an application, from the service it was built with: what request
/// lines and metrics name a request by. Kept by segment count, so a lookup compares a path with
/// the few templates of its length, without allocating.
#[derive(Debug)]
pub struct RouteTable(Vec<Vec<Route>>);

impl RouteTable {
    /// The paths of an OpenAPI document (as JSON), plus `extra` paths served outside it. The
    /// table lives as long as the process (one per application built), so its templates can
    /// label metrics.
    pub fn leak(spec_json: &str, extra: &[&str]) -> &'static Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut paths: Vec<String> = spec["paths"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        paths.extend(extra.iter().map(|p| (*p).to_owned()));
        let mut by_length: Vec<Vec<Route>> = Vec::new();
        for template in paths {
            let segments: Vec<String> = template.split('/').map(str::to_owned).collect();
            let literals = segments.iter().filter(|s| !s.starts_with('{')).count();
            let n = segments.len();
            if by_length.len() <= n {
                by_length.resize_with(n + 1, Vec::new);
            }
            by_length[n].push(Route { template, segments, literals });
        }
        Box::leak(Box::new(Self(by_length)))
    }

    /// The route template a path matches (after normalisation), or [`UNMATCHED`]. Literal
    /// segments win over parameters when several templates match (the last listed on a tie).
    fn route_of(&'static self, path: &str) -> &'static str {
        if super::is_docs(path) {
            return "/docs";
        }
        let length = memchr::memchr_iter(b'/', path.as_bytes()).count() + 1;
        let mut best: Option<&'static Route> = None;
        for route in self.0.get(length).into_iter().flatten() {
            if best.is_none_or(|b| route.literals >= b.literals) && route.matches(path) {
                best = Some(route);
            }
        }
        best.map_or(UNMATCHED, |r| r.template.as_str())
    }
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
pub async fn observe<E: Endpoint>(routes: &'static RouteTable, next: E, req: Request) -> poem::Result<Response> {
    let method = metrics::method_label(req.method());
    let route = routes.route_of(req.uri().path());
    let span = request_span(&req, method, route);
    let problem_as_json = super::problem::wants_problem_as_json(&req);
    metrics::in_flight(1.0);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    metrics::in_flight(-1.0);
    let mut resp = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    super::problem::negotiate(problem_as_json, &mut resp);
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let body = resp.take_body().into_bytes().await.unwrap_or_default();
    let bytes = body.len();
    resp.set_body(body);
    if !span.is_none() {
        span.record("http.response.status_code", status);
        // After the name is final: reading the ids starts the exported span.
        crate::telemetry::record_ids(&span);
    }
    record(&span, method, route, status, elapsed, bytes);
    resp.extensions_mut().insert(Served { route });
    Ok(resp)
}

/// What the middleware learnt of a request, left on its response: the route template it was
/// counted under.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub route: &'static str,
}

/// The request's log line and metrics (`span` is [`tracing::Span::none`] outside a trace).
pub(crate) fn record(
    span: &tracing::Span,
    method: &'static str,
    route: &'static str,
    status: u16,
    elapsed: std::time::Duration,
    bytes: usize,
) {
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    if is_probe(route) {
        tracing::debug!(parent: span, method, route, status, duration_ms, bytes, "request");
    } else if !(span.is_none()
        && tracing::enabled!(tracing::Level::INFO)
        && crate::telemetry::request_log::write(method, route, status, duration_ms, bytes))
    {
        // In a trace (the line carries its ids), or without the fast path: through `tracing`.
        tracing::info!(parent: span, method, route, status, duration_ms, bytes, "request");
    }
    metrics::request(method, route, status, elapsed);
}

/// The request's span when traces are exported or the caller sent a `traceparent`; otherwise
/// none (entering it costs nothing).
fn request_span(req: &Request, method: &str, route: &str) -> tracing::Span {
    let traceparent = req.headers().contains_key("traceparent");
    if !traceparent && !crate::telemetry::exporting_traces() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        url.path = %req.uri().path(),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if traceparent {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
        crate::telemetry::record_remote_trace_id(&span, &parent);
        let _ = span.set_parent(parent);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_named_by_its_most_literal_template() {
        let spec = crate::http::api_service(crate::http::empty_catalog()).spec();
        let routes = RouteTable::leak(&spec, crate::http::OUTSIDE_API);
        for (path, route) in [
            ("/v0.1/servers", "/v0.1/servers"),
            ("/v0.1/servers/io.x%2Fa/versions", "/v0.1/servers/{serverName}/versions"),
            ("/v0.1/servers/io.x%2Fa/versions/latest", "/v0.1/servers/{serverName}/versions/{version}"),
            ("/registry/team/v0.1/servers", "/registry/{registry}/v0.1/servers"),
            ("/v0.1/publish", "/v0.1/publish"),
            ("/openapi.json", "/openapi.json"),
            ("/docs/index.css", "/docs"),
            ("/v0.1/servers//versions", UNMATCHED),
            ("/v0.1/nothing", UNMATCHED),
            ("/", UNMATCHED),
            ("", UNMATCHED),
            ("/a/b/c/d/e/f/g/h/i/j/k/l", UNMATCHED),
        ] {
            assert_eq!(routes.route_of(path), route, "{path}");
        }
    }

    #[test]
    fn the_log_writer_batches_the_lines_of_this_module() {
        assert_eq!(super::LOG_TARGET, crate::telemetry::log_writer::REQUEST_LOG_TARGET);
    }
}
