//! Which span fields the JSON log lines show, and how they are kept.
//!
//! The JSON formatter keeps each span's fields as a JSON object text and parses it again for every
//! line written inside the span. The request span carries the OpenTelemetry attributes
//! (`otel.*`, `http.*`, `url.*`) that the request log line repeats as its own fields anyway;
//! formatting, re-recording and re-parsing them was a sizeable share of the CPU time of a request.
//! [`SpanFields`] keeps every other field (`trace_id`, `span_id`, `source.name`, `sync.outcome`, …)
//! and drops those.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// Fields of spans that are for trace export only.
const EXPORT_ONLY: &[&str] = &["otel.", "http.", "url."];

/// The span field formatter of the JSON log layer (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

#[derive(Default)]
struct Collect(Map<String, Value>);

impl Collect {
    /// Whether a field goes into log lines (export-only ones do not).
    fn shown(field: &Field) -> bool {
        !EXPORT_ONLY.iter().any(|p| field.name().starts_with(p))
    }

    fn keep(&mut self, field: &Field, value: Value) {
        if Self::shown(field) {
            self.0.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.keep(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.keep(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.keep(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.keep(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Checked before formatting: the request span's `otel.name` would be formatted for nothing.
        if Self::shown(field) {
            self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
        }
    }
}

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut collect = Collect::default();
        fields.record(&mut collect);
        write!(writer, "{}", Value::Object(collect.0))
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut collect = Collect::default();
        fields.record(&mut collect);
        if collect.0.is_empty() {
            return Ok(());
        }
        let mut merged = match serde_json::from_str::<Value>(&current.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        merged.extend(collect.0);
        current.fields = Value::Object(merged).to_string();
        Ok(())
    }
}
