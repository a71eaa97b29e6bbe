//! The server's log writer: request log lines are batched and written off the request path;
//! every other line is written at once.
//!
//! One request log line per request is the busiest output of the server; a `write` system call
//! for each one cost several microseconds of a request of some forty, and a slow output (a full
//! pipe, a disk under writeback) would stall every request that logs. [`LogWriter`] keeps request
//! lines (those of [`REQUEST_LOG_TARGET`] at info level or below) in memory; a background thread
//! (`log-flush`) writes them once [`BATCH_BYTES`] wait, or at the latest [`FLUSH_EVERY`] after
//! they were logged, like a web server's buffered access log. Any other line (start-up, sync,
//! warnings, errors) is written by the thread that logs it, straight away, after whatever request
//! lines wait, so the order of lines is kept. When the output cannot keep up and
//! [`MAX_PENDING_BYTES`] wait, request lines are written by the threads that log them too (they
//! wait for the output rather than memory growing). [`LogWriter::flush`] writes the rest at exit.
//!
//! What a crash can lose: request lines of the last [`FLUSH_EVERY`] when the process is killed
//! outright (`SIGKILL`, out of memory); a normal stop writes everything.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The background thread writes request lines once this many bytes wait.
pub const BATCH_BYTES: usize = 16 * 1024;

/// Request lines never wait longer than this.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Past this many waiting bytes, logging threads write themselves (back-pressure).
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

/// Where the request log line comes from (`tracing` target): the module of the HTTP layer that
/// writes it (`http::observe`, whose test checks that the two agree), named here so telemetry
/// does not import the HTTP layer.
pub const REQUEST_LOG_TARGET: &str = "thv_app::http::observe";

struct Shared<W> {
    /// Lines not written yet, in order.
    pending: Mutex<Vec<u8>>,
    /// Signalled when a batch is ready.
    ready: Condvar,
    /// The output, and a buffer to swap with `pending` so lines are written outside its lock.
    out: Mutex<Output<W>>,
}

struct Output<W> {
    writer: W,
    spare: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes every waiting line. Whoever holds `out` writes, so lines go out in order.
    fn drain(&self) -> io::Result<()> {
        let mut out = lock(&self.out);
        let Output { writer, spare } = &mut *out;
        loop {
            std::mem::swap(&mut *lock(&self.pending), spare);
            if spare.is_empty() {
                return Ok(());
            }
            let written = writer.write_all(spare).and_then(|()| writer.flush());
            // Written or not, the lines are not kept: a broken output must not grow memory.
            spare.clear();
            written?;
        }
    }
}

/// The log writer (see the module docs). Clones share one buffer.
pub struct LogWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<W> std::fmt::Debug for LogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter").field("pending", &lock(&self.shared.pending).len()).finish()
    }
}

impl<W: Write + Send + 'static> LogWriter<W> {
    /// A writer to `out`, with its background thread (which stops once the last clone is dropped).
    #[must_use]
    pub fn new(out: W) -> Self {
        Self::with_flush_interval(out, FLUSH_EVERY)
    }

    /// [`LogWriter::new`] with request lines waiting at most `interval` instead of [`FLUSH_EVERY`].
    #[must_use]
    pub fn with_flush_interval(out: W, interval: Duration) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(2 * BATCH_BYTES)),
            ready: Condvar::new(),
            out: Mutex::new(Output { writer: out, spare: Vec::with_capacity(2 * BATCH_BYTES) }),
        });
        let weak = Arc::downgrade(&shared);
        let spawned =
            std::thread::Builder::new().name("log-flush".to_owned()).spawn(move || write_batches(&weak, interval));
        if let Err(e) = spawned {
            // Without the thread request lines still go out, with the next other line or under back-pressure.
            eprintln!("warning: cannot start the log writing thread ({e}); request log lines may be delayed");
        }
        Self { shared }
    }
}

impl<W: Write> LogWriter<W> {
    /// Queues one whole request line (its thread writes it, as for the request lines of
    /// `tracing`): the fast path of [`super::request_log`].
    pub fn request_line(&self, line: &[u8]) {
        let _ = Line { shared: &self.shared, batched: true }.write_all(line);
    }

    /// Writes the waiting request lines now.
    pub fn flush(&self) {
        let _ = self.shared.drain();
    }
}

