//! A [`TestApp`] run in this process: the catalogue on the app's data directory with a manual
//! clock, syncs run on demand, and requests sent straight to the real route tree, built once per
//! (re)start so its page cache lives across requests.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Endpoint, EndpointExt as _, Request};
use serde_json::Value;
use thv_adapters::{EmbeddedStore, ManualClock};
use thv_app::catalog::{Catalog, NoEvents, SyncOutcome};
use thv_app::config::Config;
use thv_domain::SourceName;
use thv_ports::Source;

use super::TestApp;

/// Wraps every source adapter of an in-process app (identity, or a fault injector).
type Wrap = Arc<dyn Fn(Arc<dyn Source>) -> Arc<dyn Source> + Send + Sync>;

/// The time an in-process app's clock starts at: 2025-06-01T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).single().unwrap_or_else(|| panic!("t0 is a valid time"))
}

/// `name@version` of every row of a list response, in order.
pub fn names(body: &Value) -> Vec<String> {
    let rows = body["servers"].as_array().unwrap_or_else(|| panic!("not a server list: {body}"));
    rows.iter()
        .map(|s| {
            format!(
                "{}@{}",
                s["server"]["name"].as_str().unwrap_or("?"),
                s["server"]["version"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// A running in-process app.
pub struct InProcess {
    pub app: TestApp,
    pub clock: Arc<ManualClock>,
    pub catalog: Arc<Catalog>,
    pub config: Config,
    routes: BoxEndpoint<'static>,
    wrap: Wrap,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").field("dir", &self.app.dir()).finish_non_exhaustive()
    }
}

impl InProcess {
    pub(super) async fn open(app: TestApp, wrap: Wrap) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let (catalog, config, routes) = start(&app, clock.clone(), &wrap).await;
        Self { app, clock, catalog, config, routes, wrap }
    }

    /// Opens the catalogue again on the same directory and store (a restart), with `app`'s
    /// configuration (a clone of this app, changed or not) and the same clock.
    pub async fn restart(&mut self, app: TestApp) {
        let (catalog, config, routes) = start(&app, self.clock.clone(), &self.wrap).await;
        self.app = app;
        self.catalog = catalog;
        self.config = config;
        self.routes = routes;
    }

    /// A file in the app's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.app.path(name)
    }

    /// See [`TestApp::write_json`].
    pub fn write_json(&self, name: &str, value: &Value) {
        self.app.write_json(name, value);
    }

    /// The clock's time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        thv_ports::Clock::now(self.clock.as_ref())
    }

    /// Syncs one source now.
    pub async fn sync(&self, source: &str) -> SyncOutcome {
        let name = SourceName::parse(source).unwrap_or_else(|e| panic!("source name {source}: {e}"));
        self.catalog.sync(&name).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, HeaderMap, Value) {
        self.request(Method::GET, uri, &[]).await
    }

    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        self.request(Method::GET, uri, headers).await
    }

    pub async fn post(&self, uri: &str) -> (StatusCode, HeaderMap, Value) {
        self.request(Method::POST, uri, &[]).await
    }

    /// Sends one request to the route tree; the body is parsed as JSON (`Null` when empty).
    pub async fn request(&self, method: Method, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri_str(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = match self.routes.call(req.finish()).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().into_bytes().await.unwrap_or_else(|e| panic!("reading the body of {uri}: {e}"));
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{uri}: the body is not JSON ({e})"))
        };
        (status, headers, body)
    }
}

async fn start(app: &TestApp, clock: Arc<ManualClock>, wrap: &Wrap) -> (Arc<Catalog>, Config, BoxEndpoint<'static>) {
    let config_path = app.write_config();
    let config = Config::load_with_env(&config_path, Vec::new()).unwrap_or_else(|e| panic!("the config: {e:#}"));
    let store = EmbeddedStore::open(app.data_dir()).unwrap_or_else(|e| panic!("the store: {e}"));
    let data_dir = config.data_dir.clone();
    let source_clock: Arc<dyn thv_ports::Clock> = clock.clone();
    let catalog = Catalog::open(config.catalog_spec(), Arc::new(store), clock, Arc::new(NoEvents), |s| {
        thv_app::serve::adapter_for(s, &data_dir, source_clock.clone()).map(|a| wrap(a))
    })
    .await
    .unwrap_or_else(|e| panic!("opening the catalogue: {e}"));
    let catalog = Arc::new(catalog);
    let routes = thv_app::http::app(catalog.clone(), config.http).map_to_response().boxed();
    (catalog, config, routes)
}
