//! The official MCP Registry read API: list servers, list versions, get one version — for the
//! default registry at the root and for every registry under `/registry/{registry}`. `/v0/…`
//! paths are rewritten to `/v0.1/…` before routing (see `rewrite`), so both behave identically.
//!
//! This file holds the operations and their responses; [`read`] answers them over a registry's
//! snapshot, and [`pages`] keeps rendered listing pages.

mod pages;
mod read;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use super::payload::PreRendered;
use super::problem::Problem;
use super::schema::{ServerList, ServerResponse};
use crate::catalog::Catalog;
use pages::PageCache;
use read::{ListParams, Outcome};
pub use read::{readable_registry, refusal_problem};

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
    /// `Cache-Control` of reads of public registries: `public, max-age=N`.
    public_cache: String,
}

/// `Vary` of every read: the body depends on `Accept-Encoding`.
const VARY: &str = "Accept-Encoding";

/// `Cache-Control` of reads of registries behind a token.
const PRIVATE_CACHE: &str = "private";

impl ServersApi {
    /// The read API over `catalog`, keeping at most `page_cache_bytes` of rendered listing pages
    /// (0: none); reads of public registries may be cached for `cache_max_age`.
    pub fn new(catalog: Arc<Catalog>, page_cache_bytes: u64, cache_max_age: std::time::Duration) -> Self {
        let public_cache = format!("public, max-age={}", cache_max_age.as_secs());
        Self { catalog, pages: PageCache::new(page_cache_bytes), public_cache }
    }
}

/// Response of the list endpoints.
#[derive(Debug, ApiResponse)]
pub enum ListResponse {
    /// A page of servers. `Cache-Control` is `public, max-age=N` (`http.cacheMaxAge`) for a
    /// public registry, `private` for one behind a token. Compressed (`Content-Encoding` gzip,
    /// br or zstd) when `Accept-Encoding` asks for it and the body is 1 KiB or more; each
    /// representation has its own `ETag`.
    #[oai(status = 200)]
    Ok(
        PreRendered<ServerList>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Content-Encoding")] Option<String>,
        #[oai(header = "Vary")] String,
    ),
    /// The page did not change since the `ETag` sent in `If-None-Match` (the `ETag` of the
    /// representation `Accept-Encoding` selects).
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
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
    /// The server version. `Cache-Control`, `Content-Encoding` and `ETag` as for the lists.
    #[oai(status = 200)]
    Ok(
        PreRendered<ServerResponse>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Content-Encoding")] Option<String>,
        #[oai(header = "Vary")] String,
    ),
    /// The version did not change since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
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

/// The two read responses have the same variants: one conversion from [`Outcome`] for both.
macro_rules! from_outcome {
    ($response:ty) => {
        impl From<Outcome> for $response {
            fn from(o: Outcome) -> Self {
                match o {
                    Outcome::Body(r) => Self::Ok(
                        PreRendered::new(r.body),
                        r.etag,
                        r.cache,
                        r.coding.header().map(str::to_owned),
                        VARY.to_owned(),
                    ),
                    Outcome::NotModified(etag, cache) => Self::NotModified(etag, cache, VARY.to_owned()),
                    Outcome::Refused(p, read::Refused::TokenRequired) => Self::Unauthorized(p.json()),
                    Outcome::Refused(p, read::Refused::NotFound) | Outcome::NotFound(p) => Self::NotFound(p.json()),
                    Outcome::BadRequest(p) => Self::BadRequest(p.json()),
                    Outcome::Unprocessable(p) => Self::Unprocessable(p.json()),
                }
            }
        }
    };
}

from_outcome!(ListResponse);
from_outcome!(VersionResponse);

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

    /// Get the latest version of a server in the default registry.
    ///
    /// What clients of the official registry call for one server: the same as
    /// `versions/latest`. The name is URL-encoded (`/` as `%2F`) or sent with a raw `/`.
    #[oai(path = "/v0.1/servers/:serverName", method = "get", operation_id = "get_server", tag = "ApiTags::Servers")]
    async fn get_server(
        &self,
        req: &Request,
        /// Server name, e.g. `io.github.user%2Fweather` (or `io.github.user/weather`).
        #[oai(name = "serverName")]
        server_name: Path<String>,
    ) -> VersionResponse {
        self.version(req, None, &server_name.0, "latest", false).into()
    }

    /// Get the latest version of a server in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName",
        method = "get",
        operation_id = "get_registry_server",
        tag = "ApiTags::Servers"
    )]
    async fn get_registry_server(
        &self,
        req: &Request,
        /// Registry name.
        registry: Path<String>,
        /// Server name, e.g. `io.github.user%2Fweather` (or `io.github.user/weather`).
        #[oai(name = "serverName")]
        server_name: Path<String>,
    ) -> VersionResponse {
        self.version(req, Some(&registry.0), &server_name.0, "latest", false).into()
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
