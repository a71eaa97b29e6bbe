//! Deployed MCP servers through the binary, against a stub Kubernetes API server on 127.0.0.1
//! serving recorded `MCPServer` lists, reached through a kubeconfig.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::path::Path;

use serde_json::{Value, json};
use thv_testkit::kubernetes::{KUBE_TOKEN, KubeStub};
use thv_testkit::{SourceSpec, TestApp, workspace_root};

/// Registry `seed` over the bundled seed catalogue (hourly).
fn seed() -> TestApp {
    let seed = workspace_root().join("examples/data/seed-358-servers.json");
    TestApp::new().source(SourceSpec::file("seed", &seed).interval("1h"))
}

/// [`seed`] reading the cluster of `kube` through a kubeconfig in the app's directory, with the
/// other `kubernetes` settings of `settings`.
fn seed_on(kube: &KubeStub, settings: Value) -> TestApp {
    let app = seed();
    let mut section = settings;
    section["kubeconfig"] = json!(kube.kubeconfig(app.dir()).unwrap());
    app.set("kubernetes", section)
}

fn names(body: &Value) -> Vec<String> {
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}/{}", s["namespace"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn deployed_servers_are_listed_filtered_and_failures_are_clear() {
    let kube = KubeStub::start().await.unwrap();
    // Every request lists the cluster (no cache), so failures show at once.
    let server = seed_on(&kube, json!({"timeout": "2s", "cacheTtl": "0s"})).spawn().await.unwrap();
    server.wait_ready().await.unwrap();

    let all = server.get_json("/api/v0/deployed").await.unwrap();
    assert_eq!(names(&all), vec!["team-a/github", "team-a/osv", "toolhive-system/fetch"]);
    assert_eq!(all["count"], 3);
    let fetch = all["servers"].as_array().unwrap().iter().find(|s| s["name"] == "fetch").unwrap();
    assert_eq!(fetch["status"], "Running");
    assert_eq!(fetch["ready"], true);
    assert_eq!(fetch["transport"], "streamable-http");
    assert!(fetch["image"].as_str().unwrap().contains("gofetch"));
    assert!(fetch["endpoint"].as_str().unwrap().starts_with("http"));

    let one = server.get_json("/api/v0/deployed/osv").await.unwrap();
    assert_eq!(names(&one), vec!["team-a/osv"]);
    assert_eq!(one["servers"][0]["ready"], false);
    let missing = server.get("/api/v0/deployed/nope").await.unwrap();
    assert_eq!(missing.status, 404);

    for path in ["/registry/seed/v0.1/x/dev.toolhive/deployed", "/registry/seed/v0/x/dev.toolhive/deployed"] {
        assert_eq!(server.get_json(path).await.unwrap(), all, "{path}");
    }
    assert_eq!(server.get("/registry/nope/v0.1/x/dev.toolhive/deployed").await.unwrap().status, 404);

    kube.fail_with(Some(500));
    let err = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(err.status, 503);
    assert!(err.content_type().starts_with("application/problem+json"));
    kube.fail_with(Some(403));
    let err = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(err.status, 502);
    assert!(!err.body.contains(KUBE_TOKEN));
}

#[tokio::test]
async fn callers_share_one_listing_of_the_cluster_per_cache_ttl() {
    let kube = KubeStub::start().await.unwrap();
    let server = seed_on(&kube, json!({"cacheTtl": "1h"})).spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let paths = ["/api/v0/deployed", "/api/v0/deployed/osv", "/registry/seed/v0.1/x/dev.toolhive/deployed"];
    let replies = futures::future::join_all((0..30).map(|i| server.get(paths[i % paths.len()]))).await;
    for reply in replies {
        assert_eq!(reply.unwrap().status, 200);
    }
    assert_eq!(kube.lists(), 1, "30 concurrent requests, one listing");
    // A cluster that starts failing is not asked again until the listing expires.
    kube.fail_with(Some(500));
    assert_eq!(server.get("/api/v0/deployed").await.unwrap().status, 200);
    assert_eq!(kube.lists(), 1);
}

#[tokio::test]
async fn a_namespace_list_limits_what_is_listed() {
    let kube = KubeStub::start().await.unwrap();
    let server = seed_on(&kube, json!({"namespaces": ["toolhive-system"]})).spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let body = server.get_json("/api/v0/deployed").await.unwrap();
    assert_eq!(names(&body), vec!["toolhive-system/fetch"]);
}

#[tokio::test]
async fn without_kubernetes_the_endpoints_say_so_at_once() {
    let server = seed().spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let started = std::time::Instant::now();
    let reply = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(reply.status, 501);
    assert!(reply.body.contains("kubernetes"), "{}", reply.body);
    // At once: no cluster is asked (a hang would be the kube client's 10 s timeout or more).
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    // A configured but unusable cluster (missing kubeconfig) is a clear 503, and start-up goes on.
    let server = seed().kubeconfig(Path::new("/nonexistent/kubeconfig")).spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let reply = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("/nonexistent/kubeconfig"), "{}", reply.body);
}
