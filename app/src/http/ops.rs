//! Operations endpoints: liveness, readiness, version. Readiness shows each caller only the
//! registries it may read (see [`Readiness`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use thv_domain::{SyncPhase, SyncStatus};

use crate::build_info::BuildInfo;
use crate::catalog::{Catalog, ReadinessReport, ReadinessView, ReadyState};
use crate::config::SourceConfig;

#[derive(Tags)]
enum ApiTags {
    /// Liveness, readiness and build information.
    Operations,
}

/// Build information.
#[derive(Debug, Clone, Object)]
pub struct VersionInfo {
    pub version: String,
    pub git_commit: String,
    pub build_time: String,
}

impl From<BuildInfo> for VersionInfo {
    fn from(info: BuildInfo) -> Self {
        Self { version: info.version, git_commit: info.git_commit, build_time: info.build_time }
    }
}

/// Liveness.
#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: String,
}

/// Ping.
#[derive(Debug, Object)]
pub struct Pong {
    pub pong: bool,
}

/// Readiness of the whole server.
///
/// A caller without a token (`oauth` mode) gets `status` alone; an authenticated caller gets the
/// registries it may read; the full report (every registry and source, and why the store is
/// degraded) goes to `anonymous` mode, to `superAdmin` and to the operations listener
/// (`--internal-address`).
#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready` when every registry has data or a definite outcome; `degraded` when, in addition,
    /// the database cannot be reached (reads are served from memory, syncs retry); `not_ready`
    /// before.
    pub status: String,
    /// Why the status is `degraded` (full report only).
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// The registries the caller may read (absent for a caller without a token).
    #[oai(skip_serializing_if_is_none)]
    pub registries: Option<Vec<RegistryReadiness>>,
}

/// Readiness of one registry.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RegistryReadiness {
    pub name: String,
    /// Whether the registry is served at the root paths too.
    pub default: bool,
    /// Whether every source of the registry has data or a definite outcome.
    pub ready: bool,
    /// Number of servers (distinct names) the registry serves.
    pub server_count: u64,
    pub sources: Vec<SourceStatus>,
}

/// Sync phase of a source.
#[derive(Debug, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub enum Phase {
    Pending,
    Syncing,
    Synced,
    Failed,
    Interrupted,
}

impl From<SyncPhase> for Phase {
    fn from(p: SyncPhase) -> Self {
        match p {
            SyncPhase::Pending => Self::Pending,
            SyncPhase::Syncing => Self::Syncing,
            SyncPhase::Synced => Self::Synced,
            SyncPhase::Failed => Self::Failed,
            SyncPhase::Interrupted => Self::Interrupted,
        }
    }
}

/// Sync status of a source.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SourceStatus {
    pub name: String,
    /// `file`, `git`, `api` or `managed`.
    #[oai(rename = "type")]
    pub kind: String,
    pub phase: Phase,
    /// Why the last sync failed, or notes about skipped items.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub last_attempt: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub last_sync_time: Option<DateTime<Utc>>,
    /// Consecutive failed attempts since the last success.
    pub attempt_count: u32,
    /// Number of servers (distinct names) the source provides.
    pub server_count: u64,
    /// Revision of the data served (content hash, commit, `ETag`).
    #[oai(skip_serializing_if_is_none)]
    pub revision: Option<String>,
}

impl SourceStatus {
    pub fn new(config: &SourceConfig, status: SyncStatus) -> Self {
        Self {
            name: config.name.to_string(),
            kind: config.kind.type_name().to_owned(),
            phase: status.phase.into(),
            message: status.message,
            last_attempt: status.last_attempt,
            last_sync_time: status.last_sync_time,
            attempt_count: status.attempt_count,
            server_count: status.server_count as u64,
            revision: status.revision.map(|r| r.0),
        }
    }
}

#[derive(ApiResponse)]
enum ReadinessResponse {
    /// Every registry has data or a definite outcome.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// Some registry is still waiting for its first data.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

/// Who sees what of the operations endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsAudience {
    /// The public listener: what a caller sees depends on who it is.
    Public,
    /// The operations listener (`--internal-address`): everything, to everyone who can reach it.
    Operators,
}

/// An answer of an operations endpoint that is not a public path in `oauth` mode.
#[derive(ApiResponse)]
enum GuardedResponse<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 200)]
    Ok(Json<T>),
    /// `oauth` mode and not in `auth.publicPaths`: a token is required.
    #[oai(status = 401, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "answered by authentication (http::auth) before the handler; declared for the document"
    )]
    Unauthorized(Json<super::problem::Problem>),
}

/// Operations API.
#[derive(Debug)]
pub struct OpsApi {
    pub catalog: Arc<Catalog>,
    pub version: VersionInfo,
    pub audience: OpsAudience,
}

#[OpenApi]
impl OpsApi {
    /// Liveness: the process is up.
    #[oai(path = "/health", method = "get", operation_id = "health", tag = "ApiTags::Operations")]
    async fn health(&self) -> Json<Health> {
        Json(Health { status: "ok".to_owned() })
    }

    /// Ping.
    #[oai(path = "/ping", method = "get", operation_id = "ping", tag = "ApiTags::Operations")]
    async fn ping(&self) -> GuardedResponse<Pong> {
        GuardedResponse::Ok(Json(Pong { pong: true }))
    }

    /// Readiness: 200 once every registry has data or a definite outcome (a failure counts, and
    /// says why), 503 before. Without a token (`oauth` mode) the body is the status alone; with
    /// one, it lists the registries the caller may read with their sources' sync status.
    #[oai(path = "/readiness", method = "get", operation_id = "readiness", tag = "ApiTags::Operations")]
    async fn readiness(&self, req: &Request) -> ReadinessResponse {
        let view = match self.audience {
            OpsAudience::Operators => ReadinessView::Everything,
            OpsAudience::Public => ReadinessView::of(super::auth::caller(req)),
        };
        let body = readiness(self.catalog.readiness(view));
        if body.status == "not_ready" {
            ReadinessResponse::NotReady(Json(body))
        } else {
            ReadinessResponse::Ready(Json(body))
        }
    }

    /// Build information.
    #[oai(path = "/version", method = "get", operation_id = "version", tag = "ApiTags::Operations")]
    async fn version(&self) -> GuardedResponse<VersionInfo> {
        GuardedResponse::Ok(Json(self.version.clone()))
    }
}

/// The readiness body of a report.
fn readiness(report: ReadinessReport<'_>) -> Readiness {
    let status = match report.state {
        ReadyState::NotReady => "not_ready",
        ReadyState::Degraded => "degraded",
        ReadyState::Ready => "ready",
    };
    let registries = report.registries.map(|registries| {
        registries
            .into_iter()
            .map(|r| RegistryReadiness {
                name: r.config.name.to_string(),
                default: r.default,
                ready: r.ready,
                server_count: r.server_count as u64,
                sources: r.sources.into_iter().map(|(config, status)| SourceStatus::new(config, status)).collect(),
            })
            .collect()
    });
    let message =
        report.store_problem.map(|p| format!("the database cannot be reached ({p}); serving the data in memory"));
    Readiness { status: status.to_owned(), message, registries }
}
