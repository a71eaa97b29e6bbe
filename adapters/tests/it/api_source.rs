//! `ApiSource` against a real HTTP server on 127.0.0.1 (`stub`) that serves `ServerListResponse`
//! pages and whose behaviour each test changes between fetches: full and incremental runs, the
//! `/v0` fallback, cursors and request headers here; failures and bounds in `faults`; the bearer
//! token file in `bearer`.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use thv_adapters::ManualClock;
use thv_adapters::source::api::ApiSource;
use thv_domain::Revision;
use thv_domain::format::{DataFormat, parse_document};
use thv_domain::spec::ApiConfig;
use thv_ports::{Clock, Fetched, Source, SourceError};

use self::stub::{Scenario, TestServer};

mod bearer;
mod faults;
mod stub;

// ---------------------------------------------------------------------------------------------
// Data and helpers.

/// `updatedAt` of a row: nanosecond precision, like the official registry writes.
fn at(second: u32) -> String {
    format!("2026-03-01T10:{:02}:{:02}.123456789Z", second / 60, second % 60)
}

fn row(i: usize, updated_at: &str) -> Value {
    json!({
        "server": {"name": format!("io.example/s{i:03}"), "description": "d", "version": "1.0.0"},
        "_meta": {"io.modelcontextprotocol.registry/official": {
            "status": "active",
            "statusChangedAt": "2026-01-01T00:00:00Z",
            "publishedAt": "2026-01-01T00:00:00Z",
            "updatedAt": updated_at,
            "isLatest": true,
        }},
    })
}

/// `n` rows whose `updatedAt` order differs from their name order, and the newest `updatedAt`.
fn rows(n: usize) -> (Vec<Value>, String) {
    let rows: Vec<Value> = (0..n).map(|i| row(i, &at(u32::try_from((i * 7) % n).unwrap()))).collect();
    let newest = at(u32::try_from(n - 1).unwrap());
    (rows, newest)
}

fn set_updated_at(s: &mut Scenario, i: usize, updated_at: &str) {
    s.rows[i]["_meta"]["io.modelcontextprotocol.registry/official"]["updatedAt"] = json!(updated_at);
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()))
}

fn options(server: &TestServer) -> ApiConfig {
    let mut options = ApiConfig::new(server.base.clone());
    options.timeout = Duration::from_secs(20);
    options
}

fn source(options: ApiConfig, clock: &Arc<ManualClock>) -> ApiSource {
    let clock: Arc<dyn Clock> = clock.clone();
    ApiSource::new(options, clock).unwrap()
}

async fn server_with(n: usize) -> (TestServer, String) {
    let (rows, newest) = rows(n);
    (TestServer::start(Scenario { rows, ..Scenario::default() }).await, newest)
}

fn documents(fetched: Fetched) -> (Revision, Vec<Bytes>, bool) {
    match fetched {
        Fetched::Documents { revision, documents, complete } => (revision, crate::in_memory(documents), complete),
        Fetched::Unchanged => panic!("expected documents, got Unchanged"),
    }
}

/// Every server name in the documents, parsed the way the sync engine parses them.
fn names(documents: &[Bytes]) -> Vec<String> {
    documents
        .iter()
        .flat_map(|d| parse_document(d, DataFormat::Auto).unwrap().servers)
        .map(|s| {
            assert!(s.official.is_some(), "official metadata kept");
            s.server.name().to_string()
        })
        .collect()
}

