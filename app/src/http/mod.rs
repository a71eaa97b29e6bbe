//! The HTTP API: one poem-openapi service (official read API, legacy paths, operations), wrapped
//! in path normalisation, observation, request hardening and problem+json error handling, and
//! served by the listener in [`listen`].
//!
//! Adding an endpoint: put it in the module of its resource with its own `ApiResponse` enum
//! (documented variants, problem+json errors), give it an explicit `operation_id`, then run
//! `thv-registry-api openapi > docs/openapi.yaml` and commit the spec diff.

pub mod auth;
pub mod deployed;
pub mod document;
pub mod encoding;
pub mod gate;
pub mod harden;
pub mod listen;
pub mod manage;
pub mod observe;
pub mod ops;
pub mod payload;
pub mod problem;
pub mod publish;
pub mod replay;
pub mod rewrite;
pub mod schema;
pub mod servers;

use std::sync::Arc;

use bytes::Bytes;
use poem::{Endpoint, EndpointExt, IntoEndpoint as _, Route};
use poem_openapi::OpenApiService;

use crate::catalog::Catalog;
use crate::config::http::HttpLimits;
use deployed::{DeployedApi, DeploymentsSource};
use manage::ManageApi;
use ops::{OpsApi, OpsAudience, VersionInfo};

use crate::build_info::BuildInfo;
use publish::PublishApi;
use servers::ServersApi;

/// Title of the OpenAPI document.
pub const API_TITLE: &str = "thv-registry-api";

type Apis = (ServersApi, PublishApi, ManageApi, DeployedApi, OpsApi);

/// The OpenAPI service over a catalogue (deployed-server listing not configured, default page
/// cache).
pub fn api_service(catalog: Arc<Catalog>) -> OpenApiService<Apis, ()> {
    api_service_with(catalog, DeploymentsSource::NotConfigured, &HttpLimits::default())
}

/// The OpenAPI service over a catalogue and a source of deployed servers, with the read path's
/// settings of `limits` (page cache size, `Cache-Control` max-age).
pub fn api_service_with(
    catalog: Arc<Catalog>,
    deployments: DeploymentsSource,
    limits: &HttpLimits,
) -> OpenApiService<Apis, ()> {
    let version = VersionInfo::from(BuildInfo::current());
    OpenApiService::new(
        (
            ServersApi::new(catalog.clone(), limits.page_cache_bytes, limits.cache_max_age),
            PublishApi { catalog: catalog.clone() },
            ManageApi { catalog: catalog.clone() },
            DeployedApi { catalog: catalog.clone(), source: deployments },
            OpsApi { catalog, version: version.clone(), audience: OpsAudience::Public },
        ),
        API_TITLE,
        version.version,
    )
    // No `info.summary`: it is an OpenAPI 3.1 field, and this is a 3.0 document.
    .description(
        "MCP Registry API server: the official MCP Registry API over named registries. Serves each configured registry over the official MCP Registry API. The default registry is \
         served at `/v0.1/…`, every registry at `/registry/{registry}/v0.1/…`; every `/v0.1/…` path is \
         also served, identically, under `/v0/…`. Errors are RFC 9457 `application/problem+json` (`application/json` when the request's `Accept` lists that and not problem+json).",
    )
}

/// The OpenAPI document of this server, in YAML (what `docs/openapi.yaml` holds).
pub fn spec_yaml() -> String {
    document().yaml().to_owned()
}

/// The OpenAPI document of this server.
pub fn document() -> document::Document {
    document::Document::from_poem(&api_service(empty_catalog()).spec())
}

/// The whole HTTP application under `limits` (the `http` section), without authentication or
/// deployed-server listing.
pub fn app(catalog: Arc<Catalog>, limits: HttpLimits) -> impl Endpoint {
    app_with(catalog, DeploymentsSource::NotConfigured, limits, auth::Auth::anonymous())
}

/// The whole HTTP application, with deployed-server listing. From the outside in: path
/// normalisation, observation (so every request is logged and counted, rejected ones included),
/// hardening (limits, strict paths, CORS, security headers), problem+json, authentication, the
/// routes.
pub fn app_with(
    catalog: Arc<Catalog>,
    deployments: DeploymentsSource,
    limits: HttpLimits,
    auth: auth::Auth,
) -> impl Endpoint {
    let service = api_service_with(catalog, deployments, &limits);
    let poem_spec = service.spec();
    let routes = observe::RouteTable::leak(&poem_spec, OUTSIDE_API);
    let auth = Arc::new(auth);
    let metadata = auth::protected_resource_metadata(&auth);
    let doc = document::Document::from_poem(&poem_spec);
    // The Swagger UI page embeds the document: poem-openapi's page, with the merged one in it,
    // kept compressed (see `Packed`).
    let docs_page = encoding::Packed::new(service.swagger_ui_html().replacen(&poem_spec, doc.json(), 1).as_bytes());
    let (json, yaml) = (Bytes::copy_from_slice(doc.json().as_bytes()), Bytes::copy_from_slice(doc.yaml().as_bytes()));
    let json = poem::endpoint::make_sync(move |_| {
        poem::Response::builder().content_type("application/json").body(json.clone())
    });
    let yaml = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/x-yaml")
            .header("Content-Disposition", "inline; filename=\"spec.yaml\"")
            .body(yaml.clone())
    });
    let docs = poem::endpoint::make_sync(move |req: poem::Request| {
        let (coding, body) = docs_page.body(req.headers().get(poem::http::header::ACCEPT_ENCODING));
        let resp = poem::Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(poem::http::header::VARY, "Accept-Encoding");
        match coding.header() {
            Some(name) => resp.header(poem::http::header::CONTENT_ENCODING, name),
            None => resp,
        }
        .body(body)
    });
    let mut others = Route::new();
    if std::env::var_os(BENCH_BASELINE_ENV).is_some() {
        others = others.at("/_bench/baseline", poem::get(bench_baseline));
    }
    let others = others
        .nest("/docs", docs)
        .at("/openapi.json", json)
        .at("/openapi.yaml", yaml)
        .at("/metrics", poem::get(public_metrics))
        .at("/.well-known/oauth-protected-resource", poem::get(ProtectedResource(metadata)));
    Front { api: service.into_endpoint(), others }
        .around(move |next, req| auth::authenticate(auth.clone(), next, req))
        .around(problem::problem_middleware)
        .around(move |ep, req| harden::harden(ep, req, limits))
        .around(move |ep, req| observe::observe(routes, ep, req))
        .around(rewrite::rewrite_middleware)
}

