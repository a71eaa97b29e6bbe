//! The request log line in JSON, written without the generic formatter: formatted into a
//! reused per-thread buffer and handed to the [`LogWriter`] as a batched request line (its
//! thread writes it), in exactly the form the JSON formatter gives it:
//!
//! `{"timestamp":"…","level":"INFO","fields":{"message":"request","method":…,"route":…,"status":…,"duration_ms":…,"bytes":…}}`
//!
//! The generic path (a `tracing` event through the JSON layer) visited the fields, built a JSON
//! serializer per line and looked up the writer; this writes a dozen slices. It is installed by
//! `serve` in the JSON format only ([`install`]); a line inside an exported or propagated trace
//! (it carries the span's `trace_id`) still goes through `tracing`, and so does everything when
//! the fast path is not installed (the text format, tests that capture `tracing` output).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::OnceLock;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};

use super::log_writer::LogWriter;

type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends request lines to `writer` from now on (once per process; later calls change nothing).
pub fn install<W: Write + Send + 'static>(writer: LogWriter<W>) {
    let _ = SINK.set(Box::new(move |line| writer.request_line(line)));
}

/// Whether [`write`] writes lines (the fast path is installed).
pub fn installed() -> bool {
    SINK.get().is_some()
}

/// One request line, at `INFO`, without a span. Returns `false` (nothing written) when the
/// fast path is not installed: the caller logs through `tracing` instead.
pub fn write(method: &str, route: &str, status: u16, duration_ms: f64, bytes: usize) -> bool {
    let Some(sink) = SINK.get() else { return false };
    thread_local! {
        static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        let _ = SystemTime.format_time(&mut Writer::new(&mut TimestampOf(line)));
        format_line(line, method, route, status, duration_ms, bytes);
        sink(line.as_bytes());
    });
    true
}

/// Writes the timestamp as the JSON formatter does: `{"timestamp":"` + time + `"`.
struct TimestampOf<'a>(&'a mut String);

impl std::fmt::Write for TimestampOf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.is_empty() {
            self.0.push_str("{\"timestamp\":\"");
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// Everything after the timestamp's text (which `line` holds, after `{"timestamp":"`).
fn format_line(line: &mut String, method: &str, route: &str, status: u16, duration_ms: f64, bytes: usize) {
    line.push_str("\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"method\":");
    json_str(line, method);
    line.push_str(",\"route\":");
    json_str(line, route);
    let _ = write!(line, ",\"status\":{status},\"duration_ms\":");
    if duration_ms.is_finite() {
        line.push_str(ryu::Buffer::new().format_finite(duration_ms));
    } else {
        line.push_str("null");
    }
    let _ = writeln!(line, ",\"bytes\":{bytes}}}}}");
}

/// A JSON string (escaped as `serde_json` does).
fn json_str(line: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        line.push('"');
        line.push_str(s);
        line.push('"');
    } else {
        line.push_str(&serde_json::Value::from(s).to_string());
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// What the JSON layer writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// The line the generic JSON layer writes for the same event (as `serve` configures it).
    fn generic(method: &str, route: &str, status: u16, duration_ms: f64, bytes: usize) -> String {
        let out = Capture::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .with_target(false)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(super::super::log_fields::SpanFields);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(parent: &tracing::Span::none(), method, route, status, duration_ms, bytes, "request");
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn fast(method: &str, route: &str, status: u16, duration_ms: f64, bytes: usize) -> String {
        let mut line = String::from("{\"timestamp\":\"2026-12-02T18:31:58.997890Z");
        super::format_line(&mut line, method, route, status, duration_ms, bytes);
        line
    }

    #[test]
    fn the_line_is_the_json_formatters_line() {
        for (method, route, status, duration_ms, bytes) in [
            ("GET", "/v0.1/servers", 200, 0.645_617, 1274),
            ("POST", "/registry/{registry}/v0.1/publish", 422, 12.0, 0),
            ("GET", "(unmatched)", 404, 1e-7, 97),
            ("OPTIONS", "/v0.1/servers/{serverName}/versions/{version}", 204, 123_456.789, 0),
            ("GET", "a \"quoted\" \\ route\u{1}", 500, 0.000_1, usize::MAX),
        ] {
            let generic = generic(method, route, status, duration_ms, bytes);
            let fast = fast(method, route, status, duration_ms, bytes);
            // The same text after the timestamp, the newline included.
            let after = |line: &str| line.split_once("Z\",").map(|(_, rest)| rest.to_owned()).unwrap();
            assert_eq!(after(&fast), after(&generic), "{generic}");
            let parsed: serde_json::Value = serde_json::from_str(&fast).unwrap();
            assert_eq!(parsed["fields"]["route"], route);
        }
    }

    #[test]
    fn the_timestamp_is_the_json_formatters_timestamp() {
        let generic = generic("GET", "/x", 200, 1.0, 1);
        let mut line = String::new();
        let _ = tracing_subscriber::fmt::time::FormatTime::format_time(
            &tracing_subscriber::fmt::time::SystemTime,
            &mut tracing_subscriber::fmt::format::Writer::new(&mut super::TimestampOf(&mut line)),
        );
        let shape = |s: &str| s.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect::<String>();
        let prefix = |s: &str| s.split_once('Z').map(|(ts, _)| format!("{ts}Z")).unwrap();
        assert_eq!(shape(&prefix(&line)), shape(&prefix(&generic)), "{line} vs {generic}");
    }
}
