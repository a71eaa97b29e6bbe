//! A source that pages through another MCP-Registry-compatible API.
//!
//! A full run reads `GET {endpoint}/v0.1/servers?limit=N&include_deleted=true` and follows `metadata.nextCursor` to the
//! end (falling back to `/v0/servers` when `/v0.1` does not exist); each page body is one
//! document, passed on unchanged so its official metadata survives. The revision is the newest
//! official `updatedAt` seen, so later runs can ask only for what changed
//! (`&updated_since=<revision>`); a full run still happens every `full_sync_interval`, because an
//! incremental run cannot see versions that vanished upstream.
//!
//! With a bearer token file, every page request carries `Authorization: Bearer <token>`. The file
//! is looked at on each fetch and re-read only when its modification time or length changed, so a
//! rotated token is picked up without a restart. The token appears in no message, log or `Debug`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thv_domain::Revision;
use thv_domain::spec::ApiConfig;
use thv_ports::{Clock, Document, Fetched, Source, SourceError};
use url::Url;

use super::http_file::SHA256_PREFIX;
use crate::http::{
    BodyError, build_client, parse_http_url, problem_detail, read_limited, redact, shown, status_error,
    transport_error, truncate,
};

/// Where the official metadata sits in a `ServerResponse`, as a JSON pointer.
const UPDATED_AT_POINTER: &str = "/_meta/io.modelcontextprotocol.registry~1official/updatedAt";

/// Pages through another registry's `GET /v0.1/servers` (or `/v0/servers`).
///
/// Revisions: the newest official `updatedAt` seen, exactly as received (RFC 3339). When the
/// upstream sends no `updatedAt` at all (or an empty catalogue), `sha256:<hex>` of the pages; such
/// a revision never allows an incremental run.
pub struct ApiSource {
    options: ApiConfig,
    /// The endpoint, parsed; may hold credentials (reqwest turns them into basic auth).
    base: Url,
    /// The endpoint without credentials, for messages.
    shown: String,
    client: Client,
    clock: Arc<dyn Clock>,
    /// The configured bearer token file and what was last read from it.
    bearer: Option<BearerFile>,
    state: Mutex<State>,
}

/// Shows the endpoint without its credentials and with query values redacted, never the
/// configured endpoint or the parsed URL (they may hold a password).
impl std::fmt::Debug for ApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSource")
            .field("endpoint", &self.shown)
            .field("timeout", &self.options.timeout)
            .field("max_pages", &self.options.max_pages)
            .field("max_bytes", &self.options.max_bytes)
            .field("bearer_token_file", &self.options.bearer_token_file)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A bearer token file and the token last read from it, with the file's modification time and
/// length at that read: while both stay the same, the file is not read again.
struct BearerFile {
    path: PathBuf,
    last: Mutex<Option<ReadToken>>,
}

struct ReadToken {
    modified: Option<SystemTime>,
    len: u64,
    /// The token, to scrub from what the upstream says.
    token: String,
    /// `Bearer <token>`, marked sensitive (so the HTTP stack never logs it).
    header: HeaderValue,
}

/// What a fetch authenticates with.
struct Bearer {
    token: String,
    header: HeaderValue,
}

impl BearerFile {
    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// The token to send now: the last one read while the file's modification time and length
    /// are unchanged, else the file's new content.
    async fn current(&self) -> Result<Bearer, SourceError> {
        let unreadable = |e: std::io::Error| {
            SourceError::Unavailable(format!(
                "cannot read the bearer token file {}: {e}; restore it (readable by this process) or fix `auth.bearerTokenFile`",
                self.shown()
            ))
        };
        let meta = tokio::fs::metadata(&self.path).await.map_err(unreadable)?;
        let (modified, len) = (meta.modified().ok(), meta.len());
        {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(read) = last.as_ref().filter(|r| r.modified.is_some() && r.modified == modified && r.len == len)
            {
                return Ok(Bearer { token: read.token.clone(), header: read.header.clone() });
            }
        }
        let text = tokio::fs::read_to_string(&self.path).await.map_err(unreadable)?;
        let invalid = |problem: &dyn std::fmt::Display| {
            SourceError::Unavailable(format!("the bearer token file {} {problem}", self.shown()))
        };
        let token = thv_domain::spec::bearer_token(&text).map_err(|p| invalid(&p))?.to_owned();
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| invalid(&"does not hold a valid HTTP header value; the file must hold only the token"))?;
        header.set_sensitive(true);
        let read = ReadToken { modified, len, token: token.clone(), header: header.clone() };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(read);
        Ok(Bearer { token, header })
    }
}

