//! A connection's activity, for its timeouts: what it is doing (reading a request head, idle,
//! handling, sending, closing) and since when, kept up to date by the socket wrapper
//! [`Tracked`] and the request guards [`InFlight`]/[`Sending`], and read by a watchdog.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::http::HttpLimits;

/// Which connection timeout passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// `readHeaderTimeout`: the client is still sending a request head; close at once.
    Head,
    /// `idleTimeout`: no request for that long; close gracefully.
    Idle,
    /// `writeTimeout`: the connection owes its client bytes and could send none for that long;
    /// reset it.
    Write,
}

/// What a connection is doing, for its timeouts: requests in flight, since when it has been
/// reading a request head, since when it has been idle, since when it has owed its client bytes.
/// Updates never wake the connection's task (that would cost a poll and a timer per request): a
/// watchdog looks at the state a few times per timeout instead.
#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<State>,
}

#[derive(Debug)]
#[expect(clippy::struct_excessive_bools, reason = "independent facts about one connection, read together")]
struct State {
    /// Requests whose head was read and whose response was not yet sent.
    in_flight: usize,
    /// Responses whose handler has finished and whose body is being sent.
    sending: usize,
    /// When the first byte of the next request head arrived (HTTP/1 after the first request).
    head_since: Option<Instant>,
    /// When the connection was accepted, or its last response sent.
    idle_since: Instant,
    /// Whether a request head was ever read (before that, `readHeaderTimeout` runs from accept).
    served: bool,
    /// HTTP/2: reads are not request heads (pings, settings, window updates).
    h2: bool,
    /// The last write to the socket would have blocked (the client is not taking bytes).
    write_blocked: bool,
    /// When the connection last moved its answer forward: a byte written, a response ready to
    /// send, a graceful close begun.
    progress: Instant,
    /// A graceful close has begun.
    closing: bool,
    /// Reset the socket when it is dropped, discarding what it could not send.
    abort: bool,
}

impl Activity {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        let state = State {
            in_flight: 0,
            sending: 0,
            head_since: None,
            idle_since: now,
            served: false,
            h2: false,
            write_blocked: false,
            progress: now,
            closing: false,
            abort: false,
        };
        Self { state: Mutex::new(state) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle HTTP/1 connection they start the next request head.
    fn on_read(&self) {
        let mut s = self.state();
        if s.in_flight == 0 && s.served && !s.h2 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
        }
    }

    /// A write to the socket: `sent` bytes went out, or none could (`blocked`).
    fn on_write(&self, sent: bool, blocked: bool) {
        let mut s = self.state();
        s.write_blocked = blocked;
        if sent {
            s.progress = Instant::now();
        }
    }

    pub(super) fn request_started(self: &Arc<Self>, h2: bool) -> InFlight {
        let mut s = self.state();
        s.in_flight += 1;
        s.head_since = None;
        s.served = true;
        s.h2 |= h2;
        drop(s);
        InFlight { activity: self.clone(), sending: false }
    }

    pub(super) fn closing(&self) {
        let mut s = self.state();
        s.closing = true;
        s.progress = Instant::now();
    }

    pub(super) fn abort(&self) {
        self.state().abort = true;
    }

    /// The next deadline and what passing it means; `None` when no timeout runs (a handler is
    /// running; `requestTimeout` bounds it). A deadline too far to represent never passes.
    fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, Expired)> {
        let s = self.state();
        let after = |since: Instant, timeout: Duration, what| since.checked_add(timeout).map(|at| (at, what));
        let owes = s.write_blocked || s.sending > 0 || (s.closing && s.in_flight == 0);
        let write = owes.then(|| after(s.progress, limits.write_timeout, Expired::Write)).flatten();
        let read = if s.in_flight > 0 {
            None
        } else if !s.served {
            after(s.idle_since, limits.read_header_timeout, Expired::Head)
        } else if let Some(t) = s.head_since {
            after(t, limits.read_header_timeout, Expired::Head)
        } else if s.closing {
            None
        } else {
            after(s.idle_since, limits.idle_timeout, Expired::Idle)
        };
        match (write, read) {
            (Some(w), Some(r)) => Some(if w.0 <= r.0 { w } else { r }),
            (w, r) => w.or(r),
        }
    }

    /// Completes when a timeout has passed, checked every quarter of the shortest timeout (at
    /// most every second), so a timeout is enforced at most that late; the state is read afresh
    /// at every check, so a request that started in time is never cut off.
    pub(super) async fn expired(&self, limits: &HttpLimits) -> Expired {
        let tick = (limits.read_header_timeout.min(limits.idle_timeout).min(limits.write_timeout) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut checks = tokio::time::interval_at(Instant::now() + tick, tick);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            checks.tick().await;
            if let Some((at, what)) = self.deadline(limits)
                && at <= Instant::now()
            {
                return what;
            }
        }
    }
}

/// A request in flight; dropped when its response body has been sent (or abandoned).
pub(super) struct InFlight {
    activity: Arc<Activity>,
    /// Whether its handler has finished and its response is being sent.
    sending: bool,
}

impl InFlight {
    /// The handler has finished: from now on the connection owes the client this response.
    pub(super) fn sending(&mut self) {
        let mut s = self.activity.state();
        s.sending += 1;
        s.progress = Instant::now();
        self.sending = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.activity.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if self.sending {
            s.sending = s.sending.saturating_sub(1);
        }
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// A response body being sent, holding its request's [`InFlight`] until hyper drops it.
pub(super) struct Sending<B> {
    pub(super) body: B,
    pub(super) _in_flight: InFlight,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Sending<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling [`Activity`] when bytes arrive and whether they leave.
pub(super) struct Tracked {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl Tracked {
    fn wrote(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &polled {
            Poll::Ready(Ok(n)) => self.activity.on_write(*n > 0, false),
            Poll::Ready(Err(_)) => self.activity.on_write(false, false),
            Poll::Pending => self.activity.on_write(false, true),
        }
        polled
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.activity.state().abort {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
