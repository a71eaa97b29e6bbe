//! Configuration: a YAML file merged with `THV_REGISTRY_*` environment overrides (figment),
//! normalised from any of the three accepted layouts into named sources and registries, and
//! validated at load with messages that name the key and the fix.
//!
//! Layouts:
//! 1. single registry: `registryName`, `source{type, format, file|git|api}`, `syncPolicy`, `filter`;
//! 2. `registries: [{name, format, file|git|api, syncPolicy, filter}]`, each with its own inline
//!    source; every inline registry is served under its name, and (when there are several) a
//!    registry named `registryName` (default `default`) merges them all in order and is the
//!    default one, as the original server merged them;
//! 3. `sources: [{name, …}]` and `registries: [{name, sources: [names], filter?}]`, with
//!    `defaultRegistry` naming the registry also served at the root paths (default: the only
//!    registry, if there is one).

pub mod auth;
pub mod database;
pub mod duration;
pub mod http;
mod normalize;
pub mod raw;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Yaml};
use figment::value::{Dict, Value};
use thv_domain::format::DataFormat;
use thv_domain::{RegistryName, SourceName};

pub use normalize::normalize;
pub use thv_domain::spec::{
    ApiConfig, DEFAULT_FULL_SYNC_INTERVAL, DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES, DeployedScope,
    GitAuth, GitPin, ManagedConfig, RegistryConfig, SourceConfig, SourceKind,
};

/// Prefix of environment overrides: `THV_REGISTRY_DATA_DIR=/var/lib/x` sets `dataDir`;
/// `__` separates nested keys (`THV_REGISTRY_SYNC_POLICY__INTERVAL=1m`).
pub const ENV_PREFIX: &str = "THV_REGISTRY_";

/// Environment variables with the prefix that are not config keys (secrets read elsewhere).
const ENV_NOT_KEYS: &[&str] =
    &["DATABASE_PASSWORD", "DATABASE_MIGRATION_PASSWORD", "CONFIG", "BENCH_BASELINE", "API_BIN"];

/// Default sync interval when a source gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Default longest time of one fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(600);
/// Default time a removed version stays as a tombstone.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default `syncPolicy.maxInvalidRatio`: a document more than half of whose entries are invalid
/// does not replace a source's data.
pub const DEFAULT_MAX_INVALID_RATIO: f64 = 0.5;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub registries: Vec<RegistryConfig>,
    pub default_registry: Option<RegistryName>,
    /// PostgreSQL, when configured; otherwise the embedded store in `data_dir`.
    pub database: Option<database::DatabaseConfig>,
    /// OpenTelemetry export.
    pub telemetry: telemetry::TelemetryConfig,
    /// Limits and timeouts of the HTTP server (`http`).
    pub http: http::HttpLimits,
    /// Log filter (`logging.level`).
    pub log_level: String,
    /// Where deployed MCP servers are listed from, when configured.
    pub kubernetes: Option<KubernetesConfig>,
    /// Authentication mode, providers and roles.
    pub auth: auth::AuthConfig,
    /// Which of the three layouts the file used (1, 2 or 3), for `config check`.
    pub layout: u8,
}

/// The `kubernetes` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub timeout: Duration,
    /// How long one listing is reused (zero: every request lists).
    pub cache_ttl: Duration,
}

/// A configuration that could not be loaded. The message names every problem found.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {file}:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<String>,
}

