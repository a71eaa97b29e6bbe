//! Deployed MCP servers through the binary, against a stub Kubernetes API server on 127.0.0.1
//! serving recorded `MCPServer` lists, reached through a kubeconfig.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::{Arc, Mutex};

use poem::{EndpointExt, Response, Route, handler, web::Data};
use serde_json::{Value, json};
use thv_integration_tests::{Loopback, TestServer, workspace_root, write_config};

type Failing = Arc<Mutex<Option<u16>>>;

#[handler]
#[expect(clippy::needless_pass_by_value, reason = "poem extractors are taken by value")]
fn list(req: &poem::Request, failing: Data<&Failing>) -> Response {
    if let Some(code) = *failing.lock().unwrap() {
        return Response::builder()
            .status(poem::http::StatusCode::from_u16(code).unwrap())
            .content_type("application/json")
            .body(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "boom", "code": code})
                    .to_string(),
            );
    }
    let fixture =
        std::fs::read_to_string(workspace_root().join("adapters/tests/data/kubernetes/mcpservers.json")).unwrap();
    let mut all: Value = serde_json::from_str(&fixture).unwrap();
    if let Some(ns) = req.uri().path().split("/namespaces/").nth(1).and_then(|r| r.split('/').next()) {
        all["items"].as_array_mut().unwrap().retain(|i| i["metadata"]["namespace"] == ns);
    }
    Response::builder().content_type("application/json").body(all.to_string())
}

async fn stub() -> (String, Failing) {
    let failing: Failing = Arc::default();
    let listener = Loopback::bind().await.unwrap();
    let port = listener.addr.port();
    let app = Route::new()
        .at("/apis/toolhive.stacklok.dev/v1alpha1/mcpservers", poem::get(list))
        .at("/apis/toolhive.stacklok.dev/v1alpha1/namespaces/:ns/mcpservers", poem::get(list))
        .data(failing.clone());
    listener.serve(app);
    (format!("http://127.0.0.1:{port}"), failing)
}

fn config(dir: &std::path::Path, kube: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "registryName: seed\nsource:\n  file: {{path: {}}}\nsyncPolicy: {{interval: 1h}}\n{kube}",
            workspace_root().join("examples/data/seed-358-servers.json").display()
        ),
    )
    .unwrap()
}

fn kubeconfig(dir: &std::path::Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: {server}\ncontexts:\n- name: stub\n  context:\n    cluster: stub\n    user: u\ncurrent-context: stub\nusers:\n- name: u\n  user:\n    token: secret-token\n"
        ),
    )
    .unwrap();
    path
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
    let (url, failing) = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &url);
    let cfg = config(dir.path(), &format!("kubernetes:\n  kubeconfig: {}\n  timeout: 2s\n", kc.display()));
    let server = TestServer::start(&cfg, &[]).await.unwrap();
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

    *failing.lock().unwrap() = Some(500);
    let err = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(err.status, 503);
    assert!(err.content_type().starts_with("application/problem+json"));
    *failing.lock().unwrap() = Some(403);
    let err = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(err.status, 502);
    assert!(!err.body.contains("secret-token"));
}

#[tokio::test]
async fn a_namespace_list_limits_what_is_listed() {
    let (url, _) = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &url);
    let cfg =
        config(dir.path(), &format!("kubernetes:\n  kubeconfig: {}\n  namespaces: [toolhive-system]\n", kc.display()));
    let server = TestServer::start(&cfg, &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let body = server.get_json("/api/v0/deployed").await.unwrap();
    assert_eq!(names(&body), vec!["toolhive-system/fetch"]);
}

#[tokio::test]
async fn without_kubernetes_the_endpoints_say_so_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path(), ""), &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let started = std::time::Instant::now();
    let reply = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(reply.status, 501);
    assert!(reply.body.contains("kubernetes"), "{}", reply.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // A configured but unusable cluster (missing kubeconfig) is a clear 503, and start-up goes on.
    let dir2 = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir2.path(), "kubernetes:\n  kubeconfig: /nonexistent/kubeconfig\n"), &[])
        .await
        .unwrap();
    server.wait_ready().await.unwrap();
    let reply = server.get("/api/v0/deployed").await.unwrap();
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("/nonexistent/kubeconfig"), "{}", reply.body);
}
