//! The HTTP API: one poem-openapi service (official read API, legacy paths, operations), wrapped
//! in path normalisation and problem+json error handling.
//!
//! Adding an endpoint: put it in the module of its resource with its own `ApiResponse` enum
//! (documented variants, problem+json errors), give it an explicit `operation_id`, then run
//! `thv-registry-api openapi > docs/openapi.yaml` and commit the spec diff.

pub mod manage;
pub mod ops;
pub mod payload;
pub mod problem;
pub mod rewrite;
pub mod schema;
pub mod servers;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::catalog::Catalog;
use manage::ManageApi;
use ops::{OpsApi, VersionInfo};
use servers::ServersApi;

/// Title of the OpenAPI document.
pub const API_TITLE: &str = "thv-registry-api";

type Apis = (ServersApi, ManageApi, OpsApi);

/// The OpenAPI service over a catalogue.
pub fn api_service(catalog: Arc<Catalog>) -> OpenApiService<Apis, ()> {
    let version = VersionInfo::current();
    OpenApiService::new(
        (
            ServersApi::new(catalog.clone()),
            ManageApi { catalog: catalog.clone() },
            OpsApi { catalog, version: version.clone() },
        ),
        API_TITLE,
        version.version,
    )
    .summary("MCP Registry API server: the official MCP Registry API over named registries")
    .description(
        "Serves each configured registry over the official MCP Registry API. The default registry is \
         served at `/v0.1/…`, every registry at `/registry/{registry}/v0.1/…`; every `/v0.1/…` path is \
         also served, identically, under `/v0/…`. Errors are RFC 9457 `application/problem+json`.",
    )
}

/// The OpenAPI document of this server, in YAML (what `docs/openapi.yaml` holds).
pub fn spec_yaml() -> String {
    api_service(Arc::new(Catalog::empty())).spec_yaml()
}

/// The whole HTTP application.
pub fn app(catalog: Arc<Catalog>) -> impl Endpoint {
    let service = api_service(catalog);
    let json = service.spec_endpoint();
    let yaml = service.spec_endpoint_yaml();
    let docs = service.swagger_ui();
    Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", json)
        .at("/openapi.yaml", yaml)
        .nest("/", service)
        .around(rewrite::rewrite_middleware)
        .around(problem::problem_middleware)
}

/// The OpenAPI document of this server, in JSON.
pub fn spec_json() -> String {
    api_service(Arc::new(Catalog::empty())).spec()
}
