//! The official MCP Registry read API: list servers, list versions, get one version — for the
//! default registry at the root and for every registry under `/registry/{registry}`. `/v0/…`
//! paths are rewritten to `/v0.1/…` before routing (see `rewrite`), so both behave identically.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use thv_domain::ServerName;
use thv_domain::snapshot::{ListQuery, VersionSelector, decode_cursor, render_list};

use super::auth::{caller, registry_not_found, token_missing};
use super::payload::PreRendered;
use super::problem::Problem;
use super::schema::{ServerList, ServerResponse};
use crate::catalog::{Catalog, ReadRefusal, RegistrySlot, RegistrySnapshot};

#[derive(Tags)]
enum ApiTags {
    /// Discover MCP servers (official MCP Registry API). Every path is also served under `/v0`.
    Servers,
    /// Paths kept from the original thv-registry-api for existing clients.
    Legacy,
}

/// The read API.
#[derive(Debug)]
pub struct ServersApi {
    catalog: Arc<Catalog>,
    /// Rendered list pages with their `ETag`, keyed by the registry snapshot's content digest
    /// and the request's path and query: a new snapshot simply stops hitting the old keys, which
    /// age out. `None` when `http.pageCacheBytes` is 0.
    pages: Option<PageCache>,
}

/// Rendered pages and their `ETag`, by (snapshot digest, path and query).
type PageCache = Cache<(Arc<str>, String), (Bytes, Arc<str>)>;

