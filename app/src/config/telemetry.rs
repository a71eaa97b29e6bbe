//! The `telemetry` and `logging` sections.

use std::time::Duration;

use super::duration;
use super::raw::{RawLogging, RawTelemetry};

/// OTLP payload encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Protobuf,
    Json,
}

/// A validated `telemetry` section.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub enabled: bool,
    pub service_name: String,
    pub service_version: String,
    /// Base URL of the OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics` are appended).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub tracing_enabled: bool,
    pub sampling: f64,
    pub metrics_enabled: bool,
    pub metrics_interval: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            service_name: "thv-registry-api".to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            endpoint: "https://localhost:4318".to_owned(),
            protocol: OtlpProtocol::Protobuf,
            tracing_enabled: true,
            sampling: 1.0,
            metrics_enabled: true,
            metrics_interval: Duration::from_secs(60),
        }
    }
}

/// Validates the section.
pub fn normalize(raw: &RawTelemetry, problems: &mut Vec<String>) -> TelemetryConfig {
    let d = TelemetryConfig::default();
    let insecure = raw.insecure.unwrap_or(false);
    let endpoint = raw.endpoint.clone().unwrap_or_else(|| "localhost:4318".to_owned());
    let endpoint = if endpoint.contains("://") {
        endpoint
    } else {
        format!("{}://{endpoint}", if insecure { "http" } else { "https" })
    };
    match url::Url::parse(&endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => problems.push(format!(
            "`telemetry.endpoint`: `{endpoint}` is not an http(s) OTLP endpoint; use e.g. `localhost:4318` or `https://collector:4318`"
        )),
    }
    let protocol = match raw.protocol.as_deref().unwrap_or("http/protobuf") {
        "http/protobuf" => OtlpProtocol::Protobuf,
        "http/json" => OtlpProtocol::Json,
        other => {
            problems
                .push(format!("`telemetry.protocol`: `{other}` is not supported; use `http/protobuf` or `http/json`"));
            OtlpProtocol::Protobuf
        }
    };
    let tracing = raw.tracing.clone().unwrap_or_default();
    let sampling = tracing.sampling.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sampling) {
        problems.push(format!("`telemetry.tracing.sampling`: {sampling} is not between 0 and 1"));
    }
    let metrics = raw.metrics.clone().unwrap_or_default();
    let metrics_interval = duration::positive_setting(
        metrics.interval.as_deref(),
        d.metrics_interval,
        duration::MAX_TIMEOUT,
        "telemetry.metrics.interval",
        problems,
    );
    TelemetryConfig {
        enabled: raw.enabled.unwrap_or(false),
        service_name: raw.service_name.clone().unwrap_or(d.service_name),
        service_version: raw.service_version.clone().unwrap_or(d.service_version),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        protocol,
        tracing_enabled: tracing.enabled.unwrap_or(true),
        sampling,
        metrics_enabled: metrics.enabled.unwrap_or(true),
        metrics_interval,
    }
}

/// The log filter: `logging.level` (default `info`); `RUST_LOG` wins at start-up.
pub fn log_level(raw: Option<&RawLogging>, problems: &mut Vec<String>) -> String {
    let level = raw.and_then(|l| l.level.clone()).unwrap_or_else(|| "info".to_owned());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        problems.push(format!(
            "`logging.level`: `{level}` is not a level or filter; use error, warn, info, debug or trace"
        ));
    }
    level
}
