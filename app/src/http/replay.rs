//! Replayed read responses: the listener answers a repeated anonymous read (`GET` of a server
//! list, a server's versions or one version) with the response the whole stack gave to the same
//! request, without running the stack again, as long as no registry snapshot has been published
//! since.
//!
//! The response of such a request is decided by its target, its `Accept`, `Accept-Encoding` and
//! `If-None-Match` and the snapshots: those are the key. A request with any other header
//! (`Authorization`, `Origin`, `traceparent`, a body…), with headers over `maxHeaderBytes`, or
//! while traces are exported takes the stack as always, and only a public `200` or `304` of a read
//! route that was asked for twice is kept. A replayed request is logged and counted like any
//! other (same line, same metrics, under the route the stack named it by).

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache;
use poem::http::uri::PathAndQuery;
use poem::http::{self, HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use rustc_hash::{FxHashSet, FxHasher};

use crate::catalog::Catalog;
use crate::http::observe::{self, Served};
use crate::telemetry::metrics;

/// Request headers that may come with a replayed request; any other sends it through the stack.
const ALLOWED: [header::HeaderName; 6] = [
    header::HOST,
    header::USER_AGENT,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::IF_NONE_MATCH,
    header::CONNECTION,
];

/// The longest target (path and query) kept.
const MAX_TARGET: usize = 2048;
/// The largest body kept.
const MAX_BODY: usize = 1 << 20;
/// How many first sightings the admission filter remembers before it starts over.
const SEEN_BOUND: usize = 100_000;

/// The replayable responses of one application.
#[derive(Debug)]
pub struct Replay {
    catalog: Arc<Catalog>,
    max_header_bytes: usize,
    kept: Cache<u64, Arc<Kept>>,
    /// Keys answered once by the stack: a response is kept the second time (a one-off URL,
    /// such as a page with a unique query, costs no insertion).
    seen: Mutex<FxHashSet<u64>>,
}

/// What decides a replayable response.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    published: u64,
    version: Version,
    /// Shares the request's bytes (no copy).
    target: PathAndQuery,
    accept: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
}

#[derive(Debug)]
struct Kept {
    key: Key,
    route: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// What the listener does with a request.
#[derive(Debug)]
pub enum Lookup {
    /// Answered from a kept response (already logged and counted).
    Replayed(http::Response<Bytes>),
    /// Not kept yet: run the stack, then offer its response to [`Replay::keep`].
    Missed(Ticket),
    /// Not replayable: run the stack.
    Bypassed,
}

/// A request's key, from before the stack ran.
#[derive(Debug)]
pub struct Ticket {
    key: Key,
    hash: u64,
}

impl Replay {
    /// Replayed responses over `catalog`, weighing at most `bytes` (headers and bodies).
    pub fn new(catalog: Arc<Catalog>, bytes: u64, max_header_bytes: usize) -> Self {
        let kept = Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &u64, k: &Arc<Kept>| {
                let headers: usize = k.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 32).sum();
                u32::try_from(k.key.target.as_str().len() + headers + k.body.len() + 256).unwrap_or(u32::MAX)
            })
            .time_to_idle(Duration::from_secs(600))
            .build();
        Self { catalog, max_header_bytes, kept, seen: Mutex::default() }
    }

    /// Finds the kept response of `req`, if it may have one.
    pub fn lookup<B>(&self, req: &http::Request<B>) -> Lookup {
        let Some(key) = self.key_of(req) else { return Lookup::Bypassed };
        let hash = {
            let mut h = FxHasher::default();
            key.hash(&mut h);
            h.finish()
        };
        match self.kept.get(&hash) {
            Some(kept) if kept.key == key => Lookup::Replayed(replay(&kept)),
            _ => Lookup::Missed(Ticket { key, hash }),
        }
    }

    /// Keeps `resp` for the request of `ticket` when it is a public `200` or `304` of a read
    /// route and the request was seen before. The body is read (it is in memory already).
    pub async fn keep(&self, ticket: Ticket, resp: &mut poem::Response) {
        let Some(served) = resp.extensions().get::<Served>().copied() else { return };
        let public = resp.headers().get(header::CACHE_CONTROL).is_some_and(|v| v.as_bytes().starts_with(b"public"));
        if !matches!(resp.status(), StatusCode::OK | StatusCode::NOT_MODIFIED)
            || !public
            || !served.route.contains("/servers")
            || resp.headers().contains_key(header::SET_COOKIE)
        {
            return;
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.len() >= SEEN_BOUND {
                seen.clear();
            }
            if seen.insert(ticket.hash) {
                return;
            }
        }
        let Ok(body) = resp.take_body().into_bytes().await else { return };
        resp.set_body(body.clone());
        if body.len() > MAX_BODY {
            return;
        }
        let kept =
            Kept { key: ticket.key, route: served.route, status: resp.status(), headers: resp.headers().clone(), body };
        self.kept.insert(ticket.hash, Arc::new(kept));
    }

    fn key_of<B>(&self, req: &http::Request<B>) -> Option<Key> {
        if req.method() != Method::GET || crate::telemetry::exporting_traces() {
            return None;
        }
        let target = req.uri().path_and_query()?;
        let path = req.uri().path();
        let read_path =
            path.starts_with("/v0.1/servers") || path.starts_with("/v0/servers") || path.starts_with("/registry/");
        if !read_path || target.as_str().len() > MAX_TARGET {
            return None;
        }
        let mut header_bytes = 0;
        for (name, value) in req.headers() {
            if !ALLOWED.contains(name) {
                return None;
            }
            header_bytes += name.as_str().len() + value.len();
        }
        if header_bytes > self.max_header_bytes {
            return None;
        }
        let one = |name: header::HeaderName| {
            let mut values = req.headers().get_all(name).iter();
            match (values.next(), values.next()) {
                (value, None) => Some(value.cloned()),
                // A repeated header: left to the stack.
                _ => None,
            }
        };
        Some(Key {
            published: self.catalog.published(),
            version: req.version(),
            target: target.clone(),
            accept: one(header::ACCEPT)?,
            accept_encoding: one(header::ACCEPT_ENCODING)?,
            if_none_match: one(header::IF_NONE_MATCH)?,
        })
    }
}

