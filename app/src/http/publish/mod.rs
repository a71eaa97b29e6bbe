//! The write API of managed registries: the official publish operations (`POST /publish`, status
//! `PATCH`es, `PUT` edit, soft `DELETE`, `POST /validate`) for the default registry at the root and for
//! every registry under `/registry/{registry}`, and the Go server's `/v1/entries`.
//!
//! Every write goes through [`PublishApi::perform`], in the official order: the body is a
//! server.json (422), the registry may be read (401/404) and takes publishes (501), the caller may
//! write (401/403), the document validates against its released schema and the semantic rules
//! (422 with `errors[]`), then the catalogue's rules (400/404). Each write, whatever its outcome,
//! leaves one audit event ([`crate::telemetry::audit`]).

mod body;
mod respond;

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use serde_json::Value;
use thv_domain::access::Caller;
use thv_domain::managed::StatusChange;
use thv_domain::validate::{Issue, check_shape, validate};
use thv_domain::{Entry, ServerJson};

use super::auth::caller;
use super::gate::WriterCaller;
use super::payload::PreRendered;
use super::schema::ServerDetail;
use super::servers::{readable_registry, refusal_problem};
use crate::catalog::{Catalog, RegistrySlot, Write, Written};
use crate::telemetry::audit::{self, AuditEvent};
use body::JsonBody;
use respond::{EntryCreatedResponse, EntryDeletedResponse, Failure, WriteAllResponse, WriteResponse};

#[derive(Tags)]
enum ApiTags {
    /// Publish into a registry's managed source (official MCP Registry write API). Every path is
    /// also served under `/v0`.
    Publish,
    /// The Go thv-registry-api's entry API.
    Entries,
}

/// The write API.
#[derive(Debug)]
pub struct PublishApi {
    pub catalog: Arc<Catalog>,
}

/// A new status for a version, or for every version of a server.
#[derive(Debug, Object)]
#[oai(rename = "StatusUpdateRequest", rename_all = "camelCase")]
pub struct StatusUpdateRequest {
    pub status: NewStatus,
    /// Why (a deprecation or deletion notice, at most 500 characters); only with `deprecated`
    /// or `deleted`.
    pub status_message: Option<String>,
}

/// Lifecycle status to set.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "NewStatus", rename_all = "lowercase")]
pub enum NewStatus {
    Active,
    Deprecated,
    Deleted,
}

impl From<NewStatus> for thv_domain::Status {
    fn from(s: NewStatus) -> Self {
        match s {
            NewStatus::Active => Self::Active,
            NewStatus::Deprecated => Self::Deprecated,
            NewStatus::Deleted => Self::Deleted,
        }
    }
}

/// The result of `POST /validate`.
#[derive(Debug, Object)]
#[oai(rename = "ValidationResult")]
pub struct ValidationResult {
    /// Whether the document would be accepted by `POST /publish` (as far as the document alone
    /// decides: duplicates and the registry's rules are checked on publish).
    pub valid: bool,
    pub issues: Vec<ValidationIssue>,
}

/// One problem of a validated document.
#[derive(Debug, Object)]
#[oai(rename = "ValidationIssue")]
pub struct ValidationIssue {
    pub message: String,
    /// Where: `body.name`, `body.remotes[0].url`.
    pub location: String,
}

/// The body of `POST /v1/entries`.
#[derive(Debug, Object)]
#[oai(rename = "PublishEntryRequest")]
pub struct PublishEntryRequest {
    /// The server.json to publish.
    pub server: ServerDetail,
    /// Accepted for compatibility and ignored: who may write comes from the token's roles.
    pub claims: Option<poem_openapi::types::Any<Value>>,
}

/// Any JSON value (what `POST /validate` takes: it reports what is wrong with it).
type AnyJson = poem_openapi::types::Any<Value>;

/// What a write operation asks for, before its body is read.
enum Ask<'a> {
    Publish(Result<Value, String>),
    Edit { name: &'a str, version: &'a str, body: Result<Value, String> },
    Status { name: &'a str, version: Option<&'a str>, change: StatusChange },
}

impl Ask<'_> {
    fn action(&self) -> &'static str {
        match self {
            Self::Publish(_) => "publish",
            Self::Edit { .. } => "edit",
            Self::Status { change, .. } if change.status == thv_domain::Status::Deleted => "delete",
            Self::Status { .. } => "status",
        }
    }
}

/// The audit fields a write collects as it goes.
#[derive(Default)]
struct Trail {
    registry: Option<String>,
    source: Option<String>,
    name: Option<String>,
    version: Option<String>,
}

