//! Git sources end to end through the binary, on a real repository the test creates with `git`:
//! a branch is tracked, a tag and a commit stay put, and a missing path, a bad ref or an
//! unreachable repository each say so while the last good data stays served.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::path::Path;

use serde_json::{Value, json};
use thv_testkit::git::git;
use thv_testkit::{RegistrySpec, SourceSpec, TestApp, TestServer, server_json};

fn commit(repo: &Path, servers: &Value, message: &str) -> String {
    std::fs::write(repo.join("registry.json"), serde_json::to_vec_pretty(servers).unwrap()).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

fn versions(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}@{}", r["server"]["name"].as_str().unwrap(), r["server"]["version"].as_str().unwrap()))
        .collect()
}

async fn resync(server: &TestServer, source: &str) -> Value {
    let before = server.source(source).await.unwrap()["sync"]["lastAttempt"].clone();
    server.trigger_sync(source).await.unwrap();
    server
        .wait_named_source(source, "the sync finished", |s| {
            s["sync"]["lastAttempt"] != before && s["sync"]["phase"] != "syncing"
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn branches_track_pins_stay_and_failures_keep_the_data() {
    let app = TestApp::new();
    let repo = app.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let first = commit(&repo, &json!([server_json("io.git/app", "1.0.0", "first")]), "first");
    git(&repo, &["tag", "v1"]);
    let url = format!("file://{}", repo.display());
    let source = |name: &str| SourceSpec::git(name, &url, "main", "registry.json").interval("1h");
    let app = app
        .source(source("tracking"))
        .source(source("tagged").pin("tag", "v1"))
        .source(source("pinned").pin("commit", &first[..10]))
        .registry(RegistrySpec::new("tracking", &["tracking"]))
        .registry(RegistrySpec::new("tagged", &["tagged"]))
        .registry(RegistrySpec::new("pinned", &["pinned"]));
    let server = app.spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    for reg in ["tracking", "tagged", "pinned"] {
        let rows = server.list_all(&format!("/registry/{reg}/v0.1/servers"), &[], 100).await.unwrap();
        assert_eq!(versions(&rows), vec!["io.git/app@1.0.0"], "{reg}");
        assert_eq!(server.source(reg).await.unwrap()["sync"]["revision"], json!(first), "{reg}");
    }

    // A new commit on the branch: tracked by the branch, not by the tag or the commit.
    let second = commit(
        &repo,
        &json!([server_json("io.git/app", "1.0.0", "first"), server_json("io.git/app", "2.0.0", "second")]),
        "second",
    );
    for reg in ["tracking", "tagged", "pinned"] {
        resync(&server, reg).await;
    }
    let tracking = server.list_all("/registry/tracking/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(versions(&tracking), vec!["io.git/app@1.0.0", "io.git/app@2.0.0"]);
    assert_eq!(server.source("tracking").await.unwrap()["sync"]["revision"], json!(second));
    for reg in ["tagged", "pinned"] {
        let rows = server.list_all(&format!("/registry/{reg}/v0.1/servers"), &[], 100).await.unwrap();
        assert_eq!(versions(&rows), vec!["io.git/app@1.0.0"], "{reg} stays put");
        assert_eq!(server.source(reg).await.unwrap()["sync"]["revision"], json!(first), "{reg}");
    }

    // The file disappears from the branch.
    git(&repo, &["rm", "-q", "registry.json"]);
    std::fs::write(repo.join("README"), "moved").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "remove"]);
    let status = resync(&server, "tracking").await;
    let message = status["sync"]["message"].as_str().unwrap();
    assert_eq!(status["sync"]["phase"], json!("failed"));
    assert!(message.contains("registry.json") && message.contains("not found"), "{message}");
    assert_eq!(
        versions(&server.list_all("/registry/tracking/v0.1/servers", &[], 100).await.unwrap()),
        versions(&tracking)
    );

    // The branch goes away.
    git(&repo, &["branch", "-q", "-m", "main", "renamed"]);
    let status = resync(&server, "tracking").await;
    let message = status["sync"]["message"].as_str().unwrap();
    assert!(message.contains("main") && message.contains("does not exist"), "{message}");
    assert_eq!(
        versions(&server.list_all("/registry/tracking/v0.1/servers", &[], 100).await.unwrap()),
        versions(&tracking)
    );

    // The repository becomes unreachable.
    std::fs::rename(&repo, app.path("gone")).unwrap();
    let status = resync(&server, "tracking").await;
    let message = status["sync"]["message"].as_str().unwrap();
    assert_eq!(status["sync"]["phase"], json!("failed"));
    assert!(message.contains(&url), "{message}");
    assert_eq!(
        versions(&server.list_all("/registry/tracking/v0.1/servers", &[], 100).await.unwrap()),
        versions(&tracking)
    );
    assert_eq!(server.source("pinned").await.unwrap()["sync"]["phase"], json!("synced"));
}