/// The innermost dispatch: the few paths outside the OpenAPI service (documents, Swagger UI,
/// metrics, RFC 9728 metadata) to their own routes, every other path straight to the service.
/// A `Route` with the service nested at `/` would do the same at the cost of two more boxed
/// futures, a route match and a rewritten URI on every API request.
struct Front<A> {
    api: A,
    others: Route,
}

/// Paths served outside the OpenAPI service, besides the Swagger UI (see [`is_docs`]).
pub(crate) const OUTSIDE_API: &[&str] =
    &["/openapi.json", "/openapi.yaml", "/metrics", "/.well-known/oauth-protected-resource", "/_bench/baseline"];

/// The Swagger UI's paths: `/docs` and below.
pub(crate) fn is_docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

impl<A: Endpoint<Output = poem::Response>> Endpoint for Front<A> {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Self::Output> {
        let path = req.uri().path();
        if OUTSIDE_API.contains(&path) || is_docs(path) {
            self.others.call(req).await
        } else {
            self.api.call(req).await
        }
    }
}

/// `GET /.well-known/oauth-protected-resource`: RFC 9728 metadata in `oauth` mode, 404 otherwise.
struct ProtectedResource(Option<serde_json::Value>);

impl Endpoint for ProtectedResource {
    type Output = poem::Response;

    async fn call(&self, _req: poem::Request) -> poem::Result<Self::Output> {
        Ok(match &self.0 {
            Some(doc) => poem::Response::builder().content_type("application/json").body(doc.to_string()),
            None => problem::Problem::new(
                poem::http::StatusCode::NOT_FOUND,
                "this server does not require authentication (auth.mode is anonymous)",
            )
            .into_poem(),
        })
    }
}

/// Setting this environment variable adds `GET /_bench/baseline?bytes=N`, a route that returns a
/// fixed JSON body of N bytes through the same middleware: the cost of the HTTP stack alone, for
/// the benchmark's baseline row. Off by default.
pub const BENCH_BASELINE_ENV: &str = "THV_REGISTRY_BENCH_BASELINE";

#[derive(Debug, serde::Deserialize)]
struct BaselineQuery {
    bytes: Option<usize>,
}

/// The benchmark baseline: a pre-built body of the requested size (bounded to 16 MiB).
#[poem::handler]
fn bench_baseline(poem::web::Query(q): poem::web::Query<BaselineQuery>) -> poem::Response {
    static BODIES: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<usize, bytes::Bytes>>> =
        std::sync::OnceLock::new();
    let n = q.bytes.unwrap_or(1024).clamp(16, 16 * 1024 * 1024);
    let body = {
        let mut cache = BODIES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry(n).or_insert_with(|| bytes::Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(n - 10)))).clone()
    };
    poem::Response::builder().content_type("application/json").body(body)
}

/// `GET /metrics`: Prometheus text exposition (it names every registry and source).
#[poem::handler]
fn metrics_endpoint() -> poem::Response {
    metrics_response()
}

fn metrics_response() -> poem::Response {
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::telemetry::metrics::render())
}

/// `GET /metrics` on the public listener: the metrics name every registry and source, so only a
/// caller who may see all of them gets them (`superAdmin`, or everyone in `anonymous` mode); the
/// operations listener serves them to every caller that reaches it.
#[poem::handler]
fn public_metrics(req: &poem::Request) -> poem::Response {
    let caller = auth::caller(req);
    if caller.has_role(thv_domain::access::Role::SuperAdmin) {
        return metrics_response();
    }
    auth::token_required(caller)
        .unwrap_or_else(|| {
            problem::Problem::new(
                poem::http::StatusCode::FORBIDDEN,
                "`/metrics` needs the superAdmin role on this listener; scrape it on --internal-address",
            )
        })
        .into_poem()
}

/// The operations endpoints alone (`/health`, `/readiness`, `/version`, `/ping`, `/metrics`), for
/// `--internal-address`, with the same hardening as the main application.
pub fn internal_app(catalog: Arc<Catalog>, limits: HttpLimits) -> impl Endpoint {
    let ops = OpenApiService::new(
        OpsApi { catalog, version: BuildInfo::current().into(), audience: OpsAudience::Operators },
        API_TITLE,
        "internal",
    );
    let routes = observe::RouteTable::leak(&ops.spec(), &["/metrics"]);
    Route::new()
        .at("/metrics", poem::get(metrics_endpoint))
        .nest("/", ops)
        .around(problem::problem_middleware)
        .around(move |ep, req| harden::harden(ep, req, limits))
        .around(move |ep, req| observe::observe(routes, ep, req))
}

/// The OpenAPI document of this server, in JSON.
pub fn spec_json() -> String {
    document().json().to_owned()
}

/// The catalogue the document is generated from: nothing in it.
pub(crate) fn empty_catalog() -> Arc<Catalog> {
    Arc::new(Catalog::empty(Arc::new(thv_adapters::MemoryStore::default()), Arc::new(thv_adapters::SystemClock)))
}
