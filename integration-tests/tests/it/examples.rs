//! The bundled examples serve exactly the catalogues they point at.

// Test helpers panic on failure, like the tests calling them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::Value;
use thv_testkit::{TestServer, name_version, official, read_json, workspace_root};

#[tokio::test]
async fn seed_example_serves_every_server_exactly_once() {
    let root = workspace_root();
    let expected = read_json(&root.join("examples/data/seed-358-servers.json")).unwrap();
    let expected = expected.as_array().unwrap();
    assert_eq!(expected.len(), 358);

    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();

    let pages = srv.list_pages("/v0.1/servers", &[], 7).await.unwrap();
    assert_eq!(pages.len(), 358usize.div_ceil(7), "number of pages with limit=7");
    let rows: Vec<Value> = pages.into_iter().flatten().collect();

    // One row per version, ordered by (name, version) byte-wise.
    let keys: Vec<(String, String)> = rows.iter().map(name_version).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "rows are not ordered by (name, version)");

    let mut served: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for row in &rows {
        served.entry(name_version(row).0).or_default().push(&row["server"]);
        let meta = official(row);
        assert_eq!(meta["status"], "active", "{row}");
        assert_eq!(meta["isLatest"], true, "{row}");
    }
    for entry in expected {
        let name = entry["name"].as_str().unwrap();
        let got = served.get(name).unwrap_or_else(|| panic!("{name} is not served"));
        assert_eq!(got.len(), 1, "{name} is served {} times", got.len());
        assert_eq!(got[0], entry, "{name} differs from the file");
    }
    assert_eq!(rows.len(), expected.len(), "more rows served than in the file");

    // The aliases give the same first page.
    let first = srv.get_json("/v0.1/servers?limit=7").await.unwrap();
    assert_eq!(first["servers"].as_array().unwrap().len(), 7);
    for alias in ["/v0/servers", "/registry/seed/v0.1/servers", "/registry/seed/v0/servers"] {
        let page = srv.get_json(&format!("{alias}?limit=7")).await.unwrap();
        assert_eq!(page, first, "{alias} differs from /v0.1/servers");
    }
    let default_page = srv.get_json("/v0.1/servers").await.unwrap();
    assert_eq!(default_page["servers"].as_array().unwrap().len(), 30, "default limit");
    assert_eq!(default_page, srv.get_json("/v0/servers").await.unwrap());
    assert_eq!(default_page, srv.get_json("/registry/seed/v0.1/servers").await.unwrap());
}

#[tokio::test]
async fn toolhive_example_serves_the_converted_catalogue() {
    let root = workspace_root();
    let expected = read_json(&root.join("domain/tests/data/upstream-registry.json")).unwrap();
    let expected: BTreeMap<String, Value> = expected["data"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(expected.len(), 12);

    let srv = TestServer::start(&root.join("examples/config-toolhive.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();

    let rows = srv.list_all("/v0.1/servers", &[], 5).await.unwrap();
    assert_eq!(rows.len(), 12, "rows: {:?}", rows.iter().map(name_version).collect::<Vec<_>>());
    let served: BTreeMap<String, Value> = rows.iter().map(|r| (name_version(r).0, r["server"].clone())).collect();
    assert_eq!(served.len(), 12, "duplicate names served");
    for (name, server) in &expected {
        assert_eq!(served.get(name), Some(server), "{name} differs from the expected conversion");
    }

    let fetch = &expected["io.github.stacklok/fetch"];
    let latest = srv.get_json("/v0.1/servers/io.github.stacklok%2Ffetch/versions/latest").await.unwrap();
    assert_eq!(&latest["server"], fetch);
    assert_eq!(official(&latest)["isLatest"], true);
    assert_eq!(official(&latest)["status"], "active");

    let version = fetch["version"].as_str().unwrap();
    let exact = srv.get_json(&format!("/v0.1/servers/io.github.stacklok%2Ffetch/versions/{version}")).await.unwrap();
    assert_eq!(exact, latest);

    let versions = srv.get_json("/v0.1/servers/io.github.stacklok%2Ffetch/versions").await.unwrap();
    assert_eq!(versions["servers"].as_array().unwrap().len(), 1, "{versions}");
    assert_eq!(versions["servers"][0], latest);
    // An unencoded `/` in the name is accepted too.
    let unencoded = srv.get_json("/v0.1/servers/io.github.stacklok/fetch/versions").await.unwrap();
    assert_eq!(unencoded, versions);
    let unencoded = srv.get_json("/v0/servers/io.github.stacklok/fetch/versions/latest").await.unwrap();
    assert_eq!(unencoded, latest);

    let legacy = srv.get_json("/api/v0/servers/io.github.stacklok%2Ffetch").await.unwrap();
    assert_eq!(legacy["server"], *fetch, "legacy detail: {legacy}");
    assert_eq!(official(&legacy)["isLatest"], true);

    let legacy_list = srv.get_json("/api/v0/servers?limit=100").await.unwrap();
    assert_eq!(legacy_list["servers"].as_array().unwrap().len(), 12, "legacy list: {legacy_list}");
}

/// `/readiness` says ready only once the catalogue is served: the first 200 is followed by the
/// full catalogue, and its registry `serverCount` agrees with its source.
#[tokio::test]
async fn ready_means_the_catalogue_is_served() {
    let root = workspace_root();
    for attempt in 1..=3 {
        let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
        let started = std::time::Instant::now();
        let ready = loop {
            let (status, body) = srv.readiness().await.unwrap();
            if status == 200 {
                break body;
            }
            assert!(started.elapsed() < thv_testkit::WAIT, "never ready: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        };
        let page = srv.get_json("/v0.1/servers?limit=1").await.unwrap();
        assert_eq!(page["metadata"]["count"], 1, "attempt {attempt}: ready ({ready}) but serving {page}");
        let registry = &ready["registries"][0];
        assert_eq!(registry["serverCount"], 358, "attempt {attempt}: registry serverCount when ready: {ready}");
        assert_eq!(registry["sources"][0]["serverCount"], 358, "attempt {attempt}: {ready}");
    }
}