async fn fetch_err(src: &ApiSource) -> SourceError {
    src.fetch(None).await.unwrap_err()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn a_full_run_reads_every_page_and_passes_the_bodies_on() {
    let (server, newest) = server_with(250).await;
    let clock = clock();
    let src = source(options(&server), &clock);
    assert_eq!(src.describe(), format!("api {}", server.base));

    let (revision, docs, complete) = documents(src.fetch(None).await.unwrap());
    let (requests, pages) = server.take();
    assert!(complete);
    assert_eq!(revision, Revision(newest));
    assert_eq!(docs, pages, "each page body is one document, unchanged");
    assert_eq!(docs.len(), 3);
    assert_eq!(names(&docs).len(), 250);

    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.path == "/v0.1/servers" && r.params["limit"] == "100"));
    assert!(requests.iter().all(|r| !r.params.contains_key("updated_since")));
    assert!(
        requests.iter().all(|r| r.params.get("include_deleted").map(String::as_str) == Some("true")),
        "a full run asks for deleted versions, so tombstones keep their upstream metadata"
    );
    assert_eq!(requests[0].params.get("cursor"), None);
    let cursors: Vec<String> = pages
        .iter()
        .map(|b| serde_json::from_slice::<Value>(b).unwrap()["metadata"]["nextCursor"].as_str().map(str::to_owned))
        .take(2)
        .map(Option::unwrap)
        .collect();
    assert_eq!(requests[1].params["cursor"], cursors[0]);
    assert_eq!(requests[2].params["cursor"], cursors[1]);
    assert_eq!(cursors[0], "io.example/s099:1.0.0");
}

#[tokio::test]
async fn falls_back_to_v0_when_v0_1_is_missing_and_remembers_it() {
    let (server, newest) = server_with(3).await;
    server.with(|s| s.missing = vec!["/v0.1/servers"]);
    let src = source(options(&server), &clock());

    let (revision, docs, _) = documents(src.fetch(None).await.unwrap());
    assert_eq!(revision, Revision(newest));
    assert_eq!(names(&docs).len(), 3);
    let paths: Vec<String> = server.take().0.into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v0.1/servers", "/v0/servers"]);

    src.fetch(None).await.unwrap();
    let paths: Vec<String> = server.take().0.into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v0/servers"], "the working path is remembered");

    // When neither exists, the endpoint is wrong.
    server.with(|s| s.missing = vec!["/v0.1/servers", "/v0/servers"]);
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::NotFound(m) if m.contains("/v0.1/servers") && m.contains("/v0/servers") && m.contains("404")),
        "{err}"
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_is_kept() {
    let (server, _) = server_with(2).await;
    let mut opts = options(&server);
    opts.endpoint = format!("{}/registry/name/", server.base);
    let src = source(opts, &clock());
    // The test server only serves /v0.1/servers and /v0/servers, so both 404 here.
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::NotFound(_)), "{err}");
    let paths: Vec<String> = server.take().0.into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/registry/name/v0.1/servers", "/registry/name/v0/servers"]);
}

#[tokio::test]
async fn incremental_runs_ask_for_changes_until_a_full_run_is_due() {
    let (server, newest) = server_with(5).await;
    let clock = clock();
    let src = source(options(&server), &clock);

    // A first fetch with a revision from an earlier process is still a full run.
    let stale = Revision(at(1));
    let (r1, _, complete) = documents(src.fetch(Some(&stale)).await.unwrap());
    assert!(complete, "no full run yet in this process");
    assert_eq!(r1, Revision(newest));
    assert!(server.take().0.iter().all(|r| !r.params.contains_key("updated_since")));

    // One server changes: only it comes back.
    let changed = "2026-03-02T08:00:00.5+01:00";
    server.with(|s| set_updated_at(s, 3, changed));
    clock.advance(chrono::Duration::minutes(10));
    let (r2, docs, complete) = documents(src.fetch(Some(&r1)).await.unwrap());
    let (requests, _) = server.take();
    assert!(!complete);
    assert_eq!(r2, Revision(changed.to_owned()), "the newest updatedAt, as received");
    assert_eq!(names(&docs), ["io.example/s003"]);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].params["updated_since"], r1.0);
    assert!(!requests[0].params.contains_key("include_deleted"), "updated_since implies deleted versions");
    assert!(requests[0].query.contains("updated_since=2026-03-01T10%3A00%3A04.123456789Z"), "{}", requests[0].query);

    // Nothing changed since: Unchanged, and the `+` of the offset travels encoded.
    assert!(matches!(src.fetch(Some(&r2)).await.unwrap(), Fetched::Unchanged));
    let (requests, _) = server.take();
    assert!(requests[0].query.contains("updated_since=2026-03-02T08%3A00%3A00.5%2B01%3A00"), "{}", requests[0].query);

    // An upstream that ignores `updated_since` sends older rows: the revision never goes back.
    server.with(|s| s.ignore_since = true);
    let ahead = Revision("2026-03-03T00:00:00Z".to_owned());
    let (r3, docs, complete) = documents(src.fetch(Some(&ahead)).await.unwrap());
    assert!(!complete);
    assert_eq!(r3, ahead);
    assert_eq!(docs.len(), 1);
    server.with(|s| s.ignore_since = false);
    server.take();

    // A full run comes due.
    clock.advance(chrono::Duration::minutes(51));
    let (r4, docs, complete) = documents(src.fetch(Some(&r2)).await.unwrap());
    assert!(complete, "full_sync_interval passed");
    assert_eq!(r4, r2);
    assert_eq!(names(&docs).len(), 5);
    assert!(server.take().0.iter().all(|r| !r.params.contains_key("updated_since")));

    // Right after it, incremental again; a revision that is not a timestamp forces a full run.
    assert!(matches!(src.fetch(Some(&r4)).await.unwrap(), Fetched::Unchanged));
    let (_, _, complete) = documents(src.fetch(Some(&Revision("sha256:00".into()))).await.unwrap());
    assert!(complete);
}