impl ServersApi {
    /// The read API over `catalog`, keeping at most `page_cache_bytes` of rendered listing pages
    /// (0: none).
    pub fn new(catalog: Arc<Catalog>, page_cache_bytes: u64) -> Self {
        let pages = (page_cache_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(page_cache_bytes)
                .weigher(|k: &(Arc<str>, String), v: &(Bytes, Arc<str>)| {
                    u32::try_from(k.1.len() + v.0.len() + v.1.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_idle(std::time::Duration::from_secs(600))
                .build()
        });
        Self { catalog, pages }
    }
}

/// Response of the list endpoints.
#[derive(Debug, ApiResponse)]
pub enum ListResponse {
    /// A page of servers.
    #[oai(status = 200)]
    Ok(PreRendered<ServerList>, #[oai(header = "ETag")] String),
    /// The page did not change since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
    /// A query parameter is malformed (`cursor`, `updated_since`, or `include_deleted=false`
    /// together with `updated_since`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// A token is required (no token was sent and the registry is not public, or does not
    /// exist), or the token sent is not valid.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The registry does not exist or the caller may not read it (or no default registry is
    /// configured).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// A query parameter is out of range (`limit` outside 1–100, `include_deleted` not a boolean).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// Response of the single-version endpoints.
#[derive(Debug, ApiResponse)]
pub enum VersionResponse {
    /// The server version.
    #[oai(status = 200)]
    Ok(PreRendered<ServerResponse>, #[oai(header = "ETag")] String),
    /// The version did not change since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
    /// The server name is not a valid `namespace/name`.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// A token is required (no token was sent and the registry is not public, or does not
    /// exist), or the token sent is not valid.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The registry, server or version does not exist (or is deleted and `include_deleted` is
    /// false).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `include_deleted` is not a boolean.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// What a handler produced, before it is shaped into one operation's response enum.
enum Outcome {
    Body(Bytes, String),
    NotModified(String),
    /// The caller may not read the registry (or it does not exist).
    Refused(Problem, Refused),
    BadRequest(Problem),
    NotFound(Problem),
    Unprocessable(Problem),
}

/// How a refused read is answered.
#[derive(Clone, Copy)]
enum Refused {
    TokenRequired,
    NotFound,
}

impl Outcome {
    fn refused(refusal: &ReadRefusal<'_>) -> Self {
        let how = match refusal {
            ReadRefusal::TokenRequired => Refused::TokenRequired,
            ReadRefusal::NotFound { .. } | ReadRefusal::NoDefault { .. } => Refused::NotFound,
        };
        Self::Refused(refusal_problem(refusal), how)
    }
}

impl From<Outcome> for ListResponse {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Body(b, etag) => Self::Ok(PreRendered::new(b), etag),
            Outcome::NotModified(etag) => Self::NotModified(etag),
            Outcome::Refused(p, Refused::TokenRequired) => Self::Unauthorized(p.json()),
            Outcome::Refused(p, Refused::NotFound) | Outcome::NotFound(p) => Self::NotFound(p.json()),
            Outcome::BadRequest(p) => Self::BadRequest(p.json()),
            Outcome::Unprocessable(p) => Self::Unprocessable(p.json()),
        }
    }
}

impl From<Outcome> for VersionResponse {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Body(b, etag) => Self::Ok(PreRendered::new(b), etag),
            Outcome::NotModified(etag) => Self::NotModified(etag),
            Outcome::Refused(p, Refused::TokenRequired) => Self::Unauthorized(p.json()),
            Outcome::Refused(p, Refused::NotFound) | Outcome::NotFound(p) => Self::NotFound(p.json()),
            Outcome::BadRequest(p) => Self::BadRequest(p.json()),
            Outcome::Unprocessable(p) => Self::Unprocessable(p.json()),
        }
    }
}

/// The list query as received.
struct ListParams {
    cursor: Option<String>,
    limit: Option<i64>,
    search: Option<String>,
    updated_since: Option<DateTime<Utc>>,
    version: Option<String>,
    include_deleted: Option<bool>,
}

const DEFAULT_LIMIT: i64 = 30;
const MAX_LIMIT: i64 = 100;

#[OpenApi]
impl ServersApi {
    /// List servers of the default registry.
    ///
    /// One row per server version, ordered by (name, version). `search` matches a
    /// case-insensitive substring of the name, the title or the description (the official
    /// registry matches the name only). `updated_since` returns rows updated strictly after the
    /// instant, deleted ones included.
    #[oai(path = "/v0.1/servers", method = "get", operation_id = "list_servers", tag = "ApiTags::Servers")]
    #[expect(clippy::too_many_arguments, reason = "one argument per official query parameter")]
    async fn list_servers(
        &self,
        req: &Request,
        /// Opaque cursor: the `metadata.nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 30).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Case-insensitive substring of the name, title or description.
        search: Query<Option<String>>,
        /// RFC 3339 instant: only rows updated strictly after it (deleted rows included).
        updated_since: Query<Option<DateTime<Utc>>>,
        /// `latest`, or an exact version.
        version: Query<Option<String>>,
        /// Include deleted versions (default false; implied by `updated_since`).
        include_deleted: Query<Option<bool>>,
    ) -> ListResponse {
        let params = ListParams {
            cursor: cursor.0,
            limit: limit.0,
            search: search.0,
            updated_since: updated_since.0,
            version: version.0,
            include_deleted: include_deleted.0,
        };
        self.list(req, None, params, None).into()
    }

    /// List servers of a registry.
    ///
    /// Same as `GET /v0.1/servers`, for the named registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers",
        method = "get",
        operation_id = "list_registry_servers",
        tag = "ApiTags::Servers"
    )]
    #[expect(clippy::too_many_arguments, reason = "one argument per official query parameter")]
    async fn list_registry_servers(
        &self,
        req: &Request,
        /// Registry name.
        registry: Path<String>,
        /// Opaque cursor: the `metadata.nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 30).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Case-insensitive substring of the name, title or description.
        search: Query<Option<String>>,
        /// RFC 3339 instant: only rows updated strictly after it (deleted rows included).
        updated_since: Query<Option<DateTime<Utc>>>,
        /// `latest`, or an exact version.
        version: Query<Option<String>>,
        /// Include deleted versions (default false; implied by `updated_since`).
        include_deleted: Query<Option<bool>>,
    ) -> ListResponse {
        let params = ListParams {
            cursor: cursor.0,
            limit: limit.0,
            search: search.0,
            updated_since: updated_since.0,
            version: version.0,
            include_deleted: include_deleted.0,
        };
        self.list(req, Some(&registry.0), params, None).into()
    }

