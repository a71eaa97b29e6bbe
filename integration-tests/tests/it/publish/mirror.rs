//! A second deployment mirrors a managed registry of the first through an `api` source, with and
//! without a token: every published version, then a deletion and the moved latest flag, seen by
//! an incremental (`updated_since`) sync.

use serde_json::{Value, json};
use thv_testkit::{RegistrySpec, SourceSpec, TestApp, TestServer, WAIT, wait_until};

use super::{World, doc, official, publish, version_path};

/// Every row of the mirror's registry, deleted ones included, keyed `name@version`.
async fn rows(s: &TestServer, token: Option<&str>, base: &str) -> Vec<(String, Value)> {
    let reply = s.call("GET", &format!("{base}/v0.1/servers?include_deleted=true&limit=100"), token).await.unwrap();
    let mut out: Vec<(String, Value)> = reply.json().unwrap()["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!("{}@{}", r["server"]["name"].as_str().unwrap(), r["server"]["version"].as_str().unwrap()),
                r.clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The mirror: registry `mirror` over an api source `corp` reading `endpoint`, hourly (syncs are
/// triggered by the test), with a bearer token from `token_file` when given.
fn mirror(endpoint: &str, token_file: Option<&std::path::Path>) -> TestApp {
    let mut source = SourceSpec::api("corp", endpoint).interval("1h").kind_setting("fullSyncInterval", json!("1h"));
    if let Some(file) = token_file {
        source = source.kind_setting("auth", json!({"bearerTokenFile": file}));
    }
    TestApp::new().source(source).registry(RegistrySpec::new("mirror", &["corp"]))
}

/// Triggers a sync of the mirror's source and waits until it settles after `before`.
async fn sync(m: &TestServer) -> Value {
    let before = m.source("corp").await.unwrap()["sync"]["lastAttempt"].clone();
    m.trigger_sync("corp").await.unwrap();
    m.wait_named_source("corp", "the mirror synced again", |s| {
        s["sync"]["lastAttempt"] != before && ["synced", "failed"].contains(&s["sync"]["phase"].as_str().unwrap_or(""))
    })
    .await
    .unwrap()
}

async fn mirrors_publishes_deletions_and_the_moved_flag(upstream: TestApp, token: Option<String>, w: &World) {
    let t = w.writer();
    let up = upstream.spawn().await.unwrap();
    up.wait_ready().await.unwrap();
    for (name, v) in [("io.example/mirrored", "1.0.0"), ("io.example/mirrored", "2.0.0"), ("io.example/other", "1")] {
        assert_eq!(publish(&up, Some(&t), &doc(name, v)).await.status, 200);
    }
    let dir = tempfile::tempdir().unwrap();
    let token_file = token.map(|tok| {
        let path = dir.path().join("token");
        std::fs::write(&path, tok).unwrap();
        path
    });
    let m = mirror(&format!("{}/registry/corp", up.base_url()), token_file.as_deref()).spawn().await.unwrap();
    m.wait_ready().await.unwrap();
    let want = rows(&up, Some(&t), "/registry/corp").await;
    let got = rows(&m, None, "/registry/mirror").await;
    assert_eq!(got.len(), 3);
    for ((wk, wv), (gk, gv)) in want.iter().zip(&got) {
        assert_eq!((wk, &wv["server"]), (gk, &gv["server"]), "every published version, server.json unchanged");
        assert_eq!(wv["_meta"], gv["_meta"], "{wk}: the official metadata as published");
    }

    // The latest is deleted upstream: the incremental sync brings the tombstone and the new latest.
    assert_eq!(up.call("DELETE", &version_path("io.example/mirrored", "2.0.0"), Some(&t)).await.unwrap().status, 200);
    let status = sync(&m).await;
    assert_eq!(status["sync"]["phase"], "synced", "{status}");
    let latest = m.get(&format!("/registry/mirror{}", version_path("io.example/mirrored", "latest"))).await.unwrap();
    let latest = latest.json().unwrap();
    assert_eq!(latest["server"]["version"], "1.0.0", "{latest}");
    assert_eq!(official(&latest)["isLatest"], true);
    let gone = m
        .get(&format!("/registry/mirror{}?include_deleted=true", version_path("io.example/mirrored", "2.0.0")))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(official(&gone)["status"], "deleted", "{gone}");
    assert_eq!(
        rows(&m, None, "/registry/mirror").await,
        {
            let mut up_rows = rows(&up, Some(&t), "/registry/corp").await;
            up_rows.sort_by(|a, b| a.0.cmp(&b.0));
            up_rows
        },
        "the mirror converges exactly"
    );
}

#[tokio::test]
async fn a_public_managed_registry_is_mirrored_without_a_token() {
    let w = World::start().await;
    let upstream = TestApp::new()
        .managed_source("internal")
        .registry(RegistrySpec::new("corp", &["internal"]).public())
        .default_registry("corp")
        .oauth_provider(w.idp.issuer(), json!({"manageEntries": [{"role": "writer"}]}));
    mirrors_publishes_deletions_and_the_moved_flag(upstream, None, &w).await;
}

#[tokio::test]
async fn a_private_managed_registry_is_mirrored_with_a_token_from_a_file() {
    let w = World::start().await;
    mirrors_publishes_deletions_and_the_moved_flag(w.app(), Some(w.reader()), &w).await;
}

#[tokio::test]
async fn without_its_token_a_mirror_says_the_upstream_refused_and_serves_nothing_new() {
    let w = World::start().await;
    let up = w.app().spawn().await.unwrap();
    up.wait_ready().await.unwrap();
    assert_eq!(publish(&up, Some(&w.writer()), &doc("io.example/secret", "1")).await.status, 200);
    let m = mirror(&format!("{}/registry/corp", up.base_url()), None).spawn().await.unwrap();
    let failed = wait_until("the first sync fails", WAIT, || async {
        let s = m.source("corp").await?;
        Ok((s["sync"]["phase"] == "failed").then_some(s))
    })
    .await
    .unwrap();
    let message = failed["sync"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("401"), "{message}");
    let listed = m.get("/registry/mirror/v0.1/servers").await.unwrap().json().unwrap();
    assert_eq!(listed["metadata"]["count"], 0, "{listed}");
}