/// What an [`ApiSource`] remembers between fetches.
#[derive(Debug, Default)]
struct State {
    /// The list path that answered last time.
    path: Option<ApiPath>,
    /// When the last successful full run started.
    last_full: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiPath {
    V01,
    V0,
}

impl ApiPath {
    fn segment(self) -> &'static str {
        match self {
            Self::V01 => "v0.1",
            Self::V0 => "v0",
        }
    }

    fn other(self) -> Self {
        match self {
            Self::V01 => Self::V0,
            Self::V0 => Self::V01,
        }
    }
}

/// The accumulated result of one run over the pages.
#[derive(Debug, Default)]
struct Run {
    documents: Vec<Document>,
    /// Server rows over all pages.
    servers: usize,
    /// The newest official `updatedAt` seen: its instant and its text as received.
    newest: Option<(DateTime<FixedOffset>, String)>,
    /// Body bytes read so far, against `max_bytes`.
    bytes: u64,
    /// Digest of all page bodies, for the fallback revision.
    digest: Sha256,
}

/// The shape every page must have; server rows stay raw (the domain parser judges them).
#[derive(Debug, Deserialize)]
struct PageShape {
    servers: Vec<serde_json::Value>,
    #[serde(default)]
    metadata: Option<PageMetadata>,
}

#[derive(Debug, Deserialize)]
struct PageMetadata {
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<String>,
}

/// The outcome of one page request.
enum Page {
    /// HTTP 404: the list path does not exist.
    Missing,
    /// A page was read; the cursor of the next one, if any.
    Read { next_cursor: Option<String> },
}