/// The kept response, logged and counted as the stack would have.
fn replay(kept: &Kept) -> http::Response<Bytes> {
    metrics::in_flight(1.0);
    let started = Instant::now();
    let mut resp = http::Response::new(kept.body.clone());
    *resp.status_mut() = kept.status;
    *resp.headers_mut() = kept.headers.clone();
    metrics::in_flight(-1.0);
    observe::record(
        &tracing::Span::none(),
        "GET",
        kept.route,
        kept.status.as_u16(),
        started.elapsed(),
        kept.body.len(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut req = http::Request::builder().uri(target);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap()
    }

    fn response(status: StatusCode, cache: &str) -> poem::Response {
        let mut resp = poem::Response::builder()
            .status(status)
            .header(header::CACHE_CONTROL, cache)
            .header(header::ETAG, "\"abc\"")
            .body("[1, 2]");
        resp.extensions_mut().insert(Served { route: "/v0.1/servers" });
        resp
    }

    fn ticket(lookup: Lookup) -> Ticket {
        match lookup {
            Lookup::Missed(ticket) => ticket,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_public_read_is_kept_the_second_time_and_replayed_as_it_was() {
        let replay = Replay::new(crate::http::empty_catalog(), 1 << 20, 8192);
        let req = request("/v0.1/servers?limit=2", &[("accept-encoding", "gzip"), ("host", "x")]);
        for _ in 0..2 {
            let mut resp = response(StatusCode::OK, "public, max-age=30");
            replay.keep(ticket(replay.lookup(&req)), &mut resp).await;
            // The stack's response is left whole.
            assert_eq!(resp.into_body().into_bytes().await.unwrap(), "[1, 2]");
        }
        let Lookup::Replayed(resp) = replay.lookup(&req) else { panic!("not replayed") };
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::ETAG], "\"abc\"");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=30");
        assert_eq!(resp.body(), "[1, 2]");
        // Another Accept-Encoding, If-None-Match or target is another response.
        for other in [
            request("/v0.1/servers?limit=2", &[]),
            request("/v0.1/servers?limit=2", &[("accept-encoding", "gzip"), ("if-none-match", "\"abc\"")]),
            request("/v0.1/servers?limit=3", &[("accept-encoding", "gzip")]),
        ] {
            assert!(matches!(replay.lookup(&other), Lookup::Missed(_)), "{other:?}");
        }
    }

    #[tokio::test]
    async fn only_public_successes_of_plain_anonymous_reads_are_kept() {
        let replay = Replay::new(crate::http::empty_catalog(), 1 << 20, 64);
        for bypassed in [
            request("/v0.1/servers", &[("authorization", "Bearer t")]),
            request("/v0.1/servers", &[("origin", "https://example.com")]),
            request("/v0.1/servers", &[("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]),
            request("/v0.1/servers", &[("accept-encoding", "gzip"), ("accept-encoding", "br")]),
            request("/v0.1/servers", &[("user-agent", &"x".repeat(100))]),
            request("/v0.1/publish", &[]),
            request("/v1/sources", &[]),
            request("/readiness", &[]),
        ] {
            assert!(matches!(replay.lookup(&bypassed), Lookup::Bypassed), "{bypassed:?}");
        }
        let mut post = request("/v0.1/servers", &[]);
        *post.method_mut() = Method::POST;
        assert!(matches!(replay.lookup(&post), Lookup::Bypassed));

        let req = request("/v0.1/servers?limit=1", &[]);
        for (status, cache) in [
            (StatusCode::OK, "private, max-age=30"),
            (StatusCode::NOT_FOUND, "public, max-age=30"),
            (StatusCode::UNPROCESSABLE_ENTITY, "public"),
        ] {
            for _ in 0..3 {
                replay.keep(ticket(replay.lookup(&req)), &mut response(status, cache)).await;
            }
            assert!(matches!(replay.lookup(&req), Lookup::Missed(_)), "{status} {cache}");
        }
        let mut unnamed = response(StatusCode::OK, "public");
        unnamed.extensions_mut().remove::<Served>();
        for _ in 0..3 {
            replay.keep(ticket(replay.lookup(&req)), &mut unnamed).await;
        }
        assert!(matches!(replay.lookup(&req), Lookup::Missed(_)));
        for _ in 0..2 {
            replay.keep(ticket(replay.lookup(&req)), &mut response(StatusCode::NOT_MODIFIED, "public")).await;
        }
        assert!(matches!(replay.lookup(&req), Lookup::Replayed(r) if r.status() == StatusCode::NOT_MODIFIED));
    }
}
