//! Federation: instance A serves a catalogue; instance B mirrors it through an `api` source and
//! serves exactly the same entries, across several pages, and converges after A changes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use thv_testkit::{Fixture, OFFICIAL, RegistrySpec, SourceSpec, TestApp, TestServer, server_json};

/// 130 servers, some with several versions: more than one page of 100 for the mirror.
fn catalogue() -> Value {
    let mut servers = Vec::new();
    for i in 0..130 {
        servers.push(server_json(&format!("io.example/server-{i:03}"), "1.0.0", &format!("Server {i}")));
        if i % 10 == 0 {
            servers.push(server_json(&format!("io.example/server-{i:03}"), "1.1.0", &format!("Server {i}, newer")));
        }
    }
    servers.push(server_json("io.example/dated", "2024.01.01", "calendar versions"));
    Value::Array(servers)
}

/// Every row of a server's full list, keyed by name@version.
async fn rows(server: &TestServer, base: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let all = server.list_all(&format!("{base}/v0.1/servers"), &[("include_deleted", "true")], 100).await?;
    Ok(all
        .into_iter()
        .map(|r| {
            (
                format!(
                    "{}@{}",
                    r["server"]["name"].as_str().unwrap_or(""),
                    r["server"]["version"].as_str().unwrap_or("")
                ),
                r,
            )
        })
        .collect())
}

/// A registry `mirror` over one API source, `upstream`, reading `endpoint` (hourly).
fn mirror(endpoint: &str) -> TestApp {
    let upstream = SourceSpec::api("upstream", endpoint)
        .format("upstream")
        .kind_setting("fullSyncInterval", json!("1h"))
        .interval("1h");
    TestApp::new().source(upstream).registry(RegistrySpec::new("mirror", &["upstream"]))
}

#[tokio::test]
async fn a_mirror_serves_exactly_what_the_upstream_serves_and_converges() {
    let a_fixture = Fixture::new("origin", "200ms", &catalogue()).unwrap();
    let a = a_fixture.start().await.unwrap();
    a.wait_ready().await.unwrap();

    let b = mirror(&a.base_url()).spawn().await.unwrap();
    b.wait_ready().await.unwrap();

    let want = rows(&a, "").await.unwrap();
    assert_eq!(want.len(), 144);
    let got = rows(&b, "").await.unwrap();
    assert_eq!(got, want, "the mirror serves the same rows: server.json, status, timestamps and isLatest");
    let first = b.source("upstream").await.unwrap();
    assert_eq!(first["sync"]["phase"], json!("synced"));
    assert_eq!(first["sync"]["serverCount"], json!(131));

    // A changes: a version removed, a new latest version, a changed description.
    let mut next = catalogue().as_array().unwrap().clone();
    next.retain(|s| !(s["name"] == json!("io.example/server-010") && s["version"] == json!("1.1.0")));
    next.push(server_json("io.example/server-020", "2.0.0", "Server 20, major"));
    next[5]["description"] = json!("Server 5, edited");
    let a_revision = a.source_status().await.unwrap()["revision"].clone();
    a_fixture.write_data(&Value::Array(next)).unwrap();
    a.wait_source("A re-read its file", |s| s["revision"] != a_revision && s["phase"] == "synced").await.unwrap();

    let before = b.source("upstream").await.unwrap()["sync"]["lastSyncTime"].clone();
    b.trigger_sync("upstream").await.unwrap();
    b.wait_named_source("upstream", "B synced again", |s| s["sync"]["lastSyncTime"] != before).await.unwrap();

    let want = rows(&a, "").await.unwrap();
    let got = rows(&b, "").await.unwrap();
    let differ: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .map(|(k, v)| {
            format!("{k}: upstream {} mirror {}", v["_meta"], got.get(k).map_or(json!(null), |g| g["_meta"].clone()))
        })
        .collect();
    assert!(differ.is_empty(), "the mirror converges, tombstones and the moved latest flag included: {differ:#?}");
    assert_eq!(got, want);
    assert_eq!(got["io.example/server-010@1.1.0"]["_meta"][OFFICIAL]["status"], json!("deleted"));
    assert_eq!(got["io.example/server-010@1.0.0"]["_meta"][OFFICIAL]["isLatest"], json!(true));
    assert_eq!(got["io.example/server-020@2.0.0"]["_meta"][OFFICIAL]["isLatest"], json!(true));
    assert_eq!(got["io.example/server-020@1.1.0"]["_meta"][OFFICIAL]["isLatest"], json!(false));
    let latest_a = a.list_all("/v0.1/servers", &[("version", "latest")], 100).await.unwrap();
    let latest_b = b.list_all("/v0.1/servers", &[("version", "latest")], 100).await.unwrap();
    assert_eq!(latest_a, latest_b);
}

#[tokio::test]
async fn a_mirror_can_follow_one_registry_of_a_multi_registry_instance() {
    let a_fixture = Fixture::new("origin", "1h", &catalogue()).unwrap();
    let a = a_fixture.start().await.unwrap();
    a.wait_ready().await.unwrap();
    let b = mirror(&format!("{}/registry/origin", a.base_url())).spawn().await.unwrap();
    b.wait_ready().await.unwrap();
    assert_eq!(rows(&b, "/registry/mirror").await.unwrap(), rows(&a, "/registry/origin").await.unwrap());
}