impl ApiSource {
    /// # Errors
    /// - [`SourceError::NotFound`] when the endpoint is not an absolute http(s) URL, or has a
    ///   `?query` or `#fragment` (it is a base URL);
    /// - [`SourceError::Internal`] when the HTTP client cannot be built (e.g. the user agent is
    ///   not a valid header value).
    pub fn new(options: ApiConfig, clock: Arc<dyn Clock>) -> Result<Self, SourceError> {
        let base = parse_http_url(&options.endpoint, "endpoint")?;
        let shown = shown(&options.endpoint);
        if base.query().is_some() || base.fragment().is_some() {
            return Err(SourceError::NotFound(format!(
                "endpoint {shown} is not a base URL: remove the ?query and #fragment (`/v0.1/servers` is appended to it)"
            )));
        }
        let client = build_client(options.timeout, &options.user_agent)?;
        let bearer = options.bearer_token_file.clone().map(|path| BearerFile { path, last: Mutex::new(None) });
        Ok(Self { options, base, shown, client, clock, bearer, state: Mutex::new(State::default()) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this instance finished a full run less than `full_sync_interval` before `now`.
    fn full_run_is_recent(&self, now: DateTime<Utc>) -> bool {
        let Some(last) = self.state().last_full else { return false };
        // An interval too large for chrono never comes due.
        chrono::Duration::from_std(self.options.full_sync_interval).map_or(true, |every| now - last < every)
    }

    /// `{endpoint}/{v0.1|v0}/servers`, without a query.
    fn list_url(&self, path: ApiPath) -> Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/{}/servers", path.segment()));
        url
    }

    /// Reads every page of one list path (falling back to the other path when the first page is
    /// a 404), with `updated_since` when given.
    async fn run(&self, updated_since: Option<&str>) -> Result<Run, SourceError> {
        let bearer = match &self.bearer {
            Some(file) => Some(file.current().await?),
            None => None,
        };
        let bearer = bearer.as_ref();
        let first_choice = self.state().path.unwrap_or(ApiPath::V01);
        let mut run = Run::default();
        let mut path = first_choice;
        let mut next_cursor = loop {
            match self.page(path, 1, None, updated_since, bearer, &mut run).await? {
                Page::Read { next_cursor } => break next_cursor,
                Page::Missing if path == first_choice => {
                    tracing::info!(
                        endpoint = %self.shown,
                        "{} returned 404; trying {}",
                        redact(&self.list_url(path)),
                        redact(&self.list_url(path.other()))
                    );
                    path = path.other();
                }
                Page::Missing => {
                    return Err(SourceError::NotFound(format!(
                        "{} serves no MCP registry API: GET {} and GET {} returned HTTP 404; check the endpoint (the registry's base URL, without /v0.1)",
                        self.shown,
                        redact(&self.list_url(ApiPath::V01)),
                        redact(&self.list_url(ApiPath::V0)),
                    )));
                }
            }
        };
        self.state().path = Some(path);

        let mut seen = HashSet::new();
        let mut number = 1;
        while let Some(cursor) = next_cursor {
            if !seen.insert(cursor.clone()) {
                return Err(SourceError::Unavailable(format!(
                    "cursor {:?} repeats: the upstream pagination loops (page {number} of {})",
                    truncate(&cursor, 80),
                    redact(&self.list_url(path)),
                )));
            }
            if number >= self.options.max_pages {
                return Err(SourceError::TooLarge(format!(
                    "{} has more than {} pages; the cursor chain does not end (raise `maxPages` if the catalogue really is that large)",
                    redact(&self.list_url(path)),
                    self.options.max_pages,
                )));
            }
            number += 1;
            next_cursor = match self.page(path, number, Some(&cursor), updated_since, bearer, &mut run).await? {
                Page::Read { next_cursor } => next_cursor,
                Page::Missing => {
                    return Err(SourceError::Unavailable(format!(
                        "page {number} of {} returned HTTP 404 (cursor {:?})",
                        redact(&self.list_url(path)),
                        truncate(&cursor, 80),
                    )));
                }
            };
        }
        Ok(run)
    }

    /// Requests one page and folds it into `run`.
    async fn page(
        &self,
        path: ApiPath,
        number: u32,
        cursor: Option<&str>,
        updated_since: Option<&str>,
        bearer: Option<&Bearer>,
        run: &mut Run,
    ) -> Result<Page, SourceError> {
        let list = self.list_url(path);
        let mut url = list.clone();
        let mut query = format!("limit={}", self.options.page_size);
        // A full run asks for deleted versions too, so a mirror keeps the upstream's tombstones
        // (status and timestamps) instead of inventing its own; `updated_since` implies them.
        if updated_since.is_none() {
            query.push_str("&include_deleted=true");
        }
        for (key, value) in [("cursor", cursor), ("updated_since", updated_since)] {
            if let Some(value) = value {
                let _ = write!(query, "&{key}={}", encode_component(value));
            }
        }
        url.set_query(Some(&query));
        let shown_url = redact(&url);

        let mut request = self.client.get(url).header(ACCEPT, "application/json");
        if let Some(bearer) = bearer {
            // `headers` replaces (where `header` would add a second one next to basic auth taken
            // from credentials in the endpoint, which the configuration refuses anyway).
            request = request.headers(HeaderMap::from_iter([(AUTHORIZATION, bearer.header.clone())]));
        }
        let mut response = request.send().await.map_err(|e| transport_error(&shown_url, self.options.timeout, e))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Page::Missing);
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(self.refused(&shown_url, response, bearer).await);
        }
        if !status.is_success() {
            return Err(status_error(&shown_url, response).await);
        }
        let html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
        let budget = self.options.max_bytes.saturating_sub(run.bytes);
        let body = read_limited(&mut response, budget).await.map_err(|e| match e {
            BodyError::TooLarge => SourceError::TooLarge(format!(
                "the pages of {} exceed the limit of {} bytes at page {number} (raise `maxBytes` if the catalogue really is that large)",
                redact(&list),
                self.options.max_bytes,
            )),
            BodyError::Read(e) => transport_error(&shown_url, self.options.timeout, e),
        })?;
        run.bytes += body.len() as u64;

        let page: PageShape = serde_json::from_slice(&body).map_err(|e| {
            let hint = if html { " (the response is HTML: is the endpoint the registry API's base URL?)" } else { "" };
            SourceError::Unavailable(format!("page {number} of {} is not a server list: {e}{hint}", redact(&list)))
        })?;
        run.servers += page.servers.len();
        for row in &page.servers {
            let Some(text) = row.pointer(UPDATED_AT_POINTER).and_then(serde_json::Value::as_str) else { continue };
            let Ok(at) = DateTime::parse_from_rfc3339(text) else { continue };
            if run.newest.as_ref().is_none_or(|(newest, _)| at > *newest) {
                run.newest = Some((at, text.to_owned()));
            }
        }
        run.digest.update((body.len() as u64).to_le_bytes());
        run.digest.update(&body);
        run.documents.push(Document::from_bytes(body));
        let next_cursor = page.metadata.and_then(|m| m.next_cursor).filter(|c| !c.is_empty());
        Ok(Page::Read { next_cursor })
    }
}

