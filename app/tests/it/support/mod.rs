//! In-process test harness: a catalogue on a temporary data directory with a manual clock, and
//! requests sent straight to the real route tree.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request};
use serde_json::Value;
use thv_adapters::{EmbeddedStore, ManualClock};
use thv_app::catalog::Catalog;
use thv_app::config::Config;
use thv_domain::SourceName;
use thv_ports::Source;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub catalog: Arc<Catalog>,
    pub config: Config,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

pub fn server(name: &str, version: &str, description: &str) -> Value {
    serde_json::json!({"name": name, "description": description, "version": version})
}

impl Harness {
    /// A config whose `{dir}` placeholders are replaced by the temp dir.
    pub async fn new(config_yaml: &str) -> Self {
        Self::wrapping(config_yaml, |a| a).await
    }

    /// Like [`Harness::new`], with every source adapter passed through `wrap` (to inject faults
    /// around the real adapters).
    pub async fn wrapping(config_yaml: &str, wrap: impl Fn(Arc<dyn Source>) -> Arc<dyn Source>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(t0()));
        let (catalog, config) = open(dir.path(), config_yaml, clock.clone(), &wrap).await;
        Self { dir, clock, catalog, config }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_json(&self, name: &str, value: &Value) {
        std::fs::write(self.path(name), serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }

    /// Re-opens the catalogue on the same data directory (a restart), with a new config.
    pub async fn restart(&mut self, config_yaml: &str) {
        let (catalog, config) = open(self.dir.path(), config_yaml, self.clock.clone(), &|a| a).await;
        self.catalog = catalog;
        self.config = config;
    }

    pub async fn sync(&self, source: &str) -> thv_app::catalog::SyncOutcome {
        self.catalog.sync(&SourceName::parse(source).unwrap()).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, HeaderMap, Value) {
        self.get_with(uri, &[]).await
    }

    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        self.request(Method::GET, uri, headers).await
    }

    pub async fn post(&self, uri: &str) -> (StatusCode, HeaderMap, Value) {
        self.request(Method::POST, uri, &[]).await
    }

    pub async fn request(&self, method: Method, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let app = thv_app::http::app(self.catalog.clone(), self.config.http);
        let mut req = Request::builder().method(method).uri_str(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = match app.call(req.finish()).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().into_bytes().await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, headers, body)
    }
}

async fn open(
    dir: &Path,
    yaml: &str,
    clock: Arc<ManualClock>,
    wrap: &dyn Fn(Arc<dyn Source>) -> Arc<dyn Source>,
) -> (Arc<Catalog>, Config) {
    let yaml = yaml.replace("{dir}", &dir.display().to_string());
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, yaml).unwrap();
    let config = Config::load_with_env(&config_path, Vec::new()).unwrap();
    let store = EmbeddedStore::open(dir.join("data")).unwrap();
    let data_dir = config.data_dir.clone();
    let source_clock: Arc<dyn thv_ports::Clock> = clock.clone();
    let catalog =
        Catalog::open(config.catalog_spec(), Arc::new(store), clock, Arc::new(thv_app::catalog::NoEvents), |s| {
            thv_app::serve::adapter_for(s, &data_dir, source_clock.clone()).map(wrap)
        })
        .await
        .unwrap();
    (Arc::new(catalog), config)
}

pub fn names(body: &Value) -> Vec<String> {
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}@{}", s["server"]["name"].as_str().unwrap(), s["server"]["version"].as_str().unwrap()))
        .collect()
}

pub fn official(row: &Value) -> &Value {
    &row["_meta"]["io.modelcontextprotocol.registry/official"]
}

impl Harness {
    pub fn clock_now(&self) -> DateTime<Utc> {
        thv_ports::Clock::now(self.clock.as_ref())
    }
}
