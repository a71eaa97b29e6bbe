//! Deployed MCP servers (ToolHive `MCPServer` resources in Kubernetes): `GET /api/v0/deployed`,
//! `GET /api/v0/deployed/{name}`, and the same under each registry as
//! `/registry/{registry}/v0.1/x/dev.toolhive/deployed`.
//!
//! Each registry lists the deployed servers of the namespaces its `deployed` section names (the
//! root paths: the default registry's); a registry without one lists every deployed server in
//! `anonymous` mode and none in `oauth` mode. Whoever may read the registry may list them, except
//! callers without a token, who need `deployed.public: true`. The cluster is listed at most once
//! per `kubernetes.cacheTtl` (5 s) whatever the traffic.
//!
//! Without a `kubernetes` section the endpoints answer 501 with a problem saying how to enable
//! them; when the cluster cannot be reached, 503; when it refuses us, 502. They never hang: every
//! cluster request has a timeout.

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use thv_ports::{DeployedServer, Deployments, DeploymentsError};

use thv_domain::access::Caller;

use super::problem::Problem;
use crate::catalog::{Catalog, ReadRefusal};

#[derive(Tags)]
enum ApiTags {
    /// MCP servers running in the cluster (ToolHive `MCPServer` resources).
    Deployed,
}

/// Where deployed servers come from.
#[derive(Debug, Clone)]
pub enum DeploymentsSource {
    /// No `kubernetes` section.
    NotConfigured,
    /// Configured, but the client could not be set up (the reason).
    Broken(String),
    Ready(Arc<dyn Deployments>),
}

/// One deployed MCP server.
#[derive(Debug, Object)]
pub struct DeployedServerInfo {
    pub name: String,
    pub namespace: String,
    /// Phase reported by the operator (`Running`, `Pending`, `Failed`, …).
    pub status: Option<String>,
    pub image: Option<String>,
    /// `stdio`, `sse` or `streamable-http`.
    pub transport: Option<String>,
    pub ready: bool,
    /// Where clients reach the server.
    pub endpoint: Option<String>,
}

impl From<DeployedServer> for DeployedServerInfo {
    fn from(s: DeployedServer) -> Self {
        Self {
            name: s.name,
            namespace: s.namespace,
            status: s.phase,
            image: s.image,
            transport: s.transport,
            ready: s.ready,
            endpoint: s.url,
        }
    }
}

/// Deployed servers.
#[derive(Debug, Object)]
pub struct DeployedList {
    pub servers: Vec<DeployedServerInfo>,
    pub count: u64,
}

#[derive(Debug, ApiResponse)]
enum DeployedResponse {
    /// The deployed servers (sorted by namespace, then name).
    #[oai(status = 200)]
    Ok(Json<DeployedList>),
    /// The path is malformed (a control character, `..`, a backslash, double encoding): refused
    /// by the request hardening before this operation runs.
    #[oai(status = 400, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "answered by the path hardening (http::harden) before any handler; declared for the document"
    )]
    BadPath(Json<Problem>),
    /// A token is required (no token was sent, or it is not valid).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// No such registry (or the caller may not read it), or no deployed server with that name.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// Deployed-server listing is not configured (no `kubernetes` section).
    #[oai(status = 501, content_type = "application/problem+json")]
    NotConfigured(Json<Problem>),
    /// The cluster refused to list MCP servers (check the service account's RBAC).
    #[oai(status = 502, content_type = "application/problem+json")]
    Refused(Json<Problem>),
    /// The cluster cannot be reached, or failed.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

/// The deployed-servers API.
#[derive(Debug)]
pub struct DeployedApi {
    pub catalog: Arc<Catalog>,
    pub source: DeploymentsSource,
}

#[OpenApi(tag = "ApiTags::Deployed")]
impl DeployedApi {
    /// List deployed MCP servers.
    #[oai(path = "/api/v0/deployed", method = "get", operation_id = "list_deployed")]
    async fn list_deployed(&self, req: &Request) -> DeployedResponse {
        self.list(req, None, None).await
    }

