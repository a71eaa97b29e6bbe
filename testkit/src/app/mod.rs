//! [`TestApp`]: a typed builder of a server's configuration (sources, registries, auth, any other
//! top-level key) in a temporary directory, run either in this process on the real route tree
//! ([`TestApp::in_process`], a manual clock, syncs on demand) or as the real binary on a random
//! port ([`TestApp::spawn`]).
//!
//! ```no_run
//! # use std::path::Path;
//! # use thv_testkit::app::{RegistrySpec, SourceSpec, TestApp};
//! # async fn example() {
//! let app = TestApp::new()
//!     .source(SourceSpec::file("team", Path::new("team.json")).format("upstream").interval("10m"))
//!     .file_source("vendor", "vendor.json")
//!     .registry(RegistrySpec::new("everything", &["team", "vendor"]))
//!     .default_registry("everything");
//! let h = app.in_process().await;
//! # }
//! ```
//!
//! The configuration is written as JSON (which the YAML loader reads as it is) to `config.yaml`
//! in the app's directory; the store lives in its `data/` folder. Without a registry, every
//! source gets a registry of its own name and the first of them is the default; with registries,
//! there is a default only when [`TestApp::default_registry`] names one.

mod in_process;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tempfile::TempDir;

pub use in_process::{InProcess, names, t0};
pub use spec::{RegistrySpec, SourceSpec};

use crate::TestServer;

/// A server configuration under construction, in a temporary directory shared by its clones (so a
/// restart with a changed configuration keeps the files and the store).
#[derive(Debug, Clone)]
pub struct TestApp {
    dir: Arc<TempDir>,
    sources: Vec<SourceSpec>,
    registries: Vec<RegistrySpec>,
    default_registry: Option<String>,
    top: Map<String, Value>,
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

impl TestApp {
    /// An empty configuration in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
        Self {
            dir: Arc::new(dir),
            sources: Vec::new(),
            registries: Vec::new(),
            default_registry: None,
            top: Map::new(),
        }
    }

    /// The app's directory: its files, `config.yaml` and the store (`data/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file in the app's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// The store directory.
    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// Writes `value` (pretty JSON) to a file of the app's directory, written aside and renamed
    /// over it, so a reader never sees half of it.
    pub fn write_json(&self, name: &str, value: &Value) {
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_else(|e| panic!("serialising {name}: {e}"));
        self.write_bytes(name, &bytes);
    }

