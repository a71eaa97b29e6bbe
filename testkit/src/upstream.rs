//! A controllable upstream registry on 127.0.0.1: serves `ServerListResponse` pages from rows the
//! test sets, or misbehaves on demand (errors, slowness, broken JSON, cursor loops, huge bodies).
//! It can demand a bearer token ([`Upstream::require_bearer`]); by default it asks for none.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Query;
use poem::{EndpointExt, Response, Route, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::OFFICIAL;

/// How the upstream answers `GET /v0.1/servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Pages of the rows, honouring `limit`, `cursor` and `updated_since`.
    Normal,
    /// Every request fails with this status.
    Status(u16),
    /// Answers normally after this delay.
    Slow(Duration),
    /// The first page is cut in the middle of its JSON.
    Truncated,
    /// Every page says `nextCursor: "again"`.
    RepeatCursor,
    /// Every page points at a new next page, forever.
    EndlessCursor,
    /// One page of this many bytes.
    Huge(usize),
}

#[derive(Debug)]
struct State {
    rows: Vec<Value>,
    mode: Mode,
    requests: Vec<String>,
    /// The `Authorization` header of each request, in the order of `requests`.
    authorizations: Vec<Option<String>>,
    /// The token every request must carry as `Authorization: Bearer <token>`, if any.
    bearer: Option<String>,
}

/// A running upstream; stops when dropped.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `ServerResponse` row: server.json plus official metadata.
pub fn row(name: &str, version: &str, updated_at: &str, status: &str) -> Value {
    json!({
        "server": {"name": name, "description": format!("{name} {version}"), "version": version},
        "_meta": {OFFICIAL: {
            "status": status,
            "statusChangedAt": updated_at,
            "publishedAt": updated_at,
            "updatedAt": updated_at,
            "isLatest": false
        }}
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    updated_since: Option<String>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Upstream {
    /// Starts serving `rows` (sorted by the caller).
    pub async fn start(rows: Vec<Value>) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            rows,
            mode: Mode::Normal,
            requests: Vec::new(),
            authorizations: Vec::new(),
            bearer: None,
        }));
        let listener = crate::Loopback::bind().await?;
        let addr = listener.addr;
        let task = listener.serve(Route::new().at("/v0.1/servers", list).data(state.clone()));
        Ok(Self { addr, state, task })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    pub fn set_rows(&self, rows: Vec<Value>) {
        lock(&self.state).rows = rows;
    }

    /// Every request's path and query so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// From now on, answer 401 to a request without `Authorization: Bearer <token>` (`None`:
    /// demand nothing, the default). The 401 body is a problem document that quotes the header
    /// received, as a careless upstream might: the client must not repeat it.
    pub fn require_bearer(&self, token: Option<&str>) {
        lock(&self.state).bearer = token.map(str::to_owned);
    }

    /// The `Authorization` header of every request so far (`None` where there was none).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        lock(&self.state).authorizations.clone()
    }
}

#[handler]
async fn list(req: &poem::Request, Query(q): Query<ListQuery>, state: poem::web::Data<&Arc<Mutex<State>>>) -> Response {
    let authorization = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (mode, bearer) = {
        let mut st = lock(&state);
        st.requests.push(req.uri().to_string());
        st.authorizations.push(authorization.clone());
        (st.mode.clone(), st.bearer.clone())
    };
    if let Some(token) = bearer
        && authorization.as_deref() != Some(format!("Bearer {token}").as_str())
    {
        let detail = match &authorization {
            Some(got) => format!("invalid credentials: {got}"),
            None => "a bearer token is required".to_owned(),
        };
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(poem::http::header::WWW_AUTHENTICATE, "Bearer")
            .content_type("application/problem+json")
            .body(json!({"title": "Unauthorized", "status": 401, "detail": detail}).to_string());
    }
    match mode {
        Mode::Status(code) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .body("upstream failure"),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            json_response(&page(&state, &q))
        }
        Mode::Truncated => {
            let body = page(&state, &q).to_string();
            json_response_raw(body[..body.len() / 2].to_owned())
        }
        Mode::RepeatCursor => {
            let mut body = page(&state, &q);
            body["metadata"]["nextCursor"] = json!("again");
            json_response(&body)
        }
        Mode::EndlessCursor => {
            let n: u64 =
                q.cursor.as_deref().and_then(|c| c.strip_prefix('c')).and_then(|c| c.parse().ok()).unwrap_or(0);
            json_response(&json!({"servers": [], "metadata": {"count": 0, "nextCursor": format!("c{}", n + 1)}}))
        }
        Mode::Huge(bytes) => {
            let padding = "x".repeat(bytes);
            json_response_raw(format!("{{\"servers\":[],\"padding\":\"{padding}\",\"metadata\":{{\"count\":0}}}}"))
        }
        Mode::Normal => json_response(&page(&state, &q)),
    }
}

fn page(state: &Mutex<State>, q: &ListQuery) -> Value {
    let st = lock(state);
    let since: Option<DateTime<Utc>> =
        q.updated_since.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc));
    let rows: Vec<&Value> = st
        .rows
        .iter()
        .filter(|r| {
            since.is_none_or(|since| {
                r["_meta"][OFFICIAL]["updatedAt"]
                    .as_str()
                    .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                    .is_some_and(|u| u.with_timezone(&Utc) > since)
            })
        })
        .collect();
    let offset: usize = q.cursor.as_deref().and_then(|c| c.strip_prefix('o')).and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit = q.limit.unwrap_or(30).clamp(1, 100);
    let end = (offset + limit).min(rows.len());
    let slice: Vec<&Value> = rows.get(offset..end).map(<[&Value]>::to_vec).unwrap_or_default();
    let mut metadata = json!({"count": slice.len()});
    if end < rows.len() {
        metadata["nextCursor"] = json!(format!("o{end}"));
    }
    json!({"servers": slice, "metadata": metadata})
}

fn json_response(v: &Value) -> Response {
    json_response_raw(v.to_string())
}

fn json_response_raw(body: String) -> Response {
    Response::builder().content_type("application/json").body(body)
}
