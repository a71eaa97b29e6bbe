//! The HTTP listener: accepts TCP connections and serves each with hyper (HTTP/1.1, and HTTP/2
//! with prior knowledge) under the connection limits of the `http` section, and drains on
//! shutdown.
//!
//! Connection timeouts mean what Go's `net/http` means by them:
//! - `readHeaderTimeout` runs from the first byte of a request (from accepting the connection, for
//!   the first request) until its head is complete; a client still sending its head then is cut
//!   off (slowloris). It is enforced here, not by hyper's `header_read_timeout`: hyper's also runs
//!   while a keep-alive connection waits for its next request, which would cap `idleTimeout` at
//!   `readHeaderTimeout`.
//! - `idleTimeout` is how long a keep-alive connection may wait for its next request; it is then
//!   closed gracefully (HTTP/2: a GOAWAY).
//!
//! The head size: hyper's read buffer is several times `maxHeaderBytes`, so a head over the limit
//! still reaches the hardening middleware (a 431 problem) and only an absurd one is refused by
//! hyper itself (a bare 431, or the connection closed).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::http::{self, Version};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt as _, IntoEndpoint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::http::HttpLimits;

/// hyper's default read buffer bound (8 KiB plus 100 headers of 4 KiB); never go below it.
const HYPER_DEFAULT_BUF: usize = 8192 + 4096 * 100;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `ep` on `listener` until `shutdown` completes; then stops accepting (the listener is
/// closed), lets every connection finish its requests, and returns once they are done or `drain`
/// has passed, whichever is first.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let ep = Arc::new(ep.into_endpoint().map_to_response());
    let local = LocalAddr(listener.local_addr().map_or_else(|_| Addr::default(), Addr::from));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let conn = Connection { ep: ep.clone(), local: local.clone(), remote, limits };
                    connections.spawn(conn.serve(stream, stop_rx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => log_panic(done),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain, async {
        while let Some(done) = connections.join_next().await {
            log_panic(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            drain_ms = drain.as_millis(),
            "connections still busy after the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection task panicked");
    }
}

/// One accepted connection.
struct Connection<E> {
    ep: Arc<E>,
    local: LocalAddr,
    remote: SocketAddr,
    limits: HttpLimits,
}

impl<E: Endpoint<Output = poem::Response> + 'static> Connection<E> {
    async fn serve(self, stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let Self { ep, local, remote, limits } = self;
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = activity.clone();
            let remote = RemoteAddr(Addr::from(remote));
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let (ep, local, remote, activity) = (ep.clone(), local.clone(), remote.clone(), activity.clone());
                async move {
                    let in_flight = activity.request_started(req.version() == Version::HTTP_2);
                    let resp: http::Response<BoxBody<Bytes, io::Error>> =
                        ep.get_response((req, local, remote, Scheme::HTTP).into()).await.into();
                    // The request is in flight until its response body has been sent.
                    Ok::<_, Infallible>(resp.map(|body| Sending { body, _in_flight: in_flight }))
                }
            })
        };
        let buf = (limits.max_header_bytes * 4).max(HYPER_DEFAULT_BUF);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true).max_buf_size(buf);
        builder.http2().timer(TokioTimer::new()).max_header_list_size(u32::try_from(buf).unwrap_or(u32::MAX));
        let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(client.address = %remote, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|s| *s), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                expired = activity.expired(&limits, !closing) => match expired {
                    Expired::Head => {
                        tracing::debug!(client.address = %remote, "closing a connection: no complete request head within readHeaderTimeout");
                        return;
                    }
                    Expired::Idle => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                },
            }
        }
    }
}

/// Which connection timeout passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// `readHeaderTimeout`: the client is still sending a request head; close at once.
    Head,
    /// `idleTimeout`: no request for that long; close gracefully.
    Idle,
}

/// What a connection is doing, for its timeouts: requests in flight, since when it has been
/// reading a request head, since when it has been idle. Updates never wake the connection's task
/// (that would cost a poll and a timer per request): a watchdog looks at the state a few times per
/// timeout instead.
#[derive(Debug)]
struct Activity {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests whose head was read and whose response was not yet sent.
    in_flight: usize,
    /// When the first byte of the next request head arrived (HTTP/1 after the first request).
    head_since: Option<Instant>,
    /// When the connection was accepted, or its last response sent.
    idle_since: Instant,
    /// Whether a request head was ever read (before that, `readHeaderTimeout` runs from accept).
    served: bool,
    /// HTTP/2: reads are not request heads (pings, settings, window updates).
    h2: bool,
}

impl Activity {
    fn new() -> Self {
        let state = State { in_flight: 0, head_since: None, idle_since: Instant::now(), served: false, h2: false };
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

    fn request_started(self: &Arc<Self>, h2: bool) -> InFlight {
        let mut s = self.state();
        s.in_flight += 1;
        s.head_since = None;
        s.served = true;
        s.h2 |= h2;
        drop(s);
        InFlight(self.clone())
    }

    /// The next deadline and what passing it means; `None` while requests are in flight.
    fn deadline(&self, limits: &HttpLimits, idle_allowed: bool) -> Option<(Instant, Expired)> {
        let s = self.state();
        if s.in_flight > 0 {
            None
        } else if !s.served {
            Some((s.idle_since + limits.read_header_timeout, Expired::Head))
        } else if let Some(t) = s.head_since {
            Some((t + limits.read_header_timeout, Expired::Head))
        } else {
            idle_allowed.then(|| (s.idle_since + limits.idle_timeout, Expired::Idle))
        }
    }

    /// Completes when a timeout has passed, checked every quarter of the shorter timeout (at
    /// most every second), so a timeout is enforced at most that late; the state is read afresh
    /// at every check, so a request that started in time is never cut off. `idle_allowed` is
    /// false once the connection is closing.
    async fn expired(&self, limits: &HttpLimits, idle_allowed: bool) -> Expired {
        let tick = (limits.read_header_timeout.min(limits.idle_timeout) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut checks = tokio::time::interval_at(Instant::now() + tick, tick);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            checks.tick().await;
            if let Some((at, what)) = self.deadline(limits, idle_allowed)
                && at <= Instant::now()
            {
                return what;
            }
        }
    }
}

/// A request in flight; dropped when its response body has been sent (or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// A response body being sent, holding its request's [`InFlight`] until hyper drops it.
struct Sending<B> {
    body: B,
    _in_flight: InFlight,
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

/// The socket, telling [`Activity`] when bytes arrive.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
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
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
