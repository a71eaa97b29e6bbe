//! Logs, traces and metrics.
//!
//! - logs: `tracing`, JSON lines by default (text with `--log-format text`), level from
//!   `RUST_LOG`, else `logging.level`; the writer is a parameter so tests stay quiet;
//! - traces: when `telemetry.enabled` and `telemetry.tracing.enabled`, spans are exported over
//!   OTLP/HTTP (a span per request, named by its route template, and per sync), with W3C trace
//!   context taken from incoming `traceparent` headers;
//! - metrics: always kept for Prometheus (`/metrics`, see [`metrics`]); also exported over
//!   OTLP/HTTP when `telemetry.metrics.enabled`.
//!
//! - audit: one event per write of a managed source ([`audit`]).
//!
//! [`init`] installs everything once; [`Telemetry::shutdown`] flushes the exporters.

pub mod audit;
mod log_fields;
pub mod log_writer;
pub mod metrics;
pub mod request_log;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::telemetry::{OtlpProtocol, TelemetryConfig};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// The installed exporters, to flush at shutdown.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporters (spans and metrics still buffered are sent).
    pub fn shutdown(self) {
        if let Some(t) = self.tracer
            && let Err(e) = t.shutdown()
        {
            tracing::warn!(error = %e, "cannot flush traces");
        }
        if let Some(m) = self.meter
            && let Err(e) = m.shutdown()
        {
            tracing::warn!(error = %e, "cannot flush metrics");
        }
    }
}

/// Installs logging only (commands other than `serve`). Calling it twice is harmless.
pub fn init_logging<W>(format: LogFormat, level: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = init(format, level, writer, None);
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")))
}

/// Installs the global subscriber (logs, plus the OpenTelemetry layer when configured) and the
/// OTLP exporters.
///
/// # Errors
/// When an exporter cannot be built (e.g. an invalid endpoint).
pub fn init<W>(format: LogFormat, level: &str, writer: W, otel: Option<&TelemetryConfig>) -> anyhow::Result<Telemetry>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut telemetry = Telemetry::default();
    let otel = otel.filter(|c| c.enabled);
    let resource = otel.map(|c| {
        Resource::builder()
            .with_service_name(c.service_name.clone())
            .with_attribute(KeyValue::new("service.version", c.service_version.clone()))
            .build()
    });
    let trace_layer = match (otel, &resource) {
        (Some(c), Some(resource)) if c.tracing_enabled => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol(c.protocol))
                .with_endpoint(format!("{}/v1/traces", c.endpoint))
                .build()?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(c.sampling))))
                .with_resource(resource.clone())
                .build();
            let tracer = provider.tracer("thv-registry-api");
            EXPORTING_TRACES.store(true, Ordering::Relaxed);
            opentelemetry::global::set_tracer_provider(provider.clone());
            telemetry.tracer = Some(provider);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
        _ => None,
    };
    if let (Some(c), Some(resource)) = (otel, resource)
        && c.metrics_enabled
    {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(protocol(c.protocol))
            .with_endpoint(format!("{}/v1/metrics", c.endpoint))
            .build()?;
        let reader = PeriodicReader::builder(exporter).with_interval(c.metrics_interval).build();
        let provider = SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build();
        opentelemetry::global::set_meter_provider(provider.clone());
        metrics::export_over_otlp();
        telemetry.meter = Some(provider);
    }
    let registry = tracing_subscriber::registry().with(filter(level)).with(trace_layer);
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_target(false);
    let _ = match format {
        LogFormat::Json => registry
            .with(fmt.json().with_current_span(true).with_span_list(false).fmt_fields(log_fields::SpanFields))
            .try_init(),
        LogFormat::Text => registry.with(fmt).try_init(),
    };
    metrics::build_info();
    Ok(telemetry)
}

static EXPORTING_TRACES: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the OpenTelemetry layer is installed).
pub fn exporting_traces() -> bool {
    EXPORTING_TRACES.load(Ordering::Relaxed)
}

/// Records the span's OpenTelemetry trace and span ids as its `trace_id` and `span_id` fields
/// (declared `Empty` when the span was created), so every log line inside it carries them. The
/// ids exist when tracing export is on, or when the caller sent a `traceparent`.
pub fn record_ids(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if sc.is_valid() {
        span.record("trace_id", sc.trace_id().to_string());
        span.record("span_id", sc.span_id().to_string());
    }
}

/// Records the caller's trace id (from its `traceparent`) as the span's `trace_id`, without
/// starting the exported span (whose name may still change).
pub fn record_remote_trace_id(span: &tracing::Span, parent: &opentelemetry::Context) {
    use opentelemetry::trace::TraceContextExt as _;
    let remote = parent.span();
    let sc = remote.span_context();
    if sc.is_valid() {
        span.record("trace_id", sc.trace_id().to_string());
    }
}

fn protocol(p: OtlpProtocol) -> Protocol {
    match p {
        OtlpProtocol::Protobuf => Protocol::HttpBinary,
        OtlpProtocol::Json => Protocol::HttpJson,
    }
}

/// Telemetry's ear on the core: sync runs and registry rebuilds become metrics, and a sync's
/// span gets its trace ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct TelemetryEvents;

impl crate::catalog::CatalogEvents for TelemetryEvents {
    fn sync_started(&self, span: &tracing::Span) {
        record_ids(span);
    }

    fn sync_finished(&self, report: &crate::catalog::SyncReport<'_>) {
        use crate::catalog::SyncOutcome;
        let source = report.source.as_str();
        if let Some(servers) = report.servers
            && matches!(report.outcome, SyncOutcome::Updated { .. } | SyncOutcome::Unchanged)
        {
            #[expect(clippy::cast_precision_loss, reason = "a Unix time in seconds fits a float")]
            let at = report.finished_at.timestamp_millis() as f64 / 1000.0;
            metrics::source_synced(source, servers, at);
        }
        metrics::sync(source, report.outcome.label(), report.outcome.reason(), report.elapsed);
    }

    fn registry_rebuilt(&self, registry: &thv_domain::RegistryName, servers: usize) {
        metrics::registry_servers(registry.as_str(), servers);
    }
}