impl Config {
    /// The sources and registries to host, for the catalogue.
    pub fn catalog_spec(&self) -> thv_domain::spec::CatalogSpec<'_> {
        thv_domain::spec::CatalogSpec {
            sources: &self.sources,
            registries: &self.registries,
            default_registry: self.default_registry.as_ref(),
        }
    }

    /// Loads and validates a configuration file with environment overrides.
    ///
    /// # Errors
    /// [`ConfigError`] listing every problem, each naming its key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`], with an explicit environment (for tests).
    ///
    /// # Errors
    /// [`ConfigError`] listing every problem, each naming its key.
    pub fn load_with_env(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let fail = |problems: Vec<String>| ConfigError { file: file.clone(), problems };
        if !path.is_file() {
            return Err(fail(vec![
                "the file does not exist or is not a regular file; pass an existing YAML file with --config".to_owned(),
            ]));
        }
        Self::extract(&file, Yaml::file_exact(path), env)
    }

    /// Like [`Config::load_with_env`], for YAML text already in memory (`name` stands for the file
    /// in messages); the same code reads, merges and validates it. The fuzz targets use it.
    ///
    /// # Errors
    /// [`ConfigError`] listing every problem, each naming its key.
    pub fn parse_with_env(
        name: &str,
        yaml: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::extract(name, Yaml::string(yaml), env)
    }

    fn extract(
        file: &str,
        yaml: figment::providers::Data<Yaml>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let fail = |problems: Vec<String>| ConfigError { file: file.to_owned(), problems };
        let env: std::collections::BTreeMap<String, String> = env.into_iter().collect();
        let figment = Figment::new().merge(yaml).merge(env_provider(env.clone()));
        let raw: raw::RawConfig = figment.extract().map_err(|e| fail(figment_problems(e)))?;
        normalize(&raw, &env).map_err(fail)
    }
}

/// Environment overrides: `THV_REGISTRY_SOME_KEY__NESTED=v` → `someKey.nested: v`, the value
/// typed as figment types environment values (`8080` is a number, `true` a boolean).
fn env_provider(env: impl IntoIterator<Item = (String, String)>) -> Serialized<Dict> {
    let mut root = Dict::new();
    for (k, v) in env {
        let Some(key) = k.strip_prefix(ENV_PREFIX) else { continue };
        if ENV_NOT_KEYS.contains(&key) || key.is_empty() || is_service_link(key) {
            continue;
        }
        let path: Vec<String> = key.split("__").map(camel).collect();
        // figment's parser panics on some escapes (a `\` before a multi-byte character; found by
        // the config fuzz target), so text with a backslash is taken as the string it is.
        let value: Value = if v.contains('\\') {
            Value::from(v.clone())
        } else {
            v.parse().unwrap_or_else(|_| Value::from(v.clone()))
        };
        insert(&mut root, &path, value);
    }
    Serialized::defaults(root)
}

/// Whether a variable is one Kubernetes injects for a Service whose name starts with
/// `thv-registry-` (`THV_REGISTRY_API_SERVICE_HOST`, `…_PORT_8080_TCP_ADDR`), not a setting.
fn is_service_link(key: &str) -> bool {
    if key.ends_with("_SERVICE_HOST") || key.contains("_SERVICE_PORT") || key.ends_with("_PORT") {
        return true;
    }
    // `…_PORT_<number>_<protocol>[_…]`
    key.split("_PORT_").skip(1).any(|rest| {
        let mut parts = rest.split('_');
        parts.next().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"))
    })
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = dict.entry(first.clone()).or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = child {
                insert(inner, rest, value);
            }
        }
    }
}

