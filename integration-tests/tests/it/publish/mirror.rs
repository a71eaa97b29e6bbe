//! A second deployment mirrors a managed registry of the first through an `api` source, with and
//! without a token: every published version, then a deletion and the moved latest flag, seen by
//! an incremental (`updated_since`) sync; a refused token fails the sync naming the 401 while the
//! mirror keeps serving what it had.

use std::sync::{Arc, Mutex, PoisonError};

use poem::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use thv_testkit::{Loopback, RegistrySpec, SourceSpec, TestApp, TestServer, WAIT, wait_until};

use super::{World, doc, official, publish, version_path};

/// Every row of a registry, deleted ones included, keyed `name@version` and sorted by the key.
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

/// The `name@version` keys of `rows`.
fn keys(rows: &[(String, Value)]) -> Vec<&str> {
    rows.iter().map(|(k, _)| k.as_str()).collect()
}

/// The mirror: registry `mirror` over an api source `corp` reading `endpoint`, hourly with an
/// hourly full run (so every sync the test triggers after the first is incremental), with a
/// bearer token from `token_file` when given.
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

/// A tap between the mirror and server 1: a real HTTP hop on 127.0.0.1 that forwards every
/// request unchanged (method, path, query, `Authorization`) and answers with server 1's status,
/// content type and body. It records each request's path and query, so the test sees which reads
/// the mirror made (server 1's own request log names the route, not the query).
struct Tap {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tap {
    async fn start(target: String) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = Loopback::bind().await.unwrap();
        let url = listener.url();
        let client = reqwest::Client::builder().timeout(WAIT).no_proxy().build().unwrap();
        let recorded = seen.clone();
        let task = listener.serve(poem::endpoint::make(move |req: poem::Request| {
            let (client, target, recorded) = (client.clone(), target.clone(), recorded.clone());
            async move {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
                recorded.lock().unwrap_or_else(PoisonError::into_inner).push(path.clone());
                let mut out = client.request(req.method().clone(), format!("{target}{path}"));
                if let Some(auth) = req.headers().get(AUTHORIZATION) {
                    out = out.header(AUTHORIZATION, auth.clone());
                }
                let answer = async {
                    let reply = out.send().await?;
                    let status = reply.status();
                    let content_type = reply.headers().get(CONTENT_TYPE).cloned();
                    Ok::<_, reqwest::Error>((status, content_type, reply.bytes().await?))
                };
                match answer.await {
                    Ok((status, content_type, body)) => {
                        let mut resp = poem::Response::builder().status(status);
                        if let Some(ct) = content_type {
                            resp = resp.header(CONTENT_TYPE, ct);
                        }
                        resp.body(body)
                    }
                    Err(e) => poem::Response::builder()
                        .status(poem::http::StatusCode::BAD_GATEWAY)
                        .body(format!("the tap cannot reach server 1: {e}")),
                }
            }
        }));
        Self { url, seen, task }
    }

    /// The `updated_since` of every request since the last call (`None` where a request had
    /// none), decoded.
    fn take_updated_since(&self) -> Vec<Option<String>> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
            .iter()
            .map(|path| {
                let url = reqwest::Url::parse(&format!("http://tap{path}")).unwrap();
                url.query_pairs().find(|(k, _)| k == "updated_since").map(|(_, v)| v.into_owned())
            })
            .collect()
    }
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
    let tap = Tap::start(up.base_url()).await;
    let m = mirror(&format!("{}/registry/corp", tap.url), token_file.as_deref()).spawn().await.unwrap();
    m.wait_ready().await.unwrap();
    let want = rows(&up, Some(&t), "/registry/corp").await;
    let got = rows(&m, None, "/registry/mirror").await;
    assert_eq!(keys(&got), ["io.example/mirrored@1.0.0", "io.example/mirrored@2.0.0", "io.example/other@1"]);
    for ((wk, wv), (gk, gv)) in want.iter().zip(&got) {
        assert_eq!((wk, &wv["server"]), (gk, &gv["server"]), "every published version, server.json unchanged");
        assert_eq!(wv["_meta"], gv["_meta"], "{wk}: the official metadata as published");
    }
    let first = tap.take_updated_since();
    assert!(!first.is_empty() && first.iter().all(Option::is_none), "the first sync is a full read: {first:?}");
    // The revision the incremental run will send: the newest `updatedAt` server 1 gave.
    let revision = m.source("corp").await.unwrap()["sync"]["revision"].as_str().unwrap().to_owned();
    let newest = want.iter().map(|(_, r)| official(r)["updatedAt"].as_str().unwrap()).max().unwrap();
    assert_eq!(revision, newest);

    // The latest is deleted upstream: the incremental sync brings the tombstone and the new latest.
    assert_eq!(up.call("DELETE", &version_path("io.example/mirrored", "2.0.0"), Some(&t)).await.unwrap().status, 200);
    let status = sync(&m).await;
    assert_eq!(status["sync"]["phase"], "synced", "{status}");
    let second = tap.take_updated_since();
    assert!(
        !second.is_empty() && second.iter().all(|s| s.as_deref() == Some(revision.as_str())),
        "the second sync asks only for what changed after {revision}: {second:?}"
    );
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
    assert_eq!(official(&gone)["isLatest"], false, "{gone}");
    assert_eq!(
        rows(&m, None, "/registry/mirror").await,
        rows(&up, Some(&t), "/registry/corp").await,
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

#[tokio::test]
async fn a_refused_token_fails_the_sync_naming_the_401_and_the_mirror_keeps_what_it_had() {
    let w = World::start().await;
    let t = w.writer();
    let up = w.app().spawn().await.unwrap();
    up.wait_ready().await.unwrap();
    assert_eq!(publish(&up, Some(&t), &doc("io.example/kept", "1")).await.status, 200);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, w.reader()).unwrap();
    let m = mirror(&format!("{}/registry/corp", up.base_url()), Some(&token_file)).spawn().await.unwrap();
    m.wait_ready().await.unwrap();
    let had = rows(&m, None, "/registry/mirror").await;
    assert_eq!(keys(&had), ["io.example/kept@1"]);

    // The file now holds a token server 1 refuses; a new version is published meanwhile.
    std::fs::write(&token_file, "revoked").unwrap();
    assert_eq!(publish(&up, Some(&t), &doc("io.example/kept", "2")).await.status, 200);
    let failed = sync(&m).await;
    assert_eq!(failed["sync"]["phase"], "failed", "{failed}");
    let message = failed["sync"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401") && message.contains("bearer token"), "{message}");
    assert!(!message.contains("revoked"), "the token is never shown: {message}");
    assert_eq!(rows(&m, None, "/registry/mirror").await, had, "the mirror keeps serving what it had");
    let latest = m.get(&format!("/registry/mirror{}", version_path("io.example/kept", "latest"))).await.unwrap();
    assert_eq!(latest.json().unwrap()["server"]["version"], "1");

    // A current token again: the next sync brings the new version.
    std::fs::write(&token_file, w.reader()).unwrap();
    let synced = sync(&m).await;
    assert_eq!(synced["sync"]["phase"], "synced", "{synced}");
    assert_eq!(rows(&m, None, "/registry/mirror").await, rows(&up, Some(&t), "/registry/corp").await);
}