    /// List deployed MCP servers with this resource name (in any listed namespace).
    #[oai(path = "/api/v0/deployed/:name", method = "get", operation_id = "get_deployed")]
    async fn get_deployed(&self, req: &Request, name: Path<String>) -> DeployedResponse {
        self.list(req, None, Some(&name.0)).await
    }

    /// List deployed MCP servers (registry extension).
    #[oai(
        path = "/registry/:registry/v0.1/x/dev.toolhive/deployed",
        method = "get",
        operation_id = "list_registry_deployed"
    )]
    async fn list_registry_deployed(&self, req: &Request, registry: Path<String>) -> DeployedResponse {
        self.list(req, Some(&registry.0), None).await
    }

    /// List deployed MCP servers with this resource name (registry extension).
    #[oai(
        path = "/registry/:registry/v0.1/x/dev.toolhive/deployed/:name",
        method = "get",
        operation_id = "get_registry_deployed"
    )]
    async fn get_registry_deployed(
        &self,
        req: &Request,
        registry: Path<String>,
        name: Path<String>,
    ) -> DeployedResponse {
        self.list(req, Some(&registry.0), Some(&name.0)).await
    }
}

impl DeployedApi {
    async fn list(&self, req: &Request, registry: Option<&str>, name: Option<&str>) -> DeployedResponse {
        // The root paths list the default registry's deployed servers.
        let slot = match super::servers::readable_registry(&self.catalog, req, registry) {
            Ok(slot) => slot,
            Err(refusal @ ReadRefusal::TokenRequired) => {
                return DeployedResponse::Unauthorized(super::servers::refusal_problem(&refusal).json());
            }
            Err(refusal @ (ReadRefusal::NotFound { .. } | ReadRefusal::NoDefault { .. })) => {
                return DeployedResponse::NotFound(super::servers::refusal_problem(&refusal).json());
            }
        };
        let caller = super::auth::caller(req);
        let scope = &slot.config.deployed;
        let deployments = match &self.source {
            DeploymentsSource::NotConfigured => {
                return DeployedResponse::NotConfigured(
                    Problem::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "deployed-server listing is not configured: add a `kubernetes` section to the configuration",
                    )
                    .json(),
                );
            }
            DeploymentsSource::Broken(why) => {
                return DeployedResponse::Unavailable(
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, why.clone()).json(),
                );
            }
            DeploymentsSource::Ready(d) => d,
        };
        if !scope.as_ref().is_some_and(|s| s.public)
            && let Some(p) = super::auth::token_required(caller)
        {
            return DeployedResponse::Unauthorized(p.json());
        }
        // Without a `deployed` section a registry lists every deployed server in `anonymous`
        // mode (one trusted audience) and none in `oauth` mode (tenants).
        if scope.is_none() && !matches!(caller, Caller::Open) {
            return DeployedResponse::NotFound(
                Problem::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "registry `{}` lists no deployed servers: give it a `deployed: {{namespaces: […]}}` section",
                        slot.config.name
                    ),
                )
                .json(),
            );
        }
        match deployments.list().await {
            Ok(all) => {
                let in_scope =
                    |s: &DeployedServer| scope.as_ref().is_none_or(|sc| sc.namespaces.contains(&s.namespace));
                let servers: Vec<DeployedServerInfo> = all
                    .into_iter()
                    .filter(|s| in_scope(s) && name.is_none_or(|n| s.name == n))
                    .map(Into::into)
                    .collect();
                if let Some(n) = name
                    && servers.is_empty()
                {
                    return DeployedResponse::NotFound(
                        Problem::new(StatusCode::NOT_FOUND, format!("no deployed MCP server is named `{n}`")).json(),
                    );
                }
                DeployedResponse::Ok(Json(DeployedList { count: servers.len() as u64, servers }))
            }
            Err(e @ DeploymentsError::Forbidden(_)) => {
                DeployedResponse::Refused(Problem::new(StatusCode::BAD_GATEWAY, e.to_string()).json())
            }
            Err(e) => {
                DeployedResponse::Unavailable(Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).json())
            }
        }
    }
}