#[tokio::test]
async fn sends_user_agent_and_accept() {
    let (server, _) = server_with(1).await;
    let mut opts = options(&server);
    opts.user_agent = "thv-registry-api/9.9.9-test".to_owned();
    source(opts, &clock()).fetch(None).await.unwrap();
    let (requests, _) = server.take();
    assert_eq!(requests[0].headers["user-agent"], "thv-registry-api/9.9.9-test");
    assert_eq!(requests[0].headers["accept"], "application/json");

    let default = ApiConfig::new("http://example.com");
    assert!(default.user_agent.starts_with("thv-registry-api/"), "{}", default.user_agent);
    assert_eq!(default.page_size, 100);
    assert_eq!(default.max_pages, 1000);
    assert_eq!(default.max_bytes, 256 * 1024 * 1024);
    assert_eq!(default.timeout, Duration::from_secs(30));
    assert_eq!(default.full_sync_interval, Duration::from_secs(3600));
}

#[tokio::test]
async fn cursors_with_special_characters_round_trip() {
    let (server, _) = server_with(5).await;
    server.with(|s| s.cursor_prefix = "a+b/c= d&e%f?".to_owned());
    let mut opts = options(&server);
    opts.page_size = 2;
    let (_, docs, _) = documents(source(opts, &clock()).fetch(None).await.unwrap());
    assert_eq!(names(&docs).len(), 5, "every page was found with the echoed cursors");
    let (requests, _) = server.take();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].params["cursor"], "a+b/c= d&e%f?io.example/s001:1.0.0");
    assert!(
        requests[1].query.contains("cursor=a%2Bb%2Fc%3D%20d%26e%25f%3Fio.example%2Fs001%3A1.0.0"),
        "{}",
        requests[1].query
    );
}

#[tokio::test]
async fn invalid_endpoints_are_refused_up_front() {
    let clock: Arc<dyn Clock> = clock();
    for endpoint in ["registry.example.com", "ftp://example.com", "http://"] {
        let err = ApiSource::new(ApiConfig::new(endpoint), clock.clone()).unwrap_err();
        assert!(matches!(&err, SourceError::NotFound(m) if m.contains("not a valid http(s) URL")), "{endpoint}: {err}");
    }
    let mut opts = ApiConfig::new("https://example.com");
    opts.user_agent = "bad\nagent".to_owned();
    let err = ApiSource::new(opts, clock).unwrap_err();
    assert!(matches!(&err, SourceError::Internal(m) if m.contains("HTTP client")), "{err}");
}
