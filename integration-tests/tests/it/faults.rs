//! An upstream that misbehaves in every way we know: each fault leaves the previous data served,
//! a status that says what went wrong, retries backing off, and the other sources syncing on time.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use thv_testkit::upstream::{Mode, Upstream, row};
use thv_testkit::{RegistrySpec, SourceSpec, TestApp, TestServer, server_json};

fn upstream_rows() -> Vec<Value> {
    (0..150).map(|i| row(&format!("io.up/s{i:03}"), "1.0.0", "2025-01-01T00:00:00Z", "active")).collect()
}

/// `flaky` syncs every 5 s: its retry backoff (1 s, 2 s, 4 s…) is capped by that interval, and a
/// requested sync waits for the backoff, so the six faults in a row below stay quick.
async fn start() -> (Upstream, TestServer) {
    let upstream = Upstream::start(upstream_rows()).await.unwrap();
    let app = TestApp::new();
    app.write_json("local.json", &json!([server_json("io.local/one", "1.0.0", "local")]));
    let flaky = SourceSpec::api("flaky", &upstream.base_url())
        .format("upstream")
        .kind_setting("timeout", json!("1s"))
        .kind_setting("maxPages", json!(5))
        .kind_setting("maxBytes", json!(1_000_000))
        .kind_setting("fullSyncInterval", json!("1s"))
        .interval("5s");
    let app = app
        .source(flaky)
        .file_source("local", "local.json")
        .change_source("local", |s| s.interval("300ms"))
        .registry(RegistrySpec::new("all", &["flaky", "local"]))
        .default_registry("all");
    let server = app.spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    (upstream, server)
}

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn every_upstream_fault_keeps_the_previous_data_and_says_why() {
    let (upstream, server) = start().await;
    let good = server.list_all("/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(good.len(), 151);

    let faults = [
        (Mode::Status(500), "500"),
        (Mode::Slow(Duration::from_secs(3)), "timed out"),
        (Mode::Truncated, "not a server list"),
        (Mode::RepeatCursor, "repeats"),
        (Mode::EndlessCursor, "more than 5 pages"),
        (Mode::Huge(3_000_000), "1000000"),
    ];
    for (mode, says) in faults {
        upstream.set_mode(mode.clone());
        let attempts_before = server.source("flaky").await.unwrap()["sync"]["attemptCount"].as_u64().unwrap_or(0);
        server.trigger_sync("flaky").await.unwrap();
        let status = server
            .wait_named_source("flaky", "the fault is reported", |s| {
                s["sync"]["phase"] == "failed" && s["sync"]["attemptCount"].as_u64().unwrap_or(0) > attempts_before
            })
            .await
            .unwrap();
        let message = status["sync"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{mode:?}: {message}");
        assert!(message.contains("serving the previous 150"), "{mode:?}: {message}");
        let now = server.list_all("/v0.1/servers", &[], 100).await.unwrap();
        assert_eq!(now, good, "{mode:?}: the previous data is still served");
    }

    // Recovery.
    upstream.set_mode(Mode::Normal);
    upstream.set_rows(
        (0..140).map(|i| row(&format!("io.up/s{i:03}"), "1.0.0", "2025-01-01T00:00:00Z", "active")).collect(),
    );
    server.trigger_sync("flaky").await.unwrap();
    server.wait_named_source("flaky", "recovered", |s| s["sync"]["phase"] == "synced").await.unwrap();
    let visible = server.list_all("/v0.1/servers", &[], 100).await.unwrap();
    assert_eq!(visible.len(), 141, "a full read after recovery sees the removals");
}

#[tokio::test]
async fn retries_back_off_while_other_sources_keep_syncing() {
    let (upstream, server) = start().await;
    upstream.set_mode(Mode::Status(503));
    server.trigger_sync("flaky").await.unwrap();
    let mut attempts: Vec<DateTime<Utc>> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while attempts.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "retries stopped: {attempts:?}");
        let s = server.source("flaky").await.unwrap();
        let t = ts(&s["sync"]["lastAttempt"]);
        if attempts.last() != Some(&t) {
            attempts.push(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gaps: Vec<i64> = attempts.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).collect();
    assert!(gaps[1] > gaps[0] && gaps[2] > gaps[1], "backoff must grow: {gaps:?}");

    // Meanwhile the local source kept syncing on its own interval (it may be in the middle of
    // one right now: wait for it to end).
    let local =
        server.wait_named_source("local", "a local sync ends", |s| s["sync"]["phase"] == "synced").await.unwrap();
    let last = ts(&local["sync"]["lastAttempt"]);
    let now = thv_ports::Clock::now(&thv_adapters::SystemClock);
    assert!(now - last < chrono::Duration::seconds(5), "local source stalled: {local}");

    let message = server.source("flaky").await.unwrap()["sync"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("503"), "{message}");
    assert_eq!(server.list_all("/v0.1/servers", &[], 100).await.unwrap().len(), 151);
}

#[tokio::test]
async fn a_sync_already_running_is_a_conflict() {
    let (upstream, server) = start().await;
    upstream.set_mode(Mode::Slow(Duration::from_millis(800)));
    let first = server.post("/v1/sources/flaky/sync").await.unwrap();
    assert_eq!(first.status, 202);
    let second = server.post("/v1/sources/flaky/sync").await.unwrap();
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(second.content_type().starts_with("application/problem+json"));
    let third = server.post("/v1/sources/nope/sync").await.unwrap();
    assert_eq!(third.status, 404);
}