/// A human summary of a valid configuration, for `config check`.
pub fn describe(c: &Config) -> String {
    use std::fmt::Write as _;
    let mut out = format!("configuration is valid (layout {})\n", c.layout);
    let _ = writeln!(out, "sources:");
    for s in &c.sources {
        let missing = match &s.kind {
            SourceKind::File { path, .. } if !path.is_file() => " (warning: the file does not exist yet)",
            SourceKind::Managed(m) if m.allow_anonymous_writes && c.auth.mode == auth::AuthMode::Anonymous => {
                " warning: allowAnonymousWrites is on: anyone who reaches this server can publish, edit and delete its entries; for local development only"
            }
            SourceKind::Managed(m) if m.allow_anonymous_writes => {
                " (allowAnonymousWrites is on but has no effect: auth.mode is oauth, so writes need the manageEntries role)"
            }
            _ => "",
        };
        // Where the token comes from, never the token.
        let auth = match &s.kind {
            SourceKind::Api(ApiConfig { bearer_token_file: Some(file), .. }) => {
                format!(", bearer token from {}", file.display())
            }
            _ => String::new(),
        };
        if s.kind.managed().is_some() {
            let _ = writeln!(out, "  - {} (managed: {}){missing}", s.name, s.kind.location());
            continue;
        }
        let _ = writeln!(
            out,
            "  - {} ({} {}{auth}{missing}), format {}, every {}",
            s.name,
            s.kind.type_name(),
            s.kind.location(),
            format_name(s.format),
            duration::format(s.interval)
        );
    }
    match &c.database {
        Some(db) => {
            let _ = writeln!(
                out,
                "storage: PostgreSQL {}@{}:{}/{} (sslMode {:?}, migrations as {})",
                db.user, db.host, db.port, db.database, db.ssl_mode, db.migration_user
            );
        }
        None => {
            let _ = writeln!(out, "storage: embedded, in {}", c.data_dir.display());
        }
    }
    let _ = writeln!(out, "registries:");
    for r in &c.registries {
        let default =
            if c.default_registry.as_ref() == Some(&r.name) { " [default: also served at /v0.1]" } else { "" };
        let names: Vec<&str> = r.sources.iter().map(SourceName::as_str).collect();
        let access = auth::describe_access(&r.access);
        let _ = writeln!(out, "  - {} <- {}{default}, access {access}", r.name, names.join(", "));
    }
    let h = &c.http;
    let _ = writeln!(
        out,
        "http: bodies up to {} bytes, headers up to {} bytes, requests {}, request heads {}, idle connections {}, stalled writes {}, up to {} connections per listener, {}",
        h.max_body_bytes,
        h.max_header_bytes,
        duration::format(h.request_timeout),
        duration::format(h.read_header_timeout),
        duration::format(h.idle_timeout),
        duration::format(h.write_timeout),
        h.max_connections,
        if h.page_cache_bytes == 0 {
            "no page cache".to_owned()
        } else {
            format!("page cache up to {} bytes", h.page_cache_bytes)
        }
    );
    match (&c.auth.mode, &c.auth.oauth) {
        (auth::AuthMode::Oauth, Some(o)) => {
            let names: Vec<String> = o
                .providers
                .iter()
                .map(|p| if p.require_access_token_type { format!("{} (at+jwt only)", p.name) } else { p.name.clone() })
                .collect();
            let _ = writeln!(out, "auth: oauth, providers {}", names.join(", "));
            for line in auth::describe_roles(&c.auth.roles) {
                let _ = writeln!(out, "  role {line}");
            }
        }
        _ => {
            let _ = writeln!(out, "auth: anonymous (every registry public, /v1 open to every caller)");
        }
    }
    out
}

pub fn format_name(f: DataFormat) -> &'static str {
    match f {
        DataFormat::Upstream => "upstream",
        DataFormat::Toolhive => "toolhive",
        DataFormat::Auto => "auto",
    }
}

/// `camelCase` of a `SNAKE_CASE` env key segment: `DATA_DIR` → `dataDir`.
fn camel(segment: &str) -> String {
    let mut out = String::new();
    for (i, word) in segment.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

/// Turns a figment error (possibly several) into problems naming the key path.
fn figment_problems(err: figment::Error) -> Vec<String> {
    err.into_iter()
        .map(|e| {
            let key = key_path(&e.path);
            let what = match &e.kind {
                figment::error::Kind::UnknownField(_, expected) => {
                    return format!(
                        "`{key}`: unknown key; valid keys here are {}",
                        expected.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    );
                }
                other => other.to_string(),
            };
            if key.is_empty() { what } else { format!("`{key}`: {what}") }
        })
        .collect()
}

/// `registries.0.file` → `registries[0].file`.
pub fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

#[cfg(test)]
mod tests;
