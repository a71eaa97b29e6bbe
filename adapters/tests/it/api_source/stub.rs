//! The test server of the `ApiSource` tests: a registry API on a [`Loopback`] that serves
//! `ServerListResponse` pages of the scenario's rows, records every request, and misbehaves as
//! the scenario's [`Fault`] says.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::DateTime;
use poem::http::{HeaderMap, StatusCode};
use poem::{Body, Request, Response};
use serde_json::{Value, json};
use thv_testkit::{Loopback, Stalled};

/// What the server does wrong, if anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Fault {
    #[default]
    None,
    /// Answer every list request with this status and a problem document.
    Status(u16),
    /// Wait this long before answering.
    Sleep(Duration),
    /// Cut the page body in half.
    Truncated,
    /// Answer with a web page.
    Html,
    /// Every page has the same `nextCursor`.
    RepeatCursor,
    /// Every page has a new `nextCursor`.
    EndlessCursor,
    /// A body that never ends (streamed) or declares 2 MB in `Content-Length` and then stalls.
    Huge { content_length: bool },
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) path: String,
    /// The raw query string, as sent.
    pub(super) query: String,
    /// The decoded query parameters.
    pub(super) params: HashMap<String, String>,
    pub(super) headers: HeaderMap,
}

#[derive(Debug, Default)]
pub(super) struct Scenario {
    /// `ServerResponse` rows, sorted by (name, version).
    pub(super) rows: Vec<Value>,
    /// List paths that answer 404.
    pub(super) missing: Vec<&'static str>,
    /// Prepended to every cursor (to exercise encoding).
    pub(super) cursor_prefix: String,
    pub(super) fault: Fault,
    /// Answer as if `updated_since` was not sent.
    pub(super) ignore_since: bool,
    pub(super) requests: Vec<Recorded>,
    /// Bodies of the pages served, in order.
    pub(super) served: Vec<Bytes>,
}

pub(super) struct TestServer {
    pub(super) base: String,
    state: Arc<Mutex<Scenario>>,
}

impl TestServer {
    pub(super) async fn start(scenario: Scenario) -> Self {
        let state = Arc::new(Mutex::new(scenario));
        let listener = Loopback::bind().await.unwrap();
        let base = listener.url();
        let shared = state.clone();
        listener.serve(poem::endpoint::make(move |req: Request| handle(shared.clone(), req)));
        Self { base, state }
    }

    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Scenario) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// The requests recorded since the last call, and the pages served.
    pub(super) fn take(&self) -> (Vec<Recorded>, Vec<Bytes>) {
        self.with(|s| (std::mem::take(&mut s.requests), std::mem::take(&mut s.served)))
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"title": status.canonical_reason(), "status": status.as_u16(), "detail": detail});
    Response::builder().status(status).content_type("application/problem+json").body(body.to_string())
}

fn key(row: &Value) -> String {
    format!("{}:{}", row["server"]["name"].as_str().unwrap(), row["server"]["version"].as_str().unwrap())
}

async fn handle(state: Arc<Mutex<Scenario>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let params: HashMap<String, String> = req.params().unwrap_or_default();
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            path: path.clone(),
            query: req.uri().query().unwrap_or_default().to_owned(),
            params: params.clone(),
            headers: req.headers().clone(),
        });
        if !["/v0.1/servers", "/v0/servers"].contains(&path.as_str()) || s.missing.contains(&path.as_str()) {
            return problem(StatusCode::NOT_FOUND, "no such route");
        }
        s.fault
    };
    match fault {
        Fault::Status(code) => return problem(StatusCode::from_u16(code).unwrap(), "the database is down"),
        Fault::Sleep(d) => tokio::time::sleep(d).await,
        Fault::Html => {
            return Response::builder()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><html><body>Welcome to our website</body></html>");
        }
        Fault::Huge { content_length: false } => {
            return Response::builder()
                .content_type("application/json")
                .body(Body::from_async_read(tokio::io::repeat(b' ')));
        }
        Fault::Huge { content_length: true } => {
            return Response::builder()
                .content_type("application/json")
                .header("content-length", "2000000")
                .body(Body::from_async_read(Stalled));
        }
        Fault::None | Fault::Truncated | Fault::RepeatCursor | Fault::EndlessCursor => {}
    }
    let mut s = state.lock().unwrap();
    let mut body = match list(&s, &params, fault) {
        Ok(page) => page.to_string().into_bytes(),
        Err(response) => return response,
    };
    if fault == Fault::Truncated {
        body.truncate(body.len() / 2);
    }
    s.served.push(Bytes::from(body.clone()));
    Response::builder().content_type("application/json").body(body)
}

/// The page a registry would answer for these parameters.
#[expect(clippy::result_large_err, reason = "test server; the error is the response to send")]
fn list(s: &Scenario, params: &HashMap<String, String>, fault: Fault) -> Result<Value, Response> {
    let limit: usize = match params.get("limit").map(|l| l.parse()) {
        None => 30,
        Some(Ok(l @ 1..=100)) => l,
        Some(_) => return Err(problem(StatusCode::UNPROCESSABLE_ENTITY, "limit must be 1..100")),
    };
    let since = match params.get("updated_since") {
        None => None,
        Some(_) if s.ignore_since => None,
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t),
            Err(_) => return Err(problem(StatusCode::BAD_REQUEST, "updated_since is not RFC 3339")),
        },
    };
    let rows: Vec<&Value> = s
        .rows
        .iter()
        .filter(|r| {
            since.is_none_or(|since| {
                let at = r["_meta"]["io.modelcontextprotocol.registry/official"]["updatedAt"].as_str().unwrap();
                DateTime::parse_from_rfc3339(at).unwrap() > since
            })
        })
        .collect();
    let cursor = params.get("cursor");
    match fault {
        Fault::RepeatCursor => {
            return Ok(json!({"servers": [rows[0]], "metadata": {"nextCursor": "same", "count": 1}}));
        }
        Fault::EndlessCursor => {
            let n: u64 = cursor.map_or(0, |c| c.trim_start_matches('c').parse().unwrap());
            return Ok(json!({"servers": [rows[0]], "metadata": {"nextCursor": format!("c{}", n + 1), "count": 1}}));
        }
        _ => {}
    }
    let start = match cursor {
        None => 0,
        Some(c) => match c.strip_prefix(s.cursor_prefix.as_str()) {
            Some(after) => rows.iter().position(|r| key(r).as_str() > after).unwrap_or(rows.len()),
            None => return Err(problem(StatusCode::BAD_REQUEST, "invalid cursor")),
        },
    };
    let page: Vec<&Value> = rows.iter().skip(start).take(limit).copied().collect();
    let mut metadata = json!({"count": page.len()});
    if start + limit < rows.len() {
        metadata["nextCursor"] = json!(format!("{}{}", s.cursor_prefix, key(page.last().unwrap())));
    }
    Ok(json!({"servers": page, "metadata": metadata}))
}
