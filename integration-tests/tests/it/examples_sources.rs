//! The git, api, multi-registry and oauth examples, each started as shipped (the api one pointed
//! at a local instance instead of the public registry, the oauth one at a local provider, since
//! tests run offline).

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use thv_testkit::{TestServer, read_json, workspace_root, write_config};

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

#[tokio::test]
async fn oauth_example_serves_each_registry_to_whom_it_may_concern() {
    use thv_testkit::oidc::{Idp, TestKey};
    let key = TestKey::rsa("example").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let example = std::fs::read_to_string(workspace_root().join("examples/config-oauth.yaml")).unwrap();
    let issuer = "https://idp.example.com/realms/registry";
    assert!(example.contains(&format!("issuerUrl: {issuer}")));
    // The example's audience is `mcp-registry`; tokens from the test provider must carry it.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &example.replace(issuer, idp.issuer())).unwrap();
    let server = TestServer::start(&config, &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let token = |extra: serde_json::Value| {
        let mut claims = idp.claims("someone", &extra);
        claims["aud"] = serde_json::json!("mcp-registry");
        key.sign(&claims).unwrap()
    };
    let member = token(serde_json::json!({}));
    let platform = token(serde_json::json!({"groups": ["platform-team"]}));
    let operator = token(serde_json::json!({"roles": ["registry-operator"]}));

    // No token: the public registry and the public paths only.
    assert_eq!(server.get("/registry/public/v0.1/servers").await.unwrap().status, 200);
    assert_eq!(server.get("/version").await.unwrap().status, 200);
    for path in ["/v0.1/servers", "/registry/everything/v0.1/servers", "/registry/platform/v0.1/servers", "/v1/me"] {
        assert_eq!(server.get(path).await.unwrap().status, 401, "{path}");
    }
    // Any valid token: the default registry too; the platform registry only with the group.
    let root = server.call("GET", "/v0.1/servers?limit=100", Some(&member)).await.unwrap();
    assert_eq!(root.status, 200);
    assert_eq!(server.call("GET", "/registry/platform/v0.1/servers", Some(&member)).await.unwrap().status, 404);
    let platform_page = server.call("GET", "/registry/platform/v0.1/servers", Some(&platform)).await.unwrap();
    assert_eq!(platform_page.status, 200);
    assert!(platform_page.body.contains("io.github."));
    // Syncs need the operator role.
    assert_eq!(server.call("POST", "/v1/sources/seed/sync", Some(&member)).await.unwrap().status, 403);
    assert!([202, 409].contains(&server.call("POST", "/v1/sources/seed/sync", Some(&operator)).await.unwrap().status));
    let me: serde_json::Value =
        serde_json::from_str(&server.call("GET", "/v1/me", Some(&operator)).await.unwrap().body).unwrap();
    assert_eq!(me["roles"], serde_json::json!(["manageSources"]));
}
