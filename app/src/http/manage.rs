//! The management API (`/v1`): registries and sources with their sync status, a trigger to sync
//! a source now, and the caller's identity.
//!
//! In `oauth` mode every `/v1` path needs a token: each operation takes a [`ManagementCaller`],
//! the security scheme of [`gate`](super::gate), so it cannot run for a caller without one, and
//! the document declares the bearer scheme on it. Reads show only what the caller may see: the
//! registries it may read, and the sources feeding them (a super-admin sees everything); anything
//! else answers 404 exactly as if it did not exist. Triggering a sync needs the `manageSources`
//! role on a source the caller can see (403 without the role).

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use thv_domain::access::{Caller, Role};
use thv_domain::filter::IncludeExclude;
use thv_domain::{FilterSpec, SourceName};

use super::gate::ManagementCaller;
use super::ops::SourceStatus;
use super::problem::Problem;
use crate::catalog::{Catalog, SyncRequest};
use crate::config::{RegistryConfig, SourceConfig, duration};

#[derive(Tags)]
enum ApiTags {
    /// Registries and sources of this deployment, with their sync status.
    Management,
}

/// Include/exclude lists of a filter.
#[derive(Debug, Object)]
pub struct IncludeExcludeInfo {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A name/tag filter.
#[derive(Debug, Object)]
pub struct FilterInfo {
    /// Globs on the full server name.
    pub names: IncludeExcludeInfo,
    /// Exact tags from the publisher-provided metadata.
    pub tags: IncludeExcludeInfo,
}

fn include_exclude(ie: &IncludeExclude) -> IncludeExcludeInfo {
    IncludeExcludeInfo { include: ie.include.clone(), exclude: ie.exclude.clone() }
}

fn filter_info(spec: &FilterSpec) -> Option<FilterInfo> {
    (*spec != FilterSpec::default())
        .then(|| FilterInfo { names: include_exclude(&spec.names), tags: include_exclude(&spec.tags) })
}

/// One registry.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RegistryInfo {
    pub name: String,
    /// Whether this registry is also served at the root paths (`/v0.1/…`).
    pub default: bool,
    /// Who may read it: `public`, `authenticated` or `claims`.
    pub access: String,
    /// Base path of its MCP Registry API.
    pub api_path: String,
    /// Source names, in precedence order.
    pub sources: Vec<String>,
    /// Registry-level filter, applied on top of the sources' own.
    #[oai(skip_serializing_if_is_none)]
    pub filter: Option<FilterInfo>,
    /// Whether every source has data or a definite outcome.
    pub ready: bool,
    /// Servers (distinct names with a visible version).
    pub server_count: u64,
    /// Rows (versions), deleted ones included.
    pub entry_count: u64,
}

/// All registries.
#[derive(Debug, Object)]
pub struct RegistryList {
    pub registries: Vec<RegistryInfo>,
}

/// One source with its configuration and sync status.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SourceInfo {
    pub name: String,
    /// `file`, `git` or `api`.
    #[oai(rename = "type")]
    pub kind: String,
    /// `upstream`, `toolhive` or `auto`.
    pub format: String,
    /// Where the data comes from.
    pub location: String,
    /// Sync interval, Go-style (`5m0s`).
    pub interval: String,
    /// Registries that include this source.
    pub registries: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub filter: Option<FilterInfo>,
    /// Versions held, deleted ones included.
    pub entry_count: u64,
    pub sync: SourceStatus,
}

/// All sources.
#[derive(Debug, Object)]
pub struct SourceList {
    pub sources: Vec<SourceInfo>,
}

/// The caller of the request.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MeInfo {
    /// Whether a valid token was presented (always false in `anonymous` mode).
    pub authenticated: bool,
    /// The token's `sub`.
    #[oai(skip_serializing_if_is_none)]
    pub subject: Option<String>,
    /// The provider that issued the token.
    #[oai(skip_serializing_if_is_none)]
    pub provider: Option<String>,
    /// Roles held: `superAdmin`, `manageSources`, `manageRegistries`, `manageEntries` (every role in
    /// `anonymous` mode).
    pub roles: Vec<String>,
    /// Registries the caller may read.
    pub registries: Vec<String>,
}

/// A sync was started.
#[derive(Debug, Object)]
pub struct SyncAccepted {
    pub source: String,
    pub message: String,
}