    /// List all versions of a server in the default registry.
    ///
    /// Every version (not paginated), newest `publishedAt` first. `serverName` is URL-encoded
    /// (`/` as `%2F`).
    #[oai(
        path = "/v0.1/servers/:serverName/versions",
        method = "get",
        operation_id = "list_server_versions",
        tag = "ApiTags::Servers"
    )]
    async fn list_server_versions(
        &self,
        req: &Request,
        /// URL-encoded server name, e.g. `io.github.user%2Fweather`.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// Include deleted versions (default false).
        include_deleted: Query<Option<bool>>,
    ) -> ListResponse {
        self.versions(req, None, &server_name.0, include_deleted.0.unwrap_or(false)).into()
    }

    /// List all versions of a server in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/versions",
        method = "get",
        operation_id = "list_registry_server_versions",
        tag = "ApiTags::Servers"
    )]
    async fn list_registry_server_versions(
        &self,
        req: &Request,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name, e.g. `io.github.user%2Fweather`.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// Include deleted versions (default false).
        include_deleted: Query<Option<bool>>,
    ) -> ListResponse {
        self.versions(req, Some(&registry.0), &server_name.0, include_deleted.0.unwrap_or(false)).into()
    }

    /// Get one version of a server in the default registry.
    ///
    /// `version` is URL-encoded (`+` as `%2B`); `latest` selects the latest version.
    #[oai(
        path = "/v0.1/servers/:serverName/versions/:version",
        method = "get",
        operation_id = "get_server_version",
        tag = "ApiTags::Servers"
    )]
    async fn get_server_version(
        &self,
        req: &Request,
        /// URL-encoded server name, e.g. `io.github.user%2Fweather`.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// Exact version, or `latest`.
        version: Path<String>,
        /// Return the version even when it is deleted (default false).
        include_deleted: Query<Option<bool>>,
    ) -> VersionResponse {
        self.version(req, None, &server_name.0, &version.0, include_deleted.0.unwrap_or(false)).into()
    }

    /// Get one version of a server in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/versions/:version",
        method = "get",
        operation_id = "get_registry_server_version",
        tag = "ApiTags::Servers"
    )]
    async fn get_registry_server_version(
        &self,
        req: &Request,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name, e.g. `io.github.user%2Fweather`.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// Exact version, or `latest`.
        version: Path<String>,
        /// Return the version even when it is deleted (default false).
        include_deleted: Query<Option<bool>>,
    ) -> VersionResponse {
        self.version(req, Some(&registry.0), &server_name.0, &version.0, include_deleted.0.unwrap_or(false)).into()
    }

    /// List servers of the default registry (legacy path).
    ///
    /// Like `GET /v0.1/servers`, but returns only the latest version of each server unless
    /// `version` says otherwise.
    #[oai(path = "/api/v0/servers", method = "get", operation_id = "legacy_list_servers", tag = "ApiTags::Legacy")]
    #[expect(clippy::too_many_arguments, reason = "one argument per official query parameter")]
    async fn legacy_list_servers(
        &self,
        req: &Request,
        /// Opaque cursor: the `metadata.nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 30).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Case-insensitive substring of the name, title or description.
        search: Query<Option<String>>,
        /// RFC 3339 instant: only rows updated strictly after it (deleted rows included).
        updated_since: Query<Option<DateTime<Utc>>>,
        /// `latest` (the default here), or an exact version.
        version: Query<Option<String>>,
        /// Include deleted versions (default false; implied by `updated_since`).
        include_deleted: Query<Option<bool>>,
    ) -> ListResponse {
        let params = ListParams {
            cursor: cursor.0,
            limit: limit.0,
            search: search.0,
            updated_since: updated_since.0,
            version: version.0,
            include_deleted: include_deleted.0,
        };
        self.list(req, None, params, Some("latest")).into()
    }

    /// Get the latest version of a server in the default registry (legacy path).
    #[oai(path = "/api/v0/servers/:name", method = "get", operation_id = "legacy_get_server", tag = "ApiTags::Legacy")]
    async fn legacy_get_server(
        &self,
        req: &Request,
        /// URL-encoded server name, e.g. `io.github.user%2Fweather`.
        name: Path<String>,
    ) -> VersionResponse {
        self.version(req, None, &name.0, "latest", false).into()
    }
}

impl ServersApi {
    /// The registry a request addresses (the default one at the root paths), when the caller may
    /// read it. A registry the caller may not read gets the same answer as a missing one.
    fn registry(&self, req: &Request, registry: Option<&str>) -> Result<Arc<RegistrySnapshot>, Outcome> {
        readable_registry(&self.catalog, req, registry).map(RegistrySlot::snapshot).map_err(|r| Outcome::refused(&r))
    }

    fn list(&self, req: &Request, registry: Option<&str>, p: ListParams, default_version: Option<&str>) -> Outcome {
        let reg = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        let query = match list_query(p, default_version) {
            Ok(q) => q,
            Err(bad) => return bad,
        };
        // The page and its ETag come from the cache (computed on a miss), so a hit costs neither
        // a render nor a digest.
        let render = || {
            let page = reg.snapshot.list(&query);
            (
                Bytes::from(render_list(&page.rows, page.next_cursor.as_deref())),
                Arc::<str>::from(etag(&reg.digest, req)),
            )
        };
        let (body, etag) = match &self.pages {
            Some(pages) => pages.get_with(
                (reg.digest.clone(), req.uri().path_and_query().map_or_else(String::new, ToString::to_string)),
                render,
            ),
            None => render(),
        };
        if not_modified(req, &etag) {
            return Outcome::NotModified(etag.to_string());
        }
        Outcome::Body(body, etag.to_string())
    }

