//! Metrics: kept in a Prometheus registry (rendered at `/metrics`) and recorded on the global
//! OpenTelemetry meter (a no-op unless OTLP metrics export is enabled).

use std::sync::OnceLock;
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

/// `thv_registry_api_build_info{version, commit} 1`.
pub fn build_info() {
    let _ = prometheus();
    let info = crate::http::ops::VersionInfo::current();
    ::metrics::gauge!("thv_registry_api_build_info", "version" => info.version, "commit" => info.git_commit).set(1.0);
}

/// One request finished.
pub fn request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let _ = prometheus();
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    ::metrics::counter!("http_requests_total", &labels).increment(1);
    ::metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let attrs = [
        KeyValue::new("http.request.method", method.to_owned()),
        KeyValue::new("http.route", route.to_owned()),
        KeyValue::new("http.response.status_code", i64::from(status)),
    ];
    request_duration().record(elapsed.as_secs_f64(), &attrs);
}

/// The OpenTelemetry request-duration histogram, built once (building an instrument is far
/// dearer than recording). The binary sets the global meter provider before serving.
fn request_duration() -> &'static opentelemetry::metrics::Histogram<f64> {
    static HISTOGRAM: OnceLock<opentelemetry::metrics::Histogram<f64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| meter().f64_histogram("http.server.request.duration").with_unit("s").build())
}

/// Requests being served changed by `delta`.
pub fn in_flight(delta: f64) {
    let _ = prometheus();
    ::metrics::gauge!("http_requests_in_flight").increment(delta);
}

/// One sync finished with `outcome` (`updated`, `unchanged`, `failed`).
pub fn sync(source: &str, outcome: &str, elapsed: Duration) {
    let _ = prometheus();
    let labels = [("source", source.to_owned()), ("outcome", outcome.to_owned())];
    ::metrics::counter!("registry_syncs_total", &labels).increment(1);
    ::metrics::histogram!("registry_sync_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let attrs = [KeyValue::new("source", source.to_owned()), KeyValue::new("outcome", outcome.to_owned())];
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