#[derive(Debug, ApiResponse)]
enum RegistryResponse {
    /// The registry.
    #[oai(status = 200)]
    Ok(Json<RegistryInfo>),
    /// The path is malformed (a control character, `..`, a backslash, double encoding): refused
    /// by the request hardening before this operation runs.
    #[oai(status = 400, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "answered by the path hardening (http::harden) before any handler; declared for the document"
    )]
    BadPath(Json<Problem>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
    /// No such registry, or the caller may not read it.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

#[derive(Debug, ApiResponse)]
enum RegistryListResponse {
    /// The registries the caller may read.
    #[oai(status = 200)]
    Ok(Json<RegistryList>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
}

#[derive(Debug, ApiResponse)]
enum SourceListResponse {
    /// The sources the caller may see.
    #[oai(status = 200)]
    Ok(Json<SourceList>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
}

#[derive(Debug, ApiResponse)]
enum MeResponse {
    /// The caller's identity and roles.
    #[oai(status = 200)]
    Ok(Json<MeInfo>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
}

#[derive(Debug, ApiResponse)]
enum SourceResponse {
    /// The source.
    #[oai(status = 200)]
    Ok(Json<Box<SourceInfo>>),
    /// The path is malformed (a control character, `..`, a backslash, double encoding): refused
    /// by the request hardening before this operation runs.
    #[oai(status = 400, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "answered by the path hardening (http::harden) before any handler; declared for the document"
    )]
    BadPath(Json<Problem>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
    /// No such source, or it feeds no registry the caller may read.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

#[derive(Debug, ApiResponse)]
enum SyncResponse {
    /// The sync started; follow it in `GET /v1/sources/{name}`.
    #[oai(status = 202)]
    Accepted(Json<SyncAccepted>),
    /// The path is malformed (a control character, `..`, a backslash, double encoding): refused
    /// by the request hardening before this operation runs.
    #[oai(status = 400, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "answered by the path hardening (http::harden) before any handler; declared for the document"
    )]
    BadPath(Json<Problem>),
    /// A token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(dead_code, reason = "answered by the gate (http::gate) before any handler; declared for the document")]
    Unauthorized(Json<Problem>),
    /// The caller may see the source but does not hold the `manageSources` role.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such source, or it feeds no registry the caller may read.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// A sync of this source is already running.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// The management API.
#[derive(Debug)]
pub struct ManageApi {
    pub catalog: Arc<Catalog>,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Management")]
impl ManageApi {
    /// List registries.
    #[oai(path = "/registries", method = "get", operation_id = "list_registries")]
    async fn list_registries(&self, caller: ManagementCaller<'_>) -> RegistryListResponse {
        RegistryListResponse::Ok(Json(RegistryList {
            registries: self.catalog.readable_registries(&caller).map(|r| self.registry_info(&r.config)).collect(),
        }))
    }

    /// Get a registry.
    #[oai(path = "/registries/:name", method = "get", operation_id = "get_registry")]
    async fn get_registry(&self, caller: ManagementCaller<'_>, name: Path<String>) -> RegistryResponse {
        match self.catalog.readable_registry(&name.0, &caller) {
            Some(r) => RegistryResponse::Ok(Json(self.registry_info(&r.config))),
            None => RegistryResponse::NotFound(
                Problem::new(StatusCode::NOT_FOUND, format!("Registry not found: `{}`", name.0)).json(),
            ),
        }
    }

    /// List sources with their sync status.
    #[oai(path = "/sources", method = "get", operation_id = "list_sources")]
    async fn list_sources(&self, caller: ManagementCaller<'_>) -> SourceListResponse {
        SourceListResponse::Ok(Json(SourceList {
            sources: self
                .catalog
                .sources()
                .filter(|s| self.catalog.source_visible(&s.config.name, &caller))
                .map(|s| self.source_info(&s.config, &caller))
                .collect(),
        }))
    }

    /// Get a source with its sync status.
    #[oai(path = "/sources/:name", method = "get", operation_id = "get_source")]
    async fn get_source(&self, caller: ManagementCaller<'_>, name: Path<String>) -> SourceResponse {
        match self.find_source(&name.0, &caller) {
            Some(cfg) => SourceResponse::Ok(Json(Box::new(self.source_info(&cfg, &caller)))),
            None => SourceResponse::NotFound(source_not_found(&name.0).json()),
        }
    }

    /// Sync a source now.
    ///
    /// Starts a sync in the background and returns at once (202); 409 while a sync of the source
    /// is running, and for a managed source (written through the API, never synced).
    #[oai(path = "/sources/:name/sync", method = "post", operation_id = "sync_source")]
    async fn sync_source(&self, caller: ManagementCaller<'_>, name: Path<String>) -> SyncResponse {
        let Some(cfg) = self.find_source(&name.0, &caller) else {
            return SyncResponse::NotFound(source_not_found(&name.0).json());
        };
        if !caller.has_role(Role::ManageSources) {
            return SyncResponse::Forbidden(
                Problem::new(StatusCode::FORBIDDEN, "triggering a sync needs the `manageSources` role").json(),
            );
        }
        match self.catalog.request_sync(&cfg.name) {
            SyncRequest::Started => SyncResponse::Accepted(Json(SyncAccepted {
                source: cfg.name.to_string(),
                message: "sync started".to_owned(),
            })),
            SyncRequest::Busy => SyncResponse::Conflict(
                Problem::new(StatusCode::CONFLICT, format!(
                        "a sync of source `{}` is already running or requested (after a failure it starts when the retry backoff ends)",
                        cfg.name
                    ))
                    .json(),
            ),
            SyncRequest::Unknown => SyncResponse::NotFound(source_not_found(&name.0).json()),
            SyncRequest::Managed => SyncResponse::Conflict(
                Problem::new(
                    StatusCode::CONFLICT,
                    format!("source `{}` is managed: its entries are published through the write API, not synced", cfg.name),
                )
                .json(),
            ),
        }
    }

    /// Who is calling: identity, roles, and the registries it may read.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn me(&self, caller: ManagementCaller<'_>) -> MeResponse {
        let identity = caller.identity();
        MeResponse::Ok(Json(MeInfo {
            authenticated: caller.is_authenticated(),
            subject: identity.and_then(|i| i.subject.clone()),
            provider: identity.map(|i| i.provider.clone()),
            roles: caller.roles().iter().map(|r| r.as_str().to_owned()).collect(),
            registries: self.catalog.readable_registries(&caller).map(|r| r.config.name.to_string()).collect(),
        }))
    }
}

fn source_not_found(name: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("Source not found: `{name}`"))
}

impl ManageApi {
    /// A source the caller may see.
    fn find_source(&self, name: &str, caller: &Caller) -> Option<SourceConfig> {
        let name = SourceName::parse(name).ok()?;
        self.catalog.source(&name).filter(|_| self.catalog.source_visible(&name, caller)).map(|s| s.config.clone())
    }

    fn registry_info(&self, r: &RegistryConfig) -> RegistryInfo {
        let snapshot = self.catalog.registry(r.name.as_str());
        RegistryInfo {
            name: r.name.to_string(),
            default: self.catalog.default_registry() == Some(&r.name),
            access: r.access.kind().to_owned(),
            api_path: format!("/registry/{}/v0.1", r.name),
            sources: r.sources.iter().map(ToString::to_string).collect(),
            filter: filter_info(&r.filter_spec),
            ready: self.catalog.registry_ready(r),
            server_count: snapshot.as_ref().map_or(0, |s| s.snapshot.server_count()) as u64,
            entry_count: snapshot.as_ref().map_or(0, |s| s.snapshot.len()) as u64,
        }
    }

    fn source_info(&self, cfg: &SourceConfig, caller: &Caller) -> SourceInfo {
        let status = self.catalog.source_status(&cfg.name).map_or_else(thv_domain::SyncStatus::pending, |(s, _)| s);
        SourceInfo {
            name: cfg.name.to_string(),
            kind: cfg.kind.type_name().to_owned(),
            format: crate::config::format_name(cfg.format).to_owned(),
            location: self.catalog.source_location(&cfg.name).unwrap_or_else(|| cfg.kind.location()),
            interval: duration::format(cfg.interval),
            registries: self
                .catalog
                .readable_registries(caller)
                .filter(|r| r.config.sources.contains(&cfg.name))
                .map(|r| r.config.name.to_string())
                .collect(),
            filter: filter_info(&cfg.filter_spec),
            entry_count: self.catalog.source_entry_count(&cfg.name) as u64,
            sync: SourceStatus::new(cfg, status),
        }
    }
}
