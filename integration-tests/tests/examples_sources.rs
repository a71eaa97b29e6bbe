//! The git, api and multi-registry examples, each started as shipped (the api one pointed at a
//! local instance instead of the public registry, since tests run offline).

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use thv_integration_tests::{TestServer, read_json, workspace_root, write_config};

fn seed_names() -> BTreeSet<String> {
    let seed = read_json(&workspace_root().join("examples/data/seed-358-servers.json")).unwrap();
    seed.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
}

fn names(rows: &[Value]) -> BTreeSet<String> {
    rows.iter().map(|r| r["server"]["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn git_example_serves_the_catalogue_from_this_repository() {
    let server = TestServer::start(&workspace_root().join("examples/config-git.yaml"), &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let source = server.source("seed-from-git").await.unwrap();
    assert_eq!(source["sync"]["phase"], json!("synced"), "{source}");
    assert_eq!(source["type"], json!("git"));
    let revision = source["sync"]["revision"].as_str().unwrap();
    assert!(
        revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()),
        "revision is a commit id: {revision}"
    );
    let rows = server.list_all("/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(names(&rows), seed_names());
}

#[tokio::test]
async fn multi_example_serves_each_tenant_its_own_set() {
    let server = TestServer::start(&workspace_root().join("examples/config-multi.yaml"), &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let regs = server.get_json("/v1/registries").await.unwrap();
    let counts: Vec<(String, u64)> = regs["registries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r["serverCount"].as_u64().unwrap()))
        .collect();
    let github = seed_names().iter().filter(|n| n.starts_with("io.github.")).count() as u64;
    assert_eq!(
        counts,
        vec![("databases".into(), 2), ("everything".into(), 370), ("github".into(), github), ("stacklok".into(), 12)]
    );
    let dbs = server.list_all("/registry/databases/v0.1/servers", &[], 100).await.unwrap();
    for row in &dbs {
        let tags = row["server"]["_meta"]["io.modelcontextprotocol.registry/publisher-provided"].to_string();
        assert!(tags.contains("\"database\""), "{row}");
    }
    let root = server.list_all("/v0.1/servers", &[], 100).await.unwrap();
    let everything = server.list_all("/registry/everything/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(root, everything, "the default registry is served at the root");
}

#[tokio::test]
async fn api_example_mirrors_another_instance() {
    let origin = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    origin.wait_ready().await.unwrap();
    let example = std::fs::read_to_string(workspace_root().join("examples/config-api.yaml")).unwrap();
    assert!(example.contains("endpoint: https://registry.modelcontextprotocol.io"));
    let dir = tempfile::tempdir().unwrap();
    let config =
        write_config(dir.path(), &example.replace("https://registry.modelcontextprotocol.io", &origin.base_url()))
            .unwrap();
    let mirror = TestServer::start(&config, &[]).await.unwrap();
    mirror.wait_ready().await.unwrap();
    let want = origin.list_all("/v0.1/servers", &[], 100).await.unwrap();
    let got = mirror.list_all("/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(got, want);
}
