//! A broken data file never replaces the data already served, across re-reads and restarts.

// Test helpers panic on failure, like the tests calling them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use thv_testkit::{Fixture, TestServer, WAIT, first_source, server_json, wait_until};

fn catalogue() -> Value {
    json!([
        server_json("io.github.example/one", "1.0.0", "First server"),
        server_json("io.github.example/one", "1.1.0", "First server, newer"),
        server_json("io.github.example/two", "0.3.0", "Second server"),
        server_json("com.example/three", "2024.01.01", "Third server"),
        server_json("com.example/four", "4.0.0", "Fourth server"),
    ])
}

const EXPECTED_ROWS: usize = 5;

/// Every row (server and `_meta`), in order.
async fn snapshot(srv: &TestServer) -> Vec<Value> {
    srv.list_all("/v0.1/servers", &[], 2).await.unwrap()
}

fn message(source: &Value) -> &str {
    source["message"].as_str().unwrap_or_default()
}

async fn wait_failed(srv: &TestServer, what: &str) -> Value {
    srv.wait_source(&format!("source phase `failed` with a message after {what}"), |s| {
        s["phase"] == "failed" && !message(s).trim().is_empty()
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Failed syncs counted with `reason` by the server's metrics.
async fn failed_syncs(srv: &TestServer, reason: &str) -> u64 {
    let labels = format!("outcome=\"failed\",reason=\"{reason}\"}} ");
    let metrics = srv.get("/metrics").await.unwrap().body;
    metrics
        .lines()
        .filter(|l| l.starts_with("registry_syncs_total{"))
        .filter_map(|l| l.split_once(&labels).map(|(_, n)| n.trim().parse::<u64>().unwrap()))
        .sum()
}

async fn wait_synced(srv: &TestServer, what: &str) -> Value {
    srv.wait_source(&format!("source phase `synced` after {what}"), |s| s["phase"] == "synced")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn broken_file_at_reload_keeps_serving_the_last_good_data() {
    let fixture = Fixture::new("test", "200ms", &catalogue()).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();
    let synced = wait_synced(&srv, "start").await;
    assert!(synced["serverCount"].as_u64().is_some_and(|n| n > 0), "{synced}");
    let good = snapshot(&srv).await;
    assert_eq!(good.len(), EXPECTED_ROWS);

    let broken: [(&str, &[u8], &str); 4] = [
        ("invalid JSON", b"[{\"name\": \"io.github.example/one\", ", "unusable"),
        ("a document of the wrong shape", b"{\"foo\": 1}", "unusable"),
        ("an empty file", b"", "unusable"),
        ("an empty array", b"[]", "emptied"),
    ];
    for (what, bytes, reason) in broken {
        let counted_before = failed_syncs(&srv, reason).await;
        fixture.write_raw(bytes).unwrap();
        let failed = wait_failed(&srv, what).await;
        wait_until(&format!("a failed sync counted with reason `{reason}` after {what}"), WAIT, || async {
            Ok((failed_syncs(&srv, reason).await > counted_before).then_some(()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        let (status, body) = srv.readiness().await.unwrap();
        assert_eq!(status, 200, "readiness after {what}: {body}");
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(snapshot(&srv).await, good, "the catalogue changed after {what} (source: {failed})");
        let first = srv.get_json("/v0.1/servers/io.github.example%2Fone/versions/latest").await.unwrap();
        assert_eq!(first["server"]["version"], "1.1.0");

        fixture.write_data(&catalogue()).unwrap();
        wait_synced(&srv, &format!("restoring the file after {what}")).await;
        assert_eq!(snapshot(&srv).await, good, "the catalogue changed after restoring from {what}");
    }
}

#[tokio::test]
async fn restart_serves_the_stored_data_when_the_file_is_gone_or_broken() {
    let fixture = Fixture::new("test", "200ms", &catalogue()).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();
    wait_synced(&srv, "start").await;
    let good = snapshot(&srv).await;
    assert_eq!(good.len(), EXPECTED_ROWS);
    srv.stop().await.unwrap();

    // Missing file.
    fixture.remove_data().unwrap();
    let srv = fixture.start().await.unwrap();
    assert_eq!(snapshot(&srv).await, good, "the stored data is not served right after a restart");
    let failed = wait_failed(&srv, "restarting without the file").await;
    let path = fixture.data_file();
    assert!(message(&failed).contains(path.to_str().unwrap()), "the message does not name the file: {failed}");
    let (status, body) = srv.readiness().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(snapshot(&srv).await, good);
    srv.stop().await.unwrap();

    // Broken file.
    fixture.write_raw(b"{ not json").unwrap();
    let srv = fixture.start().await.unwrap();
    assert_eq!(snapshot(&srv).await, good, "the stored data is not served right after a restart");
    wait_failed(&srv, "restarting with a broken file").await;
    let (status, body) = srv.readiness().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(snapshot(&srv).await, good);

    // And it recovers.
    fixture.write_data(&catalogue()).unwrap();
    wait_synced(&srv, "restoring the file").await;
    assert_eq!(snapshot(&srv).await, good);
}

#[tokio::test]
async fn readiness_names_the_problem_when_the_source_never_succeeded() {
    let fixture = Fixture::without_data("test", "upstream", "200ms").unwrap();
    let srv = fixture.start().await.unwrap();
    let path = fixture.data_file();
    let path = path.to_str().unwrap();

    // Before a definite outcome: 503 and not ready; afterwards: 200 with the failure counted
    // (the source is `failed`, or `syncing` again when the next attempt, 200 ms later, has
    // started: a loaded machine may poll only then).
    let (status, body) = wait_until("the first failed attempt", WAIT, || async {
        let (status, body) = srv.readiness().await?;
        assert!(status == 200 || status == 503, "readiness status {status}: {body}");
        assert_eq!(body["status"] == "ready", status == 200, "status code and body disagree: {status} {body}");
        let source = first_source(&body)?;
        if source["phase"] == "failed" || source["attemptCount"].as_u64().unwrap_or(0) > 0 {
            return Ok(Some((status, body)));
        }
        assert_eq!(status, 503, "ready before any outcome: {body}");
        assert_eq!(body["registries"][0]["ready"], false, "{body}");
        Ok(None)
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nserver output:\n{}", srv.stderr()));

    assert_eq!(status, 200, "a definite failure is an outcome: {body}");
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["registries"][0]["ready"], true, "{body}");
    let source = first_source(&body).unwrap();
    assert!(message(&source).contains(path), "the message does not name the file {path}: {source}");
    assert_eq!(source["serverCount"], 0, "{source}");

    let list = srv.get_json("/v0.1/servers").await.unwrap();
    assert_eq!(list["servers"], json!([]), "{list}");
    assert_eq!(list["metadata"]["count"], 0, "{list}");

    // Once the file appears, it is served.
    fixture.write_data(&catalogue()).unwrap();
    wait_synced(&srv, "creating the file").await;
    wait_until("the new file to be served", WAIT, || async {
        let rows = srv.list_all("/v0.1/servers", &[], 100).await?;
        Ok((rows.len() == EXPECTED_ROWS).then_some(()))
    })
    .await
    .unwrap();
    let (status, body) = srv.readiness().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(first_source(&body).unwrap()["phase"], "synced", "{body}");
}