    /// Writes `bytes` to a file of the app's directory (aside, then renamed over it).
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) {
        let target = self.path(name);
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &target).unwrap_or_else(|e| panic!("renaming to {}: {e}", target.display()));
    }

    /// Adds a source; a source of the same name is replaced.
    #[must_use]
    pub fn source(mut self, source: SourceSpec) -> Self {
        self.sources.retain(|s| s.name() != source.name());
        self.sources.push(source);
        self
    }

    /// Adds a file source reading `file` of the app's directory.
    #[must_use]
    pub fn file_source(self, name: &str, file: &str) -> Self {
        let path = self.path(file);
        self.source(SourceSpec::file(name, &path))
    }

    /// Adds a git source reading `path` at the tip of `branch` of `repository`.
    #[must_use]
    pub fn git_source(self, name: &str, repository: &str, branch: &str, path: &str) -> Self {
        self.source(SourceSpec::git(name, repository, branch, path))
    }

    /// Adds an API source paging through `endpoint`.
    #[must_use]
    pub fn api_source(self, name: &str, endpoint: &str) -> Self {
        self.source(SourceSpec::api(name, endpoint))
    }

    /// Adds a managed source (entries published through the write API).
    #[must_use]
    pub fn managed_source(self, name: &str) -> Self {
        self.source(SourceSpec::managed(name))
    }

    /// Changes the source called `name` (which must have been added).
    #[must_use]
    pub fn change_source(mut self, name: &str, change: impl FnOnce(SourceSpec) -> SourceSpec) -> Self {
        let at = self.sources.iter().position(|s| s.name() == name);
        let at = at.unwrap_or_else(|| panic!("no source {name} to change"));
        let source = self.sources.remove(at);
        self.sources.insert(at, change(source));
        self
    }

    /// Adds a registry; a registry of the same name is replaced.
    #[must_use]
    pub fn registry(mut self, registry: RegistrySpec) -> Self {
        self.registries.retain(|r| r.name() != registry.name());
        self.registries.push(registry);
        self
    }

    /// The registry served at the root paths.
    #[must_use]
    pub fn default_registry(mut self, name: &str) -> Self {
        self.default_registry = Some(name.to_owned());
        self
    }

    /// `auth: {mode: oauth, oauth: <oauth>}` (providers, resource URL…), plus
    /// `authz: {roles: <roles>}` when `roles` is not null.
    #[must_use]
    pub fn oauth(self, oauth: Value, roles: Value) -> Self {
        let mut auth = Map::new();
        auth.insert("mode".into(), json!("oauth"));
        auth.insert("oauth".into(), oauth);
        if !roles.is_null() {
            auth.insert("authz".into(), Value::Object(Map::from_iter([("roles".to_owned(), roles)])));
        }
        self.set("auth", Value::Object(auth))
    }

    /// `oauth` mode with one provider, `main`, trusting `issuer` for [`crate::oidc::AUDIENCE`]
    /// (keys found by discovery), and `roles` as in [`TestApp::oauth`].
    #[must_use]
    pub fn oauth_provider(self, issuer: &str, roles: Value) -> Self {
        let provider = json!({"name": "main", "issuerUrl": issuer, "audience": crate::oidc::AUDIENCE});
        self.oauth(json!({"providers": [provider]}), roles)
    }

    /// `kubernetes: {kubeconfig: <path>}`: deployed servers read through that kubeconfig.
    #[must_use]
    pub fn kubeconfig(self, path: &Path) -> Self {
        self.set("kubernetes", json!({"kubeconfig": path}))
    }

    /// `database:` for `db`: its superuser without a password (trust authentication), TLS off, a
    /// small pool.
    #[must_use]
    pub fn database(self, db: &crate::pg::TestDb) -> Self {
        let section = json!({
            "host": db.host, "port": db.port, "user": db.user, "database": db.name,
            "sslMode": "disable", "maxOpenConns": 5, "maxIdleConns": 1,
        });
        self.set("database", section)
    }

    /// Sets one key of the `database:` section (`user`, `migrationUser`…), which
    /// [`TestApp::database`] or [`TestApp::set`] made.
    #[must_use]
    pub fn database_setting(mut self, key: &str, value: Value) -> Self {
        let section = self.top.get_mut("database").unwrap_or_else(|| panic!("no database section to change"));
        section[key] = value;
        self
    }

    /// Sets any other top-level key (`http`, `kubernetes`, `database`, `telemetry`…).
    #[must_use]
    pub fn set(mut self, key: &str, value: Value) -> Self {
        self.top.insert(key.to_owned(), value);
        self
    }

    /// The configuration as a JSON value.
    pub fn config(&self) -> Value {
        let mut config = self.top.clone();
        config.insert("dataDir".into(), json!(self.data_dir()));
        config.insert("sources".into(), Value::Array(self.sources.iter().map(SourceSpec::to_value).collect()));
        let registries: Vec<Value> = if self.registries.is_empty() {
            self.sources.iter().map(|s| RegistrySpec::new(s.name(), &[s.name()]).to_value()).collect()
        } else {
            self.registries.iter().map(RegistrySpec::to_value).collect()
        };
        if let Some(default) = &self.default_registry {
            config.insert("defaultRegistry".into(), json!(default));
        } else if self.registries.is_empty()
            && let Some(first) = registries.first()
        {
            config.insert("defaultRegistry".into(), first["name"].clone());
        }
        config.insert("registries".into(), Value::Array(registries));
        Value::Object(config)
    }

    /// Writes the configuration to `config.yaml` in the app's directory; returns its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.path("config.yaml");
        let text = serde_json::to_string_pretty(&self.config()).unwrap_or_else(|e| panic!("serialising: {e}"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Runs the configuration in this process: see [`InProcess`].
    pub async fn in_process(self) -> InProcess {
        InProcess::open(self, Arc::new(|adapter| adapter)).await
    }

    /// Like [`TestApp::in_process`], with every source adapter passed through `wrap` (to inject
    /// faults around the real adapters).
    pub async fn in_process_wrapping(
        self,
        wrap: impl Fn(Arc<dyn thv_ports::Source>) -> Arc<dyn thv_ports::Source> + Send + Sync + 'static,
    ) -> InProcess {
        InProcess::open(self, Arc::new(wrap)).await
    }

    /// Starts the real binary on this configuration and its store. The server keeps the app's
    /// directory for as long as it runs.
    pub async fn spawn(&self) -> anyhow::Result<TestServer> {
        let config = self.write_config();
        Ok(TestServer::start_in(&config, &self.data_dir()).await?.keeping(Arc::clone(&self.dir)))
    }

    /// Like [`TestApp::spawn`] with extra environment (`DATABASE_URL`…) and extra `serve`
    /// arguments (`--internal-address 127.0.0.1:0`…).
    pub async fn spawn_with(&self, env: &[(&str, &str)], args: &[&str]) -> anyhow::Result<TestServer> {
        let config = self.write_config();
        let server = TestServer::start_in_args(&config, &self.data_dir(), env, args).await?;
        Ok(server.keeping(Arc::clone(&self.dir)))
    }
}