/// The background thread: waits for a batch or `interval`, then writes what waits.
fn write_batches<W: Write>(shared: &Weak<Shared<W>>, interval: Duration) {
    loop {
        let Some(shared) = shared.upgrade() else { return };
        let pending = lock(&shared.pending);
        let (pending, _) = shared
            .ready
            .wait_timeout_while(pending, interval, |p| p.len() < BATCH_BYTES)
            .unwrap_or_else(PoisonError::into_inner);
        drop(pending);
        let _ = shared.drain();
    }
}

/// One log line being written.
pub struct Line<'a, W> {
    shared: &'a Shared<W>,
    batched: bool,
}

impl<W> std::fmt::Debug for Line<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line").field("batched", &self.batched).finish_non_exhaustive()
    }
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let waiting = {
            let mut pending = lock(&self.shared.pending);
            pending.extend_from_slice(data);
            pending.len()
        };
        if !self.batched || waiting >= MAX_PENDING_BYTES {
            return self.shared.drain();
        }
        if waiting >= BATCH_BYTES {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogWriter<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { shared: &self.shared, batched: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let batched = meta.target() == REQUEST_LOG_TARGET && *meta.level() >= Level::INFO;
        Line { shared: &self.shared, batched }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records each `write_all` separately.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Record {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(data.to_vec());
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Record {
        fn writes(&self) -> Vec<String> {
            self.0.lock().unwrap().iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect()
        }
    }

    /// Runs `f` with a plain subscriber (the message only) writing to `w`.
    fn with_log(w: &LogWriter<Record>, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(w.clone())
            .with_max_level(Level::DEBUG)
            .without_time()
            .with_level(false)
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Waits (up to a few seconds) until `out` has seen `n` writes.
    fn wait_for(out: &Record, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.writes().len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.writes().len(), n, "{:?}", out.writes());
    }

    #[test]
    fn request_lines_wait_and_other_lines_keep_the_order() {
        let out = Record::default();
        let w = LogWriter::with_flush_interval(out.clone(), HOUR);
        with_log(&w, || {
            tracing::info!(target: REQUEST_LOG_TARGET, "r1");
            tracing::debug!(target: REQUEST_LOG_TARGET, "r2");
            assert!(out.writes().is_empty(), "request lines wait");
            tracing::info!(target: "thv_app::catalog", "sync");
            assert_eq!(out.writes(), ["r1\nr2\nsync\n"], "another line writes the waiting ones first, in one write");
            tracing::info!(target: "thv_app::catalog", "alone");
            assert_eq!(out.writes()[1], "alone\n");
            tracing::warn!(target: REQUEST_LOG_TARGET, "request warning");
            assert_eq!(out.writes()[2], "request warning\n", "warnings are never held back");
        });
    }

    #[test]
    fn a_full_batch_is_written_at_once() {
        let out = Record::default();
        let w = LogWriter::with_flush_interval(out.clone(), HOUR);
        let line = "x".repeat(999);
        with_log(&w, || {
            for _ in 0..BATCH_BYTES / (line.len() + 1) {
                tracing::info!(target: REQUEST_LOG_TARGET, "{line}");
            }
            assert!(out.writes().is_empty());
            tracing::info!(target: REQUEST_LOG_TARGET, "{line}");
        });
        wait_for(&out, 1);
        assert_eq!(out.writes()[0].len(), (BATCH_BYTES / (line.len() + 1) + 1) * (line.len() + 1));
    }

    #[test]
    fn what_waits_is_written_within_the_flush_interval() {
        let out = Record::default();
        let w = LogWriter::with_flush_interval(out.clone(), Duration::from_millis(20));
        with_log(&w, || tracing::info!(target: REQUEST_LOG_TARGET, "alone"));
        wait_for(&out, 1);
        assert_eq!(out.writes(), ["alone\n"]);
    }

    #[test]
    fn flush_writes_what_waits() {
        let out = Record::default();
        let w = LogWriter::with_flush_interval(out.clone(), HOUR);
        with_log(&w, || tracing::info!(target: REQUEST_LOG_TARGET, "r"));
        w.flush();
        assert_eq!(out.writes(), ["r\n"]);
        w.flush();
        assert_eq!(out.writes().len(), 1, "nothing more to write");
    }
}