impl ApiSource {
    /// A 401 or 403: the upstream refused the token, or wants one. The upstream's own words are
    /// kept, without the token should it echo it.
    async fn refused(&self, url: &str, mut response: reqwest::Response, bearer: Option<&Bearer>) -> SourceError {
        let status = response.status();
        let detail = problem_detail(&mut response).await.map(|d| match bearer {
            Some(b) => d.replace(&b.token, "***"),
            None => d,
        });
        let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
        let why = match &self.bearer {
            Some(file) => format!(
                "the upstream refused the bearer token from {}{detail}; check that the file holds a current token for this registry",
                file.shown()
            ),
            None => format!("the upstream needs a token{detail}; set `auth.bearerTokenFile` to a file holding one"),
        };
        SourceError::Unavailable(format!("GET {url} returned HTTP {status}: {why}"))
    }
}

#[async_trait]
impl Source for ApiSource {
    async fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError> {
        let now = self.clock.now();
        let incremental = since
            .filter(|_| self.full_run_is_recent(now))
            .and_then(|r| DateTime::parse_from_rfc3339(&r.0).ok().map(|at| (r, at)));

        if let Some((since, since_at)) = incremental {
            let run = self.run(Some(&since.0)).await?;
            if run.servers == 0 {
                return Ok(Fetched::Unchanged);
            }
            let revision = match run.newest {
                Some((at, text)) if at > since_at => text,
                _ => since.0.clone(),
            };
            return Ok(Fetched::Documents { revision: Revision(revision), documents: run.documents, complete: false });
        }

        let run = self.run(None).await?;
        self.state().last_full = Some(now);
        let revision = if let Some((_, text)) = run.newest {
            Revision(text)
        } else {
            let revision = Revision(format!("{SHA256_PREFIX}{}", hex::encode(run.digest.finalize())));
            if since == Some(&revision) {
                return Ok(Fetched::Unchanged);
            }
            revision
        };
        Ok(Fetched::Documents { revision, documents: run.documents, complete: true })
    }

    fn describe(&self) -> String {
        format!("api {}", self.shown)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so `+`, `/`, `=`, `&` and space
/// in a cursor or timestamp arrive as sent whatever the server's query decoder.
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_fully_percent_encoded() {
        assert_eq!(encode_component("a+b/c= d~é"), "a%2Bb%2Fc%3D%20d~%C3%A9");
        assert_eq!(encode_component("2026-01-01T00:00:00+00:00"), "2026-01-01T00%3A00%3A00%2B00%3A00");
    }

    #[test]
    fn endpoints_must_be_base_urls() {
        let clock: Arc<dyn Clock> = Arc::new(crate::SystemClock);
        let err = ApiSource::new(ApiConfig::new("registry.example.com"), clock.clone()).unwrap_err();
        assert!(matches!(&err, SourceError::NotFound(m) if m.contains("not a valid http(s) URL")), "{err}");
        let err = ApiSource::new(ApiConfig::new("https://r.example.com/?x=1"), clock.clone()).unwrap_err();
        assert!(matches!(&err, SourceError::NotFound(m) if m.contains("not a base URL")), "{err}");
        let src = ApiSource::new(ApiConfig::new("https://u:secret@r.example.com/reg/"), clock).unwrap();
        assert_eq!(src.describe(), "api https://r.example.com/reg/");
        assert_eq!(src.list_url(ApiPath::V0).as_str(), "https://u:secret@r.example.com/reg/v0/servers");
    }
}
