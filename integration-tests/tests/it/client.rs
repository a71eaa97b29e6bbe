//! The real binary through the Rust client generated from `docs/openapi.yaml`
//! (`thv-registry-client`, progenitor at build time): a document that drifts from what the server
//! does — a missing operation, a wrong parameter, a response shape the server does not send —
//! breaks these tests.

#![expect(clippy::unwrap_used, reason = "test set-up fails the test on purpose")]

use std::num::NonZeroU64;
use std::time::Duration;

use serde_json::{Value, json};
use thv_registry_client::{Client, Error, types};
use thv_testkit::{TestServer, workspace_root};

use crate::publish::World;

/// The generated client on `srv`, with `token` as bearer when given.
fn client(srv: &TestServer, token: Option<&str>) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("thv-integration-tests")
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap();
    Client::new_with_client(&srv.base_url(), http)
}

/// The problem of a failed call, or the test fails naming what came instead.
fn problem<T: std::fmt::Debug>(result: Result<T, Error<types::Problem>>, status: u16) -> types::Problem {
    match result {
        Err(Error::ErrorResponse(reply)) if reply.status() == status => reply.into_inner(),
        other => panic!("expected a {status} problem, got {other:?}"),
    }
}

#[tokio::test]
async fn the_generated_client_walks_every_page_and_reads_what_the_server_serves() {
    let root = workspace_root();
    let seed = thv_testkit::read_json(&root.join("examples/data/seed-358-servers.json")).unwrap();
    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let api = client(&srv, None);

    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = api.list_servers(cursor.as_deref(), None, NonZeroU64::new(7), None, None, None).await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.into_inner();
        assert_eq!(page.metadata.count as usize, page.servers.len());
        rows.extend(page.servers);
        match page.metadata.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(rows.len(), seed.as_array().unwrap().len(), "one row per version of the seed");
    let raw = srv.list_all("/v0.1/servers", &[], 100).await.unwrap();
    let typed: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.server.name.clone(),
                r.server.version.clone(),
                r.meta.io_modelcontextprotocol_registry_official.is_latest,
            )
        })
        .collect();
    let untyped: Vec<(String, String, bool)> = raw
        .iter()
        .map(|r| {
            let official = &r["_meta"]["io.modelcontextprotocol.registry/official"];
            (
                r["server"]["name"].as_str().unwrap().to_owned(),
                r["server"]["version"].as_str().unwrap().to_owned(),
                official["isLatest"] == true,
            )
        })
        .collect();
    assert_eq!(typed, untyped, "the generated client reads the rows the server sends");

    // A search, the versions of a server, its latest version (by `latest` and by name, the
    // name with its `/` encoded by the client).
    let name = rows[0].server.name.clone();
    let found = api.list_servers(None, None, None, Some(&name), None, None).await.unwrap().into_inner();
    assert!(found.servers.iter().any(|s| s.server.name == name), "search for {name}");
    let versions = api.list_server_versions(&name, None).await.unwrap().into_inner();
    assert!(!versions.servers.is_empty());
    let latest = api.get_server_version(&name, "latest", None).await.unwrap().into_inner();
    assert!(latest.meta.io_modelcontextprotocol_registry_official.is_latest);
    let by_name = api.get_server(&name).await.unwrap().into_inner();
    assert_eq!(by_name.server.version, latest.server.version);
    let per_registry = api.get_registry_server_version("seed", &name, &latest.server.version, None).await.unwrap();
    assert_eq!(per_registry.into_inner().server.version, latest.server.version);
}

