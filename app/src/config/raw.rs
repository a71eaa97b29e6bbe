//! The configuration file as written, in any of the three accepted layouts.
//!
//! Every struct denies unknown keys, so a typo is an error naming the key path instead of a
//! silently ignored setting.

use std::path::PathBuf;

use serde::Deserialize;
use thv_domain::FilterSpec;
use thv_domain::format::DataFormat;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    /// Name of the single registry (layout 1), or of the registry merging all inline registries
    /// (layout 2). Default `default`.
    pub registry_name: Option<String>,
    /// Directory of the embedded store. Default `./data`.
    pub data_dir: Option<PathBuf>,
    /// Which registry is also served at the root paths (layout 3).
    pub default_registry: Option<String>,
    /// Layout 1: the single source.
    pub source: Option<RawSource>,
    /// Layout 1: the sync policy of the single source.
    pub sync_policy: Option<RawSyncPolicy>,
    /// Layout 1: the filter of the single source.
    pub filter: Option<FilterSpec>,
    /// Layout 3: named sources.
    pub sources: Option<Vec<RawSource>>,
    /// Layout 2 (inline source each) or layout 3 (`sources:` by name).
    pub registries: Option<Vec<RawRegistry>>,
    /// PostgreSQL storage.
    pub database: Option<RawDatabase>,
    /// OpenTelemetry export.
    pub telemetry: Option<RawTelemetry>,
    /// Limits and timeouts of the HTTP server.
    pub http: Option<RawHttp>,
    /// Log settings.
    pub logging: Option<RawLogging>,
    /// Deployed MCP servers (ToolHive `MCPServer` resources) in a Kubernetes cluster.
    pub kubernetes: Option<RawKubernetes>,
    /// Authentication and authorisation.
    pub auth: Option<super::auth::RawAuth>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawKubernetes {
    /// Namespaces to list; empty or absent: all namespaces.
    pub namespaces: Option<Vec<String>>,
    /// Label selector, e.g. `team=platform`.
    pub label_selector: Option<String>,
    /// A kubeconfig file; absent: in-cluster configuration, then the default kubeconfig.
    pub kubeconfig: Option<PathBuf>,
    /// Context within the kubeconfig.
    pub context: Option<String>,
    /// Per-request timeout. Default `10s`.
    pub timeout: Option<String>,
    /// How long one listing of the cluster is reused by every request. Default `5s`; `0`: none.
    pub cache_ttl: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawHttp {
    /// Largest request body, in bytes; more is a 413. Default 1048576 (1 MiB).
    pub max_body_bytes: Option<u64>,
    /// Largest total of request header names and values, in bytes; more is a 431. Default 32768.
    pub max_header_bytes: Option<u64>,
    /// Longest time one request may take to be handled; longer is a 503. Default `30s`.
    pub request_timeout: Option<String>,
    /// Longest time a client may take to send a request head. Default `10s`.
    pub read_header_timeout: Option<String>,
    /// How long a keep-alive connection may wait for its next request. Default `60s`.
    pub idle_timeout: Option<String>,
    /// How long sending a response may stall (the client taking none of it) before the
    /// connection is reset. Default `30s`.
    pub write_timeout: Option<String>,
    /// Most connections open at once, per listener; more are closed at once. Default 10000.
    pub max_connections: Option<u64>,
    /// Most bytes of rendered listing pages kept in memory; 0 turns the page cache off. Default
    /// 67108864 (64 MiB).
    pub page_cache_bytes: Option<u64>,
    /// `max-age` of `Cache-Control` on reads of public registries. Default `30s`; `0s`: clients
    /// revalidate every time (with the `ETag`).
    pub cache_max_age: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawLogging {
    /// `error`, `warn`, `info` (default), `debug`, `trace`, or a filter like `info,thv_app=debug`.
    /// `RUST_LOG` wins when set.
    pub level: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawTelemetry {
    pub enabled: Option<bool>,
    pub service_name: Option<String>,
    pub service_version: Option<String>,
    /// OTLP/HTTP endpoint: `localhost:4318` (default) or a URL.
    pub endpoint: Option<String>,
    /// Plain http when the endpoint has no scheme.
    pub insecure: Option<bool>,
    /// `http/protobuf` (default) or `http/json`.
    pub protocol: Option<String>,
    pub tracing: Option<RawTelemetryTracing>,
    pub metrics: Option<RawTelemetryMetrics>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawTelemetryTracing {
    pub enabled: Option<bool>,
    /// Fraction of traces sampled, 0 to 1 (default 1). A sampled parent is always followed.
    pub sampling: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawTelemetryMetrics {
    pub enabled: Option<bool>,
    /// How often metrics are exported. Default `60s`.
    pub interval: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawSource {
    pub name: Option<String>,
    /// Layout 1 only: `file`, `git` or `api` (must agree with the section present).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub format: Option<DataFormat>,
    pub file: Option<RawFile>,
    pub git: Option<RawGit>,
    pub api: Option<RawApi>,
    /// Entries published through the write API (no sync).
    pub managed: Option<RawManaged>,
    pub sync_policy: Option<RawSyncPolicy>,
    pub filter: Option<FilterSpec>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawManaged {
    /// Accept writes without a token when `auth.mode` is `anonymous`: local development only.
    /// Default false.
    pub allow_anonymous_writes: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRegistry {
    pub name: Option<String>,
    /// Layout 3: source names, in precedence order.
    pub sources: Option<Vec<String>>,
    /// Layout 3: registry-level filter; layout 2: the inline source's filter.
    pub filter: Option<FilterSpec>,
    // Layout 2: an inline source.
    pub format: Option<DataFormat>,
    pub file: Option<RawFile>,
    pub git: Option<RawGit>,
    pub api: Option<RawApi>,
    pub managed: Option<RawManaged>,
    pub sync_policy: Option<RawSyncPolicy>,
    /// Who may read this registry: `public`, `authenticated`, or a claim map.
    pub access: Option<super::auth::RawAccess>,
    /// The original server's spelling of a claim-map `access`.
    pub claims: Option<super::auth::RawClaimMap>,
    /// Which deployed MCP servers (of the `kubernetes` section) this registry lists.
    pub deployed: Option<RawDeployed>,
}

/// A registry's `deployed` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawDeployed {
    /// Namespaces whose deployed servers this registry lists (required, at least one).
    pub namespaces: Option<Vec<String>>,
    /// Whether callers without a token may list them (`oauth` mode; the registry must be
    /// `public`). Default false.
    pub public: Option<bool>,
}

impl RawRegistry {
    pub fn has_inline_source(&self) -> bool {
        self.format.is_some()
            || self.file.is_some()
            || self.git.is_some()
            || self.api.is_some()
            || self.managed.is_some()
            || self.sync_policy.is_some()
    }

    pub fn inline_source(&self) -> RawSource {
        RawSource {
            name: self.name.clone(),
            kind: None,
            format: self.format,
            file: self.file.clone(),
            git: self.git.clone(),
            api: self.api.clone(),
            managed: self.managed.clone(),
            sync_policy: self.sync_policy.clone(),
            filter: self.filter.clone(),
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFile {
    /// A local file.
    pub path: Option<PathBuf>,
    /// A file over http(s), revalidated with `ETag`.
    pub url: Option<String>,
    /// Per-request timeout for `url`. Default `30s`.
    pub timeout: Option<String>,
    /// Most bytes the file may have (`path` or `url`). Default 268435456 (256 MiB).
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawGit {
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    /// Path of the registry file in the repository. Default `registry.json`.
    pub path: Option<String>,
    pub auth: Option<RawGitAuth>,
    /// Most bytes one sync may receive (packs), and the file may have. Default 256 MiB.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawGitAuth {
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawApi {
    /// Base URL of an MCP-Registry-compatible API (`/v0.1/servers` is appended).
    pub endpoint: Option<String>,
    /// Per-request timeout. Default `30s`.
    pub timeout: Option<String>,
    /// `User-Agent` header. Default `thv-registry-api/<version>`.
    pub user_agent: Option<String>,
    /// Most pages one sync may read. Default 1000.
    pub max_pages: Option<u32>,
    /// Most bytes one sync may read. Default 268435456 (256 MiB).
    pub max_bytes: Option<u64>,
    /// How often a full read replaces incremental (`updated_since`) reads, to catch removals.
    /// Default `1h`.
    pub full_sync_interval: Option<String>,
    /// How to authenticate to the upstream.
    pub auth: Option<RawApiAuth>,
}

/// An api source's `auth` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawApiAuth {
    /// A file holding the token sent as `Authorization: Bearer <token>` (surrounding whitespace
    /// trimmed); read at load, and again at sync whenever it changed.
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawSyncPolicy {
    pub interval: Option<String>,
    /// How long a removed version stays visible as a tombstone. Default `720h` (30 days).
    pub tombstone_retention: Option<String>,
    /// Longest time one fetch may take before it counts as failed. Default `10m`.
    pub timeout: Option<String>,
    /// Largest share (0–1) of a document's entries that may be invalid before the whole document
    /// is refused (when the source has data to lose). Default `0.5`.
    pub max_invalid_ratio: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawDatabase {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub migration_user: Option<String>,
    pub migration_password_file: Option<PathBuf>,
    pub database: Option<String>,
    pub ssl_mode: Option<String>,
    pub max_open_conns: Option<u32>,
    pub max_idle_conns: Option<u32>,
    pub conn_max_lifetime: Option<String>,
}
