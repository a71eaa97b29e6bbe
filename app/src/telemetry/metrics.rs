//! Metrics: kept in a Prometheus registry (rendered at `/metrics`) and recorded on the global
//! OpenTelemetry meter (a no-op unless OTLP metrics export is enabled).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::KeyValue;

/// Histogram buckets for request latency, in seconds (fast API: sub-millisecond to seconds).
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Histogram buckets for sync duration, in seconds.
const SYNC_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The Prometheus registry, installed as the global `metrics` recorder on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("http_request_duration_seconds".to_owned()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full("registry_sync_duration_seconds".to_owned()),
                        SYNC_BUCKETS,
                    )
                })
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    prometheus().map(PrometheusHandle::render).unwrap_or_default()
}

fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("thv-registry-api")
}

/// One write of a managed source: `registry_writes_total{action, outcome}`.
pub fn write(action: &'static str, outcome: &'static str) {
    let _ = prometheus();
    ::metrics::counter!("registry_writes_total", "action" => action, "outcome" => outcome).increment(1);
    if OTLP_EXPORT.load(Ordering::Relaxed) {
        meter()
            .u64_counter("registry_writes")
            .build()
            .add(1, &[KeyValue::new("action", action), KeyValue::new("outcome", outcome)]);
    }
}

/// `thv_registry_api_build_info{version, commit} 1`.
pub fn build_info() {
    let _ = prometheus();
    let info = crate::build_info::BuildInfo::current();
    ::metrics::gauge!("thv_registry_api_build_info", "version" => info.version, "commit" => info.git_commit).set(1.0);
}

static OTLP_EXPORT: AtomicBool = AtomicBool::new(false);

/// Metrics are also exported over OTLP (set once by [`super::init`]).
pub(super) fn export_over_otlp() {
    OTLP_EXPORT.store(true, Ordering::Relaxed);
}

/// The method as a label: the standard methods by name, any other as `_OTHER` (so a client
/// cannot add label values at will).
#[must_use]
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The Prometheus series of one (method, route, status).
#[derive(Clone)]
struct RequestSeries {
    total: ::metrics::Counter,
    duration: ::metrics::Histogram,
}

type SeriesKey = (&'static str, &'static str, u16);

/// The request series already registered: looking a series up by its labels on every request
/// costs more than recording into it.
static REQUEST_SERIES: OnceLock<RwLock<HashMap<SeriesKey, RequestSeries>>> = OnceLock::new();

fn request_series(key: SeriesKey) -> RequestSeries {
    let map = REQUEST_SERIES.get_or_init(RwLock::default);
    if let Some(series) = map.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return series.clone();
    }
    let _ = prometheus();
    let (method, route, status) = key;
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    let series = RequestSeries {
        total: ::metrics::counter!("http_requests_total", &labels),
        duration: ::metrics::histogram!("http_request_duration_seconds", &labels),
    };
    map.write().unwrap_or_else(PoisonError::into_inner).entry(key).or_insert(series).clone()
}

/// One request finished (`method` from [`method_label`], `route` a route template).
pub fn request(method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
    let series = request_series((method, route, status));
    series.total.increment(1);
    series.duration.record(elapsed.as_secs_f64());
    if OTLP_EXPORT.load(Ordering::Relaxed) {
        let attrs = [
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ];
        request_duration().record(elapsed.as_secs_f64(), &attrs);
    }
}

/// The OpenTelemetry request-duration histogram, built once (building an instrument is far
/// dearer than recording). The binary sets the global meter provider before serving.
fn request_duration() -> &'static opentelemetry::metrics::Histogram<f64> {
    static HISTOGRAM: OnceLock<opentelemetry::metrics::Histogram<f64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| meter().f64_histogram("http.server.request.duration").with_unit("s").build())
}

/// Requests being served changed by `delta`.
pub fn in_flight(delta: f64) {
    static GAUGE: OnceLock<::metrics::Gauge> = OnceLock::new();
    GAUGE
        .get_or_init(|| {
            let _ = prometheus();
            ::metrics::gauge!("http_requests_in_flight")
        })
        .increment(delta);
}

/// One sync finished with `outcome` (`updated`, `unchanged`, `failed`, `elsewhere`); a failed
/// one also has a `reason` label (`fetch`, `timeout`, `store`…), the others have none.
pub fn sync(source: &str, outcome: &str, reason: Option<&str>, elapsed: Duration) {
    let _ = prometheus();
    let mut labels = vec![("source", source.to_owned()), ("outcome", outcome.to_owned())];
    labels.extend(reason.map(|r| ("reason", r.to_owned())));
    ::metrics::counter!("registry_syncs_total", &labels).increment(1);
    ::metrics::histogram!("registry_sync_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let attrs: Vec<KeyValue> = labels.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
    meter().f64_histogram("registry.sync.duration").with_unit("s").build().record(elapsed.as_secs_f64(), &attrs);
    meter().u64_counter("registry.syncs").build().add(1, &attrs);
}

/// A source's latest successful sync: its server count and time.
pub fn source_synced(source: &str, servers: usize, at_unix_seconds: f64) {
    let _ = prometheus();
    #[expect(clippy::cast_precision_loss, reason = "server counts are far below 2^52")]
    let servers = servers as f64;
    ::metrics::gauge!("registry_source_servers", "source" => source.to_owned()).set(servers);
    ::metrics::gauge!("registry_source_last_success_timestamp_seconds", "source" => source.to_owned())
        .set(at_unix_seconds);
}

/// A registry's server count after a rebuild.
pub fn registry_servers(registry: &str, servers: usize) {
    let _ = prometheus();
    #[expect(clippy::cast_precision_loss, reason = "server counts are far below 2^52")]
    let servers = servers as f64;
    ::metrics::gauge!("registry_servers", "registry" => registry.to_owned()).set(servers);
}
