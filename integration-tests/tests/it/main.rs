//! Black-box tests of the real `thv-registry-api` binary (on a random port, against real files,
//! git repositories, HTTP stubs and PostgreSQL) and the `EntryStore` contract on every store, in
//! one test binary so that the crate links once. One module per subject; the helpers they share
//! (the binary on a random port, the stubs, fixtures, the contract suites) live in `thv-testkit`
//! (`testkit/`). Run one module with
//! `cargo nextest run -p thv-integration-tests -E 'test(/^auth::/)'`.

mod api_compat;
mod auth;
mod bad_input;
mod client;
mod compression;
mod deploy;
mod deployed;
mod every_route;
mod examples;
mod examples_sources;
mod faults;
mod federation;
mod git_sync;
mod hardening;
mod observability;
mod openapi_conformance;
mod postgres;
mod publish;
mod reload;
mod replay;
mod schemathesis;
mod search;
mod semantics;
mod slow_clients;
mod store_contract;
mod tenancy;

/// A client that leaves bodies as they came (no automatic decompression), for tests of the bytes
/// on the wire.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .user_agent("thv-integration-tests")
        .no_proxy()
        .no_gzip()
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}
