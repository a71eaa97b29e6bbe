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
//! and one that Go does not have: `writeTimeout` is how long the connection may owe its client
//! bytes without sending any (a response the client does not read, a close that cannot be sent);
//! the connection is then reset, which frees its task, its buffers and the kernel's unsent data.
//! Nothing else bounds that: hyper has no write timeout, and the other timeouts do not run while
//! a response is being sent.
//!
//! `maxConnections` caps the connections open at once on one listener (the public one and the
//! internal one each have their own allowance, so probes keep working when the public port is
//! full): beyond it a connection is accepted and reset at once, so it neither waits in the
//! backlog nor costs a task, and a warning says so at most every [`REFUSAL_WARNING_EVERY`].
//!
//! The head size: hyper's read buffer is several times `maxHeaderBytes`, so a head over the limit
//! still reaches the hardening middleware (a 431 problem) and only an absurd one is refused by
//! hyper itself (a bare 431, or the connection closed).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::http::{self, Version};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt as _, IntoEndpoint};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::http::HttpLimits;
use crate::http::replay::{Lookup, Replay};

mod activity;

use activity::{Activity, Expired, Sending, Tracked};

/// hyper's default read buffer bound (8 KiB plus 100 headers of 4 KiB); never go below it.
const HYPER_DEFAULT_BUF: usize = 8192 + 4096 * 100;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections refused over `maxConnections` are logged at most this often (with a count).
pub const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `ep` on `listener` (answering what `replay` has kept without it) until `shutdown`
/// completes; then stops accepting (the listener is closed), lets every connection finish its
/// requests, and returns once they are done or `drain` has passed, whichever is first.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    replay: Option<Arc<Replay>>,
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
    let allowance = Arc::new(Semaphore::new(limits.max_connections));
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if let Ok(permit) = allowance.clone().try_acquire_owned() {
                        let conn = Connection { ep: ep.clone(), replay: replay.clone(), local: local.clone(), remote, limits };
                        let stop = stop_rx.clone();
                        connections.spawn(async move {
                            conn.serve(stream, stop).await;
                            drop(permit);
                        });
                    } else {
                        refusals.refused(&local, limits.max_connections);
                        // A reset, not a FIN: nothing is left in TIME_WAIT on this side.
                        let _ = stream.set_zero_linger();
                        drop(stream);
                    }
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

/// Connections refused over `maxConnections` since the last warning.
#[derive(Debug, Default)]
struct Refusals {
    warned_at: Option<Instant>,
    unreported: u64,
}

impl Refusals {
    fn refused(&mut self, local: &LocalAddr, max_connections: usize) {
        self.unreported += 1;
        if self.warned_at.is_none_or(|at| at.elapsed() >= REFUSAL_WARNING_EVERY) {
            tracing::warn!(
                listener.address = %local.0,
                max_connections,
                refused = self.unreported,
                "connection limit reached: new connections are closed at once (http.maxConnections)"
            );
            self.warned_at = Some(Instant::now());
            self.unreported = 0;
        }
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
    replay: Option<Arc<Replay>>,
    local: LocalAddr,
    remote: SocketAddr,
    limits: HttpLimits,
}

impl<E: Endpoint<Output = poem::Response> + 'static> Connection<E> {
    async fn serve(self, stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let Self { ep, replay, local, remote, limits } = self;
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = activity.clone();
            let remote = RemoteAddr(Addr::from(remote));
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let (ep, local, remote, activity) = (ep.clone(), local.clone(), remote.clone(), activity.clone());
                let replay = replay.clone();
                async move {
                    let mut in_flight = activity.request_started(req.version() == Version::HTTP_2);
                    // A kept response is the answer; otherwise the stack's, offered to be kept.
                    let keep = match replay.as_ref().map(|r| (r, r.lookup(&req))) {
                        Some((_, Lookup::Replayed(resp))) => {
                            in_flight.sending();
                            let body = |body| Sending {
                                body: Full::new(body).map_err(|never| match never {}).boxed(),
                                _in_flight: in_flight,
                            };
                            return Ok(resp.map(body));
                        }
                        Some((replay, Lookup::Missed(ticket))) => Some((replay, ticket)),
                        Some((_, Lookup::Bypassed)) | None => None,
                    };
                    let mut resp = ep.get_response((req, local, remote, Scheme::HTTP).into()).await;
                    if let Some((replay, ticket)) = keep {
                        replay.keep(ticket, &mut resp).await;
                    }
                    let resp: http::Response<BoxBody<Bytes, io::Error>> = resp.into();
                    // The request is in flight until its response body has been sent.
                    in_flight.sending();
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
                    activity.closing();
                    closing = true;
                }
                expired = activity.expired(&limits) => match expired {
                    Expired::Head => {
                        tracing::debug!(client.address = %remote, "closing a connection: no complete request head within readHeaderTimeout");
                        return;
                    }
                    Expired::Idle => {
                        conn.as_mut().graceful_shutdown();
                        activity.closing();
                        closing = true;
                    }
                    Expired::Write => {
                        tracing::debug!(client.address = %remote, "resetting a connection: nothing could be sent to the client within writeTimeout");
                        activity.abort();
                        return;
                    }
                },
            }
        }
    }
}
