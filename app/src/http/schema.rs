//! Documentation-only types: the shapes of pre-rendered responses, as the OpenAPI spec shows
//! them. Bodies are rendered by `thv_domain::snapshot`; these types only describe them.

use chrono::{DateTime, Utc};
use poem_openapi::types::{Any, Example};
use poem_openapi::{Enum, Object};

/// A page of servers: one row per server version, ordered by (name, version).
#[derive(Debug, Object)]
#[oai(rename = "ServerList", example)]
pub struct ServerList {
    pub servers: Vec<ServerResponse>,
    pub metadata: ListMetadata,
}

/// Page metadata.
#[derive(Debug, Object)]
#[oai(rename = "ListMetadata", rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ListMetadata {
    /// Cursor of the next page; absent on the last page. Pass it back unchanged as `cursor`.
    pub next_cursor: Option<String>,
    /// Number of rows in this page (not a total).
    pub count: u32,
}

/// One server version with its registry metadata.
#[derive(Debug, Object)]
#[oai(rename = "ServerResponse", example)]
pub struct ServerResponse {
    /// The server.json document exactly as published (any `$schema` version).
    pub server: ServerDetail,
    #[oai(rename = "_meta")]
    pub meta: ResponseMeta,
}

/// A server.json document (see the official server.json schema). Unknown fields are kept.
#[derive(Debug, Object)]
#[oai(rename = "ServerDetail", rename_all = "camelCase", example, skip_serializing_if_is_none)]
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
    pub packages: Option<Vec<Package>>,
    pub remotes: Option<Vec<Any<serde_json::Value>>>,
    #[oai(rename = "_meta")]
    pub meta: Option<Any<serde_json::Value>>,
}

/// A package of a server: where to download it and how to run it (see the official server.json
/// schema, which requires `registryType`, `identifier` and `transport`; documents of older schema
/// versions are served as published). Unknown fields are kept.
#[derive(Debug, Object)]
#[oai(rename = "Package", rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Package {
    /// How to download the package: `npm`, `pypi`, `oci`, `nuget`, `mcpb` or `cargo`.
    pub registry_type: Option<String>,
    /// The package registry's base URL, e.g. `https://registry.npmjs.org`.
    pub registry_base_url: Option<String>,
    /// The package's name (or OCI reference, or download URL for `mcpb`) in its registry.
    pub identifier: Option<String>,
    /// The package's version.
    pub version: Option<String>,
    /// SHA-256 of the downloaded file, hex (`mcpb`).
    pub file_sha256: Option<String>,
    /// The command that runs the package, e.g. `npx`, `uvx`, `docker`, `dnx`.
    pub runtime_hint: Option<String>,
    /// How a client talks to the running package: `{"type": "stdio"}`, `streamable-http` or `sse`.
    pub transport: Option<Any<serde_json::Value>>,
    pub runtime_arguments: Option<Vec<Any<serde_json::Value>>>,
    pub package_arguments: Option<Vec<Any<serde_json::Value>>>,
    pub environment_variables: Option<Vec<Any<serde_json::Value>>>,
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
#[oai(rename = "OfficialMeta", rename_all = "camelCase", skip_serializing_if_is_none)]
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

/// The example server of the documentation.
fn example_server() -> ServerDetail {
    ServerDetail {
        schema: Some("https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json".to_owned()),
        name: "io.github.example/weather".to_owned(),
        description: "Weather forecasts for any city.".to_owned(),
        version: "1.2.0".to_owned(),
        title: Some("Weather".to_owned()),
        repository: Some(Any(serde_json::json!({"url": "https://github.com/example/weather", "source": "github"}))),
        website_url: None,
        icons: None,
        packages: Some(vec![Package {
            registry_type: Some("npm".to_owned()),
            registry_base_url: Some("https://registry.npmjs.org".to_owned()),
            identifier: Some("@example/weather-mcp".to_owned()),
            version: Some("1.2.0".to_owned()),
            file_sha256: None,
            runtime_hint: Some("npx".to_owned()),
            transport: Some(Any(serde_json::json!({"type": "stdio"}))),
            runtime_arguments: None,
            package_arguments: None,
            environment_variables: None,
        }]),
        remotes: None,
        meta: None,
    }
}

/// The example metadata of the documentation.
fn example_meta() -> ResponseMeta {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    ResponseMeta {
        official: OfficialMeta {
            status: Status::Active,
            status_changed_at: at("2026-11-02T09:30:00Z"),
            status_message: None,
            published_at: at("2026-11-02T09:30:00Z"),
            updated_at: at("2026-11-02T09:30:00Z"),
            is_latest: true,
        },
    }
}

impl Example for ServerDetail {
    fn example() -> Self {
        example_server()
    }
}

impl Example for ServerResponse {
    fn example() -> Self {
        Self { server: example_server(), meta: example_meta() }
    }
}

impl Example for ServerList {
    fn example() -> Self {
        Self {
            servers: vec![ServerResponse::example()],
            metadata: ListMetadata { next_cursor: Some("aW8uZ2l0aHViLmV4YW1wbGUvd2VhdGhlcg".to_owned()), count: 1 },
        }
    }
}
