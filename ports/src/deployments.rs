//! MCP servers deployed in a cluster (ToolHive `MCPServer` resources).

use async_trait::async_trait;

/// One deployed MCP server instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedServer {
    /// Resource name.
    pub name: String,
    pub namespace: String,
    /// Lifecycle phase reported by the operator (`Running`, `Pending`, `Failed`, …).
    pub phase: Option<String>,
    /// Container image.
    pub image: Option<String>,
    /// `stdio`, `sse` or `streamable-http`.
    pub transport: Option<String>,
    /// Whether the server reports itself ready.
    pub ready: bool,
    /// Where clients reach it.
    pub url: Option<String>,
}

/// Why deployed servers could not be listed. Messages are shown to API callers: no secrets, no
/// internal addresses beyond what the caller configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentsError {
    /// The cluster API cannot be reached or answered with an error.
    #[error("the Kubernetes API is unavailable: {0}")]
    Unavailable(String),
    /// The cluster API refused the request (RBAC).
    #[error("the Kubernetes API refused to list MCP servers: {0}")]
    Forbidden(String),
    /// Anything else.
    #[error("internal error listing MCP servers: {0}")]
    Internal(String),
}

/// Lists deployed MCP servers.
#[async_trait]
pub trait Deployments: Send + Sync + std::fmt::Debug {
    /// Every deployed server in the configured namespaces matching the configured selector,
    /// sorted by (namespace, name).
    ///
    /// # Errors
    /// [`DeploymentsError::Unavailable`] when the API cannot be reached or fails;
    /// [`DeploymentsError::Forbidden`] on 401/403; [`DeploymentsError::Internal`] otherwise.
    async fn list(&self) -> Result<Vec<DeployedServer>, DeploymentsError>;
}
