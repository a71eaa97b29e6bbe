//! Test data and files: server.json documents, a single-file-source configuration with its data
//! file and store ([`Fixture`]), config files, and small accessors of API rows.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::TestServer;

/// Key of the official registry metadata under `_meta`.
pub const OFFICIAL: &str = "io.modelcontextprotocol.registry/official";

/// The `$schema` written into the server.json documents of the test catalogues.
pub const SERVER_SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// The workspace root (the parent of this crate's directory); the server runs with it as working
/// directory, so the relative paths of `examples/*.yaml` resolve.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.join(".."), Path::to_path_buf)
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The first source of the first registry of a `/readiness` body.
pub fn first_source(readiness: &Value) -> anyhow::Result<Value> {
    readiness["registries"][0]["sources"][0]
        .as_object()
        .map(|o| Value::Object(o.clone()))
        .with_context(|| format!("no registries[0].sources[0] in {readiness}"))
}

/// The official registry metadata of a row.
pub fn official(row: &Value) -> &Value {
    &row["_meta"][OFFICIAL]
}

/// `(name, version)` of a row.
pub fn name_version(row: &Value) -> (String, String) {
    let s = &row["server"];
    (s["name"].as_str().unwrap_or_default().to_owned(), s["version"].as_str().unwrap_or_default().to_owned())
}

/// Percent-encodes a path segment (everything but unreserved characters; `/` → `%2F`, `+` →
/// `%2B`).
pub fn enc(segment: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A minimal server.json.
pub fn server_json(name: &str, version: &str, description: &str) -> Value {
    json!({ "$schema": SERVER_SCHEMA, "name": name, "description": description, "version": version })
}

/// A temporary directory holding a config file, a data file and a store directory, for a
/// single-registry, single-file-source configuration.
#[derive(Debug)]
pub struct Fixture {
    dir: TempDir,
    registry: String,
}

impl Fixture {
    /// A fixture whose data file holds `data` (format `upstream`, re-read every `interval`).
    pub fn new(registry: &str, interval: &str, data: &Value) -> anyhow::Result<Self> {
        let fixture = Self::without_data(registry, "upstream", interval)?;
        fixture.write_data(data)?;
        Ok(fixture)
    }

    /// A fixture whose data file does not exist (yet).
    pub fn without_data(registry: &str, format: &str, interval: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a fixture dir")?;
        let fixture = Self { dir, registry: registry.to_owned() };
        std::fs::create_dir_all(fixture.data_dir())?;
        let config = format!(
            "registryName: {registry}\ndataDir: {}\nsource:\n  type: file\n  format: {format}\n  file:\n    path: {}\nsyncPolicy:\n  interval: \"{interval}\"\n",
            yaml_string(&fixture.data_dir())?,
            yaml_string(&fixture.data_file())?,
        );
        std::fs::write(fixture.config_file(), config)?;
        Ok(fixture)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn data_file(&self) -> PathBuf {
        self.dir.path().join("registry.json")
    }

    /// The store directory (`THV_REGISTRY_DATA_DIR`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Replaces the data file with `data` (written aside, then renamed over it).
    pub fn write_data(&self, data: &Value) -> anyhow::Result<()> {
        self.write_raw(serde_json::to_string_pretty(data)?.as_bytes())
    }

    /// Replaces the data file with `bytes` (written aside, then renamed over it).
    pub fn write_raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = self.dir.path().join("registry.json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.data_file())?;
        Ok(())
    }

    /// Deletes the data file.
    pub fn remove_data(&self) -> anyhow::Result<()> {
        std::fs::remove_file(self.data_file()).context("removing the data file")
    }

    /// Starts a server on this fixture's config and store.
    pub async fn start(&self) -> anyhow::Result<TestServer> {
        TestServer::start_in(&self.config_file(), &self.data_dir()).await
    }
}

/// Writes `yaml` as `config.yaml` in `dir`; returns its path.
pub fn write_config(dir: &Path, yaml: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn yaml_string(path: &Path) -> anyhow::Result<String> {
    let s = path.to_str().with_context(|| format!("non-UTF-8 path {}", path.display()))?;
    Ok(serde_json::to_string(s)?)
}