impl PublishApi {
    /// Runs one write in the official order and audits it.
    async fn perform(
        &self,
        req: &Request,
        registry: Option<&str>,
        ask: Ask<'_>,
        duplicate: StatusCode,
    ) -> Result<Written, Failure> {
        let caller = caller(req);
        let action = ask.action();
        let mut trail = Trail::default();
        let result = self.steps(caller, registry, ask, duplicate, &mut trail).await;
        let identity = caller.identity();
        let (outcome, status, reason) = match &result {
            Ok(_) => ("success", 200, None),
            Err(f) => (f.outcome, f.status(), Some(f.problem.detail.as_str())),
        };
        audit::record(&AuditEvent {
            issuer: identity.and_then(|i| i.claims.get("iss")).and_then(Value::as_str),
            subject: identity.and_then(|i| i.subject.as_deref()),
            registry: trail.registry.as_deref(),
            source: trail.source.as_deref(),
            name: trail.name.as_deref(),
            version: trail.version.as_deref(),
            action,
            outcome,
            status,
            reason,
        });
        result
    }

    async fn steps(
        &self,
        caller: &Caller,
        registry: Option<&str>,
        ask: Ask<'_>,
        duplicate: StatusCode,
        trail: &mut Trail,
    ) -> Result<Written, Failure> {
        // 1. The body is a server.json document.
        let doc = match &ask {
            Ask::Publish(body) | Ask::Edit { body, .. } => Some(document(body)?),
            Ask::Status { .. } => None,
        };
        match &ask {
            Ask::Publish(_) => {
                let field = |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(Value::as_str).map(str::to_owned);
                trail.name = field("name");
                trail.version = field("version");
            }
            Ask::Edit { name, version, .. } => {
                trail.name = Some((*name).to_owned());
                trail.version = Some((*version).to_owned());
            }
            Ask::Status { name, version, .. } => {
                trail.name = Some((*name).to_owned());
                trail.version = version.map(str::to_owned);
            }
        }
        // 2. The registry, its managed source, the caller's right to write.
        let slot = self.target(caller, registry, trail)?;
        // 3. The document validates.
        let server = doc.map(|d| server_json(&d)).transpose()?;
        // 4. The catalogue's rules.
        let write = match (ask, server) {
            (Ask::Publish(_), Some(server)) => Write::Publish(server),
            (Ask::Edit { name, version, .. }, Some(server)) => {
                Write::Edit { name: name.to_owned(), version: version.to_owned(), server }
            }
            (Ask::Status { name, version, change }, _) => {
                Write::Status { name: name.to_owned(), version: version.map(str::to_owned), change }
            }
            (Ask::Publish(_) | Ask::Edit { .. }, None) => {
                return Err(Failure::invalid(&[issue("body", "a server.json document is required")]));
            }
        };
        self.catalog.write(slot, write).await.map_err(|e| Failure::from_write(&e, duplicate))
    }