#[tokio::test]
async fn errors_reach_the_generated_client_as_typed_problems() {
    let srv = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let api = client(&srv, None);

    let missing = problem(api.get_server_version("io.github.nobody/nothing", "latest", None).await, 404);
    assert_eq!((missing.status, missing.title.as_str()), (404, "Not Found"));
    assert!(!missing.detail.is_empty());
    let no_registry = problem(api.list_registry_servers("nope", None, None, None, None, None, None).await, 404);
    assert!(no_registry.detail.contains("nope"), "{no_registry:?}");
    let bad_limit = problem(api.list_servers(None, None, NonZeroU64::new(500), None, None, None).await, 422);
    assert_eq!(bad_limit.errors[0].location, "query.limit");
    let bad_cursor = problem(api.list_servers(Some("not a cursor"), None, None, None, None, None).await, 400);
    assert_eq!(bad_cursor.errors[0].location, "query.cursor");
    // The seed registry has no managed source: the official API's 501.
    let body = types::ServerDetail {
        schema: None,
        name: "io.github.example/x".to_owned(),
        description: "x".to_owned(),
        version: "1.0.0".to_owned(),
        title: None,
        repository: None,
        website_url: None,
        icons: Vec::new(),
        packages: Vec::new(),
        remotes: Vec::new(),
        meta: None,
    };
    problem(api.publish_server(&body).await, 501);
}

#[tokio::test]
async fn the_generated_client_publishes_changes_status_and_deletes_with_a_token() {
    let world = World::start().await;
    let srv = world.app().spawn().await.unwrap();
    srv.wait_ready().await.unwrap();
    let writer = client(&srv, Some(&world.writer()));
    let reader = client(&srv, Some(&world.reader()));
    let ops = client(&srv, Some(&world.token("otto", &json!({"role": "ops"}))));
    let doc: Value = crate::publish::doc("io.github.example/typed", "1.0.0");
    let body: types::ServerDetail = serde_json::from_value(doc.clone()).unwrap();

    problem(client(&srv, None).publish_registry_server("corp", &body).await, 401);
    problem(reader.publish_registry_server("corp", &body).await, 403);
    let published = writer.publish_registry_server("corp", &body).await.unwrap();
    assert_eq!(published.status(), 200);
    let published = published.into_inner();
    assert_eq!(serde_json::to_value(&published.server).unwrap(), doc, "published as sent");
    let duplicate = problem(writer.publish_registry_server("corp", &body).await, 400);
    assert!(duplicate.detail.contains("1.0.0"), "{duplicate:?}");

    let read = reader.get_registry_server_version("corp", &body.name, "1.0.0", None).await.unwrap().into_inner();
    assert_eq!(serde_json::to_value(&read.server).unwrap(), doc);
    let official = &read.meta.io_modelcontextprotocol_registry_official;
    assert!(official.is_latest);
    assert_eq!(official.status, types::Status::Active);

    let deprecate = types::StatusUpdateRequest {
        status: types::NewStatus::Deprecated,
        status_message: Some("use io.github.example/typed2".to_owned()),
    };
    let changed = writer
        .update_registry_server_version_status("corp", &body.name, "1.0.0", &deprecate)
        .await
        .unwrap()
        .into_inner();
    let official = &changed.meta.io_modelcontextprotocol_registry_official;
    assert_eq!(official.status, types::Status::Deprecated);
    assert_eq!(official.status_message.as_deref(), Some("use io.github.example/typed2"));
    assert!(official.status_changed_at >= published.meta.io_modelcontextprotocol_registry_official.status_changed_at);

    let deleted = writer.delete_registry_server_version("corp", &body.name, "1.0.0").await.unwrap().into_inner();
    assert_eq!(deleted.meta.io_modelcontextprotocol_registry_official.status, types::Status::Deleted);
    problem(reader.get_registry_server_version("corp", &body.name, "1.0.0", None).await, 404);
    let kept = reader.get_registry_server_version("corp", &body.name, "1.0.0", Some(true)).await.unwrap();
    assert_eq!(kept.into_inner().meta.io_modelcontextprotocol_registry_official.status, types::Status::Deleted);

    let sources = ops.list_sources().await.unwrap().into_inner();
    let internal = sources.sources.iter().find(|s| s.name == "internal").unwrap();
    assert_eq!(internal.registries, ["corp"]);
    problem(client(&srv, None).list_sources().await, 401);
    let me = reader.get_me().await.unwrap().into_inner();
    assert!(me.authenticated);
    assert_eq!(me.registries, ["corp"]);
}