    fn versions(&self, req: &Request, registry: Option<&str>, name: &str, include_deleted: bool) -> Outcome {
        let reg = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if let Err(p) = server_name(name) {
            return Outcome::BadRequest(p);
        }
        // Looked up before `If-None-Match`: `*` matches only what exists (RFC 9110 13.1.2).
        let Some(rows) = reg.snapshot.versions(name, include_deleted) else {
            return Outcome::NotFound(Problem::new(StatusCode::NOT_FOUND, "Server not found"));
        };
        let etag = etag(&reg.digest, req);
        if not_modified(req, &etag) {
            return Outcome::NotModified(etag);
        }
        Outcome::Body(Bytes::from(render_list(&rows, None)), etag)
    }

    fn version(
        &self,
        req: &Request,
        registry: Option<&str>,
        name: &str,
        version: &str,
        include_deleted: bool,
    ) -> Outcome {
        let reg = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if let Err(p) = server_name(name) {
            return Outcome::BadRequest(p);
        }
        let selector =
            if version == "latest" { VersionSelector::Latest } else { VersionSelector::Exact(version.to_owned()) };
        // Looked up before `If-None-Match`: `*` matches only what exists (RFC 9110 13.1.2).
        let Some(row) = reg.snapshot.version(name, &selector, include_deleted) else {
            let missing = if reg.snapshot.versions(name, include_deleted).is_some() {
                "Server version not found"
            } else {
                "Server not found"
            };
            return Outcome::NotFound(Problem::new(StatusCode::NOT_FOUND, missing));
        };
        let etag = etag(&reg.digest, req);
        if not_modified(req, &etag) {
            return Outcome::NotModified(etag);
        }
        Outcome::Body(row.json(), etag)
    }
}

/// The registry a request addresses — named, or the default one at the root paths — when the
/// caller may read it ([`Catalog::resolve_read`] decides).
pub fn readable_registry<'a>(
    catalog: &'a Catalog,
    req: &'a Request,
    registry: Option<&'a str>,
) -> Result<&'a RegistrySlot, ReadRefusal<'a>> {
    catalog.resolve_read(registry, caller(req))
}

/// What a refused read is told.
pub fn refusal_problem(refusal: &ReadRefusal<'_>) -> Problem {
    match refusal {
        ReadRefusal::TokenRequired => token_missing(),
        ReadRefusal::NotFound { registry } => registry_not_found(registry),
        ReadRefusal::NoDefault { readable } => Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "no default registry is configured; use /registry/{{name}}/v0.1/servers with one of: {}",
                readable.join(", ")
            ),
        ),
    }
}

fn server_name(name: &str) -> Result<ServerName, Problem> {
    ServerName::parse(name)
        .map_err(|e| Problem::invalid(StatusCode::BAD_REQUEST, "path.serverName", e.to_string(), Some(name)))
}

fn list_query(p: ListParams, default_version: Option<&str>) -> Result<ListQuery, Outcome> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Outcome::Unprocessable(Problem::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query.limit",
            "must be between 1 and 100",
            Some(&limit.to_string()),
        )));
    }
    if p.updated_since.is_some() && p.include_deleted == Some(false) {
        return Err(Outcome::BadRequest(Problem::invalid(
            StatusCode::BAD_REQUEST,
            "query.include_deleted",
            "cannot be false together with updated_since: incremental reads always include deleted versions",
            Some("false"),
        )));
    }
    let after = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).map_err(|e| {
            Outcome::BadRequest(Problem::invalid(StatusCode::BAD_REQUEST, "query.cursor", e.to_string(), Some(c)))
        })?),
    };
    let version = match p.version.as_deref().or(default_version) {
        None | Some("") => None,
        Some("latest") => Some(VersionSelector::Latest),
        Some(v) => Some(VersionSelector::Exact(v.to_owned())),
    };
    Ok(ListQuery {
        after,
        limit: usize::try_from(limit).unwrap_or(30),
        search: p.search.filter(|s| !s.is_empty()),
        updated_since: p.updated_since,
        version,
        include_deleted: p.include_deleted.unwrap_or(false),
    })
}

/// A strong `ETag` for this request on this snapshot: the snapshot's content digest and the
/// request's path and query.
fn etag(digest: &str, req: &Request) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(digest.as_bytes());
    h.update(req.uri().path().as_bytes());
    h.update(b"?");
    h.update(req.uri().query().unwrap_or_default().as_bytes());
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

fn not_modified(req: &Request, etag: &str) -> bool {
    req.headers()
        .get_all(poem::http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|v| v == "*" || v == etag || v.strip_prefix("W/") == Some(etag))
}