    /// The registry written and its managed source, if the caller may write there.
    fn target<'a>(
        &'a self,
        caller: &'a Caller,
        registry: Option<&'a str>,
        trail: &mut Trail,
    ) -> Result<&'a RegistrySlot, Failure> {
        let slot = self.catalog.resolve_read(registry, caller).map_err(|r| Failure::denied(refusal_problem(&r)))?;
        trail.registry = Some(slot.config.name.to_string());
        let Some((source, managed)) = self.catalog.managed_source(slot) else {
            return Err(Failure::refused(super::problem::Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("Publishing is not supported by registry `{}`: it has no managed source", slot.config.name),
            )));
        };
        trail.source = Some(source.to_string());
        caller.may_write(managed.allow_anonymous_writes).map_err(|d| Failure::from_denied(d, source.as_str()))?;
        Ok(slot)
    }

    async fn one(&self, req: &Request, registry: Option<&str>, ask: Ask<'_>) -> WriteResponse {
        match self.perform(req, registry, ask, StatusCode::BAD_REQUEST).await.and_then(|w| rendered(&w)) {
            Ok(body) => WriteResponse::Ok(PreRendered::new(body)),
            Err(f) => f.into(),
        }
    }

    async fn all(&self, req: &Request, registry: Option<&str>, name: &str, change: StatusChange) -> WriteAllResponse {
        match self.perform(req, registry, Ask::Status { name, version: None, change }, StatusCode::BAD_REQUEST).await {
            Ok(w) => WriteAllResponse::Ok(PreRendered::new(render_all(&w.versions))),
            Err(f) => f.into(),
        }
    }

    fn validate_in(
        &self,
        req: &Request,
        registry: Option<&str>,
        body: Result<Value, String>,
    ) -> Result<ValidationResult, super::problem::Problem> {
        if let Some(name) = registry {
            readable_registry(&self.catalog, req, Some(name)).map_err(|r| refusal_problem(&r))?;
        }
        let issues = match body {
            Err(message) => {
                return Err(super::problem::Problem::invalid(StatusCode::BAD_REQUEST, "body", message, None));
            }
            Ok(doc) => {
                let shape = check_shape(&doc);
                if shape.is_empty() { validate(&doc) } else { shape }
            }
        };
        Ok(ValidationResult {
            valid: issues.is_empty(),
            issues: issues.into_iter().map(|i| ValidationIssue { message: i.message, location: i.location }).collect(),
        })
    }

    /// The registry `/v1/entries` writes to: `registry` when given; else, among the registries
    /// the caller may read, the default registry when it has a managed source, else the only one
    /// with one.
    fn entries_registry(&self, caller: &Caller, registry: Option<String>) -> Option<String> {
        if registry.is_some() {
            return registry;
        }
        // Only registries the caller may read are candidates: the choice must not name another.
        let with_managed =
            |r: &RegistrySlot| caller.can_read(&r.config.access) && self.catalog.managed_source(r).is_some();
        if let Some(d) = self.catalog.default_registry()
            && self.catalog.registries().any(|r| r.config.name == *d && with_managed(r))
        {
            return Some(d.to_string());
        }
        let mut managed = self.catalog.registries().filter(|r| with_managed(r));
        match (managed.next(), managed.next()) {
            (Some(only), None) => Some(only.config.name.to_string()),
            _ => None,
        }
    }
}

fn issue(location: &str, message: &str) -> Issue {
    Issue { location: location.to_owned(), message: message.to_owned() }
}

/// Step 1: a JSON object with only server.json's top-level fields.
fn document(body: &Result<Value, String>) -> Result<Value, Failure> {
    let doc = body.as_ref().map_err(|m| Failure::invalid(&[issue("body", m)]))?;
    let shape = check_shape(doc);
    if shape.is_empty() { Ok(doc.clone()) } else { Err(Failure::invalid(&shape)) }
}

/// Step 3: valid against its released schema and the semantic rules.
fn server_json(doc: &Value) -> Result<ServerJson, Failure> {
    let issues = validate(doc);
    if !issues.is_empty() {
        return Err(Failure::invalid(&issues));
    }
    ServerJson::from_value(doc.clone()).map_err(|e| Failure::invalid(&[issue("body", &e.to_string())]))
}

/// The version a write addressed, rendered (every successful write addresses one).
fn rendered(w: &Written) -> Result<Vec<u8>, Failure> {
    w.addressed.first().map(Entry::render).ok_or_else(|| Failure {
        problem: super::problem::Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the write returned no version"),
        outcome: "failed",
    })
}

/// `{"servers":[ServerResponse…]}`.
fn render_all(versions: &[Entry]) -> Vec<u8> {
    let mut out = b"{\"servers\":[".to_vec();
    for (i, e) in versions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&e.render());
    }
    out.extend_from_slice(b"]}");
    out
}

fn status_change(body: StatusUpdateRequest) -> StatusChange {
    StatusChange { status: body.status.into(), message: body.status_message }
}

fn deleted() -> StatusChange {
    StatusChange { status: thv_domain::Status::Deleted, message: None }
}

#[OpenApi]
impl PublishApi {
    /// Publish a server version to the default registry.
    ///
    /// The body is a server.json. It must name a released `$schema` and validate against it
    /// and the official semantic rules (422 with `errors[]` otherwise). A `(name, version)` is
    /// published once for all time (400 for a duplicate, deleted versions included). Needs the
    /// `manageEntries` role.
    #[oai(path = "/v0.1/publish", method = "post", operation_id = "publish_server", tag = "ApiTags::Publish")]
    async fn publish(&self, req: &Request, _caller: WriterCaller<'_>, body: JsonBody<ServerDetail>) -> WriteResponse {
        self.one(req, None, Ask::Publish(body.value)).await
    }

