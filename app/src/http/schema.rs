//! Documentation-only types: the shapes of pre-rendered responses, as the OpenAPI spec shows
//! them. Bodies are rendered by `thv_domain::snapshot`; these types only describe them.

use chrono::{DateTime, Utc};
use poem_openapi::types::Any;
use poem_openapi::{Enum, Object};

/// A page of servers: one row per server version, ordered by (name, version).
#[derive(Debug, Object)]
#[oai(rename = "ServerList")]
pub struct ServerList {
    pub servers: Vec<ServerResponse>,
    pub metadata: ListMetadata,
}

/// Page metadata.
#[derive(Debug, Object)]
#[oai(rename = "ListMetadata", rename_all = "camelCase")]
pub struct ListMetadata {
    /// Cursor of the next page; absent on the last page. Pass it back unchanged as `cursor`.
    pub next_cursor: Option<String>,
    /// Number of rows in this page (not a total).
    pub count: u32,
}

/// One server version with its registry metadata.
#[derive(Debug, Object)]
#[oai(rename = "ServerResponse")]
pub struct ServerResponse {
    /// The server.json document exactly as published (any `$schema` version).
    pub server: ServerDetail,
    #[oai(rename = "_meta")]
    pub meta: ResponseMeta,
}

/// A server.json document (see the official server.json schema). Unknown fields are kept.
#[derive(Debug, Object)]
#[oai(rename = "ServerDetail", rename_all = "camelCase")]
pub struct ServerDetail {
    #[oai(rename = "$schema")]
    pub schema: Option<String>,
    /// `namespace/name`, reverse-DNS namespace.
    pub name: String,
    pub description: String,
    pub version: String,
    pub title: Option<String>,
    pub repository: Option<Any<serde_json::Value>>,
    pub website_url: Option<String>,
    pub icons: Option<Vec<Any<serde_json::Value>>>,
    pub packages: Option<Vec<Any<serde_json::Value>>>,
    pub remotes: Option<Vec<Any<serde_json::Value>>>,
    #[oai(rename = "_meta")]
    pub meta: Option<Any<serde_json::Value>>,
}

/// Registry-managed metadata.
#[derive(Debug, Object)]
#[oai(rename = "ResponseMeta")]
pub struct ResponseMeta {
    #[oai(rename = "io.modelcontextprotocol.registry/official")]
    pub official: OfficialMeta,
}

/// Lifecycle status of a server version.
#[derive(Debug, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Status {
    Active,
    Deprecated,
    Deleted,
}

/// Official registry metadata of one server version.
#[derive(Debug, Object)]
#[oai(rename = "OfficialMeta", rename_all = "camelCase")]
pub struct OfficialMeta {
    pub status: Status,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// Why the status is what it is (e.g. a deprecation notice).
    pub status_message: Option<String>,
    /// When this version was first published (for synced sources: first seen by this registry).
    pub published_at: DateTime<Utc>,
    /// When this version last changed (content, status, or removal).
    pub updated_at: DateTime<Utc>,
    /// Whether this is the latest version of the server (computed by this registry).
    pub is_latest: bool,
}