    /// Publish a server version to a registry.
    #[oai(
        path = "/registry/:registry/v0.1/publish",
        method = "post",
        operation_id = "publish_registry_server",
        tag = "ApiTags::Publish"
    )]
    async fn publish_registry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// Registry name.
        registry: Path<String>,
        body: JsonBody<ServerDetail>,
    ) -> WriteResponse {
        self.one(req, Some(&registry.0), Ask::Publish(body.value)).await
    }

    /// Replace the server.json of a version in the default registry.
    ///
    /// The document's name and version must be the path's. `publishedAt` and the status stay;
    /// `updatedAt` moves.
    #[oai(
        path = "/v0.1/servers/:serverName/versions/:version",
        method = "put",
        operation_id = "update_server_version",
        tag = "ApiTags::Publish"
    )]
    async fn edit(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
        body: JsonBody<ServerDetail>,
    ) -> WriteResponse {
        self.one(req, None, Ask::Edit { name: &server_name.0, version: &version.0, body: body.value }).await
    }

    /// Replace the server.json of a version in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/versions/:version",
        method = "put",
        operation_id = "update_registry_server_version",
        tag = "ApiTags::Publish"
    )]
    async fn edit_registry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
        body: JsonBody<ServerDetail>,
    ) -> WriteResponse {
        self.one(req, Some(&registry.0), Ask::Edit { name: &server_name.0, version: &version.0, body: body.value })
            .await
    }

    /// Delete a version of a server in the default registry.
    ///
    /// A soft delete: the status becomes `deleted`, the version is hidden from reads unless
    /// `include_deleted=true`, returned by `updated_since`, and never published again.
    #[oai(
        path = "/v0.1/servers/:serverName/versions/:version",
        method = "delete",
        operation_id = "delete_server_version",
        tag = "ApiTags::Publish"
    )]
    async fn delete(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
    ) -> WriteResponse {
        self.one(req, None, Ask::Status { name: &server_name.0, version: Some(&version.0), change: deleted() }).await
    }

    /// Delete a version of a server in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/versions/:version",
        method = "delete",
        operation_id = "delete_registry_server_version",
        tag = "ApiTags::Publish"
    )]
    async fn delete_registry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
    ) -> WriteResponse {
        let ask = Ask::Status { name: &server_name.0, version: Some(&version.0), change: deleted() };
        self.one(req, Some(&registry.0), ask).await
    }

    /// Set the status of a version in the default registry.
    ///
    /// `active`, `deprecated` or `deleted`, every transition allowed; `statusMessage` only with
    /// `deprecated` or `deleted`. A change that changes nothing is 400.
    #[oai(
        path = "/v0.1/servers/:serverName/versions/:version/status",
        method = "patch",
        operation_id = "update_server_version_status",
        tag = "ApiTags::Publish"
    )]
    async fn version_status(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
        body: Json<StatusUpdateRequest>,
    ) -> WriteResponse {
        let ask = Ask::Status { name: &server_name.0, version: Some(&version.0), change: status_change(body.0) };
        self.one(req, None, ask).await
    }

    /// Set the status of a version in a registry.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/versions/:version/status",
        method = "patch",
        operation_id = "update_registry_server_version_status",
        tag = "ApiTags::Publish"
    )]
    async fn version_status_registry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
        body: Json<StatusUpdateRequest>,
    ) -> WriteResponse {
        let ask = Ask::Status { name: &server_name.0, version: Some(&version.0), change: status_change(body.0) };
        self.one(req, Some(&registry.0), ask).await
    }

    /// Set the status of every version of a server in the default registry, in one transaction.
    #[oai(
        path = "/v0.1/servers/:serverName/status",
        method = "patch",
        operation_id = "update_server_status",
        tag = "ApiTags::Publish"
    )]
    async fn server_status(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        body: Json<StatusUpdateRequest>,
    ) -> WriteAllResponse {
        self.all(req, None, &server_name.0, status_change(body.0)).await
    }

    /// Set the status of every version of a server in a registry, in one transaction.
    #[oai(
        path = "/registry/:registry/v0.1/servers/:serverName/status",
        method = "patch",
        operation_id = "update_registry_server_status",
        tag = "ApiTags::Publish"
    )]
    async fn server_status_registry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// Registry name.
        registry: Path<String>,
        /// URL-encoded server name.
        #[oai(name = "serverName")]
        server_name: Path<String>,
        body: Json<StatusUpdateRequest>,
    ) -> WriteAllResponse {
        self.all(req, Some(&registry.0), &server_name.0, status_change(body.0)).await
    }

    /// Validate a server.json without publishing it.
    ///
    /// Any JSON document is answered with 200: `valid` and the `issues` found (the checks of
    /// `POST /publish` that need only the document); a body that is not JSON is a 400.
    #[oai(path = "/v0.1/validate", method = "post", operation_id = "validate_server", tag = "ApiTags::Publish")]
    async fn validate(&self, req: &Request, body: JsonBody<AnyJson>) -> ValidateResponse {
        match self.validate_in(req, None, body.value) {
            Ok(r) => ValidateResponse::Ok(Json(r)),
            Err(p) => p.into(),
        }
    }

    /// Validate a server.json without publishing it, for a registry.
    #[oai(
        path = "/registry/:registry/v0.1/validate",
        method = "post",
        operation_id = "validate_registry_server",
        tag = "ApiTags::Publish"
    )]
    async fn validate_registry(
        &self,
        req: &Request,
        /// Registry name.
        registry: Path<String>,
        body: JsonBody<AnyJson>,
    ) -> ValidateResponse {
        match self.validate_in(req, Some(&registry.0), body.value) {
            Ok(r) => ValidateResponse::Ok(Json(r)),
            Err(p) => p.into(),
        }
    }

    /// Publish an entry (the Go server's API).
    ///
    /// `{"server": server.json}` → 201 with the published version; a duplicate version is 409.
    /// Writes to `registry`, else to the default registry when it has a managed source, else to
    /// the only registry with one.
    #[oai(path = "/v1/entries", method = "post", operation_id = "publish_entry", tag = "ApiTags::Entries")]
    async fn publish_entry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// The registry to publish into (see above).
        registry: Query<Option<String>>,
        body: JsonBody<PublishEntryRequest>,
    ) -> EntryCreatedResponse {
        let server = body.value.and_then(|v| match v {
            Value::Object(mut m) => {
                let unknown: Vec<String> =
                    m.keys().filter(|k| !["server", "claims"].contains(&k.as_str())).cloned().collect();
                if !unknown.is_empty() {
                    return Err(format!(
                        "unknown field(s) {}; only `server` entries are published here",
                        unknown.join(", ")
                    ));
                }
                m.remove("server").ok_or_else(|| "the body must be {\"server\": server.json}".to_owned())
            }
            _ => Err("the body must be {\"server\": server.json}".to_owned()),
        });
        let registry = self.entries_registry(caller(req), registry.0);
        let published = self.perform(req, registry.as_deref(), Ask::Publish(server), StatusCode::CONFLICT).await;
        match published.and_then(|w| rendered(&w)) {
            Ok(body) => EntryCreatedResponse::Created(PreRendered::new(body)),
            Err(f) => f.into(),
        }
    }

    /// Delete a published version (the Go server's API): its status becomes `deleted`.
    #[oai(
        path = "/v1/entries/server/:name/versions/:version",
        method = "delete",
        operation_id = "delete_entry",
        tag = "ApiTags::Entries"
    )]
    async fn delete_entry(
        &self,
        req: &Request,
        _caller: WriterCaller<'_>,
        /// URL-encoded server name.
        name: Path<String>,
        /// URL-encoded version.
        version: Path<String>,
        /// The registry to delete from (as for `POST /v1/entries`).
        registry: Query<Option<String>>,
    ) -> EntryDeletedResponse {
        let registry = self.entries_registry(caller(req), registry.0);
        let ask = Ask::Status { name: &name.0, version: Some(&version.0), change: deleted() };
        match self.perform(req, registry.as_deref(), ask, StatusCode::CONFLICT).await {
            Ok(_) => EntryDeletedResponse::Deleted,
            Err(f) => f.into(),
        }
    }
}

/// Response of `POST /validate`.
#[derive(Debug, poem_openapi::ApiResponse)]
pub enum ValidateResponse {
    /// The validation result (also for an invalid document).
    #[oai(status = 200)]
    Ok(Json<ValidationResult>),
    /// The body is not JSON, or a path parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<super::problem::Problem>),
    /// The body is not sent as JSON (`Content-Type: application/json`).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<super::problem::Problem>),
    /// A token is required to see this registry (none was sent in `oauth` mode).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<super::problem::Problem>),
    /// The registry does not exist or the caller may not read it.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<super::problem::Problem>),
}

impl From<super::problem::Problem> for ValidateResponse {
    fn from(p: super::problem::Problem) -> Self {
        match p.status {
            400 => Self::BadRequest(Json(p)),
            401 => Self::Unauthorized(Json(p)),
            _ => Self::NotFound(Json(p)),
        }
    }
}
