//! Sync semantics end to end (in-process): bad data never replaces good data, timestamps and
//! tombstones, restarts, config changes, interrupted syncs.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::Arc;

use crate::support::server;
use chrono::Duration;
use serde_json::json;
use thv_app::catalog::SyncOutcome;
use thv_domain::{SourceName, SyncPhase};
use thv_testkit::app::{names, t0};
use thv_testkit::{InProcess, RegistrySpec, TestApp, official};

/// One file source, `reg` (`servers.json`), and its registry.
fn single() -> TestApp {
    TestApp::new().file_source("reg", "servers.json")
}

fn status(h: &InProcess) -> thv_domain::SyncStatus {
    h.catalog.source_status(&SourceName::parse("reg").unwrap()).unwrap().0
}

#[tokio::test]
async fn broken_data_never_replaces_the_last_good_data() {
    let h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d"), server("a.b/two", "1", "d")]));
    assert_eq!(h.sync("reg").await, SyncOutcome::Updated { servers: 2 });
    let (_, _, good) = h.get("/v0.1/servers").await;

    let broken: [(&str, &[u8]); 5] = [
        ("not JSON", b"{\"data\": [1, 2"),
        ("unrecognised", b"{\"foo\": 1}"),
        ("empty", b""),
        ("no servers", b"[]"),
        ("only invalid entries", b"[{\"name\": \"bad\", \"version\": \"1\", \"description\": \"d\"}]"),
    ];
    for (what, bytes) in broken {
        std::fs::write(h.path("servers.json"), bytes).unwrap();
        let outcome = h.sync("reg").await;
        assert!(matches!(outcome, SyncOutcome::Failed { .. }), "{what}: {outcome:?}");
        let st = status(&h);
        assert_eq!(st.phase, SyncPhase::Failed, "{what}");
        assert!(st.message.as_deref().unwrap().contains("previous 2"), "{what}: {:?}", st.message);
        let (_, _, now) = h.get("/v0.1/servers").await;
        assert_eq!(now, good, "{what}");
        let (_, _, ready) = h.get("/readiness").await;
        assert_eq!(ready["registries"][0]["sources"][0]["phase"], json!("failed"), "{what}");
    }
    std::fs::remove_file(h.path("servers.json")).unwrap();
    let SyncOutcome::Failed { message, .. } = h.sync("reg").await else { panic!("missing file must fail") };
    assert!(message.contains("servers.json") && message.contains("does not exist"), "{message}");
    assert_eq!(status(&h).attempt_count, 6);

    h.write_json("servers.json", &json!([server("a.b/one", "1", "d"), server("a.b/two", "1", "d")]));
    h.sync("reg").await;
    let st = status(&h);
    assert_eq!((st.phase, st.attempt_count, st.message), (SyncPhase::Synced, 0, None));
}

#[tokio::test]
async fn invalid_entries_are_skipped_and_reported() {
    let h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d"), {"name": "bad name", "version": "1", "description": "d"}, server("a.b/one", "1", "dup")]));
    assert_eq!(h.sync("reg").await, SyncOutcome::Updated { servers: 1 });
    let msg = status(&h).message.unwrap();
    assert!(
        msg.contains("1 item(s) skipped; first: [1]")
            && msg.contains("1 duplicate version(s) ignored, first: a.b/one@1"),
        "{msg}"
    );
}

#[tokio::test]
async fn timestamps_tombstones_and_incremental_reads() {
    let h = single().in_process().await;
    h.write_json(
        "servers.json",
        &json!([server("a.b/one", "1.0.0", "d"), server("a.b/one", "2.0.0", "d"), server("a.b/two", "1", "d")]),
    );
    h.sync("reg").await;

    h.clock.advance(Duration::hours(1));
    let t1 = h.clock_now();
    h.write_json("servers.json", &json!([server("a.b/one", "1.0.0", "d"), server("a.b/two", "1", "changed")]));
    h.sync("reg").await;

    let (_, _, all) = h.get("/v0.1/servers?include_deleted=true").await;
    let rows = all["servers"].as_array().unwrap();
    let by = |n: &str, v: &str| {
        rows.iter().find(|r| r["server"]["name"] == json!(n) && r["server"]["version"] == json!(v)).unwrap()
    };
    let stamp = |r: &serde_json::Value, k: &str| {
        r["_meta"]["io.modelcontextprotocol.registry/official"][k].as_str().unwrap().to_owned()
    };
    let t0s = "2025-06-01T12:00:00Z";
    let t1s = "2025-06-01T13:00:00Z";
    // 1.0.0 became latest when 2.0.0 went: its row moved, so incremental readers learn the flag.
    assert_eq!(
        (stamp(by("a.b/one", "1.0.0"), "publishedAt"), stamp(by("a.b/one", "1.0.0"), "updatedAt")),
        (t0s.into(), t1s.into())
    );
    let gone = by("a.b/one", "2.0.0");
    assert_eq!((official(gone)["status"].as_str(), stamp(gone, "updatedAt")), (Some("deleted"), t1s.into()));
    assert_eq!(official(gone)["isLatest"], json!(false));
    assert_eq!(official(by("a.b/one", "1.0.0"))["isLatest"], json!(true), "latest moves off the deleted version");
    assert_eq!(stamp(by("a.b/two", "1"), "updatedAt"), t1s);

    let (_, _, visible) = h.get("/v0.1/servers").await;
    assert_eq!(names(&visible), vec!["a.b/one@1.0.0", "a.b/two@1"]);
    let (_, _, since) = h
        .get(&format!("/v0.1/servers?updated_since={}", (t1 - Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ")))
        .await;
    assert_eq!(names(&since), vec!["a.b/one@1.0.0", "a.b/one@2.0.0", "a.b/two@1"]);
    let (status, _, _) = h.get("/v0.1/servers/a.b%2Fone/versions/2.0.0").await;
    assert_eq!(status.as_u16(), 404);
    let (status, _, _) = h.get("/v0.1/servers/a.b%2Fone/versions/2.0.0?include_deleted=true").await;
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test]
async fn a_restart_serves_the_last_good_data_before_any_fetch() {
    let mut h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d")]));
    h.sync("reg").await;
    let (_, _, before) = h.get("/v0.1/servers").await;
    std::fs::remove_file(h.path("servers.json")).unwrap();
    h.restart(h.app.clone()).await;
    let (status, _, after) = h.get("/v0.1/servers").await;
    assert_eq!((status.as_u16(), &after), (200, &before));
    let (status, _, ready) = h.get("/readiness").await;
    assert_eq!((status.as_u16(), ready["status"].as_str()), (200, Some("ready")));
    assert!(matches!(h.sync("reg").await, SyncOutcome::Failed { .. }));
    let (_, _, still) = h.get("/v0.1/servers").await;
    assert_eq!(still, before);
}

#[tokio::test]
async fn readiness_waits_for_a_first_outcome() {
    let h = single().in_process().await;
    let (status, _, body) = h.get("/readiness").await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (503, Some("not_ready")));
    assert_eq!(body["registries"][0]["sources"][0]["phase"], json!("pending"));
    h.sync("reg").await;
    let (status, _, body) = h.get("/readiness").await;
    assert_eq!(status.as_u16(), 200, "a definite failure is an outcome");
    let src = &body["registries"][0]["sources"][0];
    assert_eq!(src["phase"], json!("failed"));
    assert!(src["message"].as_str().unwrap().contains("servers.json"), "{src}");
}

#[tokio::test]
async fn a_filter_change_applies_on_restart_even_when_the_data_did_not_change() {
    let mut h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d"), server("c.d/two", "1", "d")]));
    h.sync("reg").await;
    assert_eq!(h.sync("reg").await, SyncOutcome::Unchanged);
    h.restart(h.app.clone().change_source("reg", |s| s.filter(json!({"names": {"include": ["a.b/*"]}})))).await;
    assert_eq!(h.sync("reg").await, SyncOutcome::Updated { servers: 1 });
    let (_, _, body) = h.get("/v0.1/servers").await;
    assert_eq!(names(&body), vec!["a.b/one@1"]);
    let (_, _, body) = h.get("/v0.1/servers?include_deleted=true").await;
    assert_eq!(names(&body), vec!["a.b/one@1", "c.d/two@1"], "the newly excluded server is a tombstone");
    assert_eq!(h.sync("reg").await, SyncOutcome::Unchanged);
}

#[tokio::test]
async fn a_sync_cut_off_by_a_crash_is_reported_as_interrupted_and_retried() {
    let mut h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d")]));
    h.sync("reg").await;
    // What a crash mid-sync leaves behind: the status written at the start of the sync.
    let store = thv_adapters::EmbeddedStore::open(h.path("data")).unwrap();
    let mut st = status(&h);
    st.phase = SyncPhase::Syncing;
    thv_ports::EntryStore::write_status(&store, &SourceName::parse("reg").unwrap(), &st).await.unwrap();
    h.restart(h.app.clone()).await;
    let st = status(&h);
    assert_eq!(st.phase, SyncPhase::Interrupted);
    assert!(st.message.unwrap().contains("interrupted"));
    let (_, _, body) = h.get("/v0.1/servers").await;
    assert_eq!(names(&body), vec!["a.b/one@1"]);
    assert_eq!(h.sync("reg").await, SyncOutcome::Unchanged);
    assert_eq!(status(&h).phase, SyncPhase::Synced);
}

#[tokio::test]
async fn publish_time_is_first_seen_and_survives_restarts() {
    let mut h = single().in_process().await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d")]));
    h.sync("reg").await;
    h.clock.advance(Duration::days(2));
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d"), server("a.b/one", "2", "d")]));
    h.restart(h.app.clone()).await;
    h.sync("reg").await;
    let (_, _, body) = h.get("/v0.1/servers/a.b%2Fone/versions").await;
    assert_eq!(names(&body), vec!["a.b/one@2", "a.b/one@1"], "newest publishedAt first");
    assert_eq!(official(&body["servers"][1])["publishedAt"], json!(t0().format("%Y-%m-%dT%H:%M:%SZ").to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_syncing_at_once_both_reach_their_registry() {
    let h = Arc::new(
        TestApp::new()
            .file_source("a", "a.json")
            .file_source("b", "b.json")
            .registry(RegistrySpec::new("both", &["a", "b"]))
            .default_registry("both")
            .in_process()
            .await,
    );
    // Enough entries that building the registry's snapshot takes a while, so the two rebuilds
    // overlap. A race: without the registry's rebuild lock this failed in 4 of 5 runs (a
    // snapshot built from one source's new entries and the other's old ones was stored last).
    let many = |prefix: &str, round: usize| {
        json!((0..800).map(|i| server(&format!("{prefix}.x/s{i}"), &format!("{round}.0.0"), "d")).collect::<Vec<_>>())
    };
    for round in 1..=15 {
        h.write_json("a.json", &many("a", round));
        h.write_json("b.json", &many("b", round));
        h.clock.advance(Duration::minutes(1));
        let (ha, hb) = (h.clone(), h.clone());
        let (a, b) = tokio::join!(
            tokio::spawn(async move { ha.sync("a").await }),
            tokio::spawn(async move { hb.sync("b").await })
        );
        assert!(matches!(a.unwrap(), SyncOutcome::Updated { .. }));
        assert!(matches!(b.unwrap(), SyncOutcome::Updated { .. }));
        let version = format!("{round}.0.0");
        for name in ["a.x/s0", "b.x/s0"] {
            let (status, _, body) = h.get(&format!("/v0.1/servers/{}/versions/latest", name.replace('/', "%2F"))).await;
            assert_eq!(status, poem::http::StatusCode::OK, "round {round}: {name}");
            assert_eq!(body["server"]["version"], json!(version), "round {round}: {name} is missing its new version");
        }
    }
}

/// A real adapter that panics on its next fetch while armed (a stand-in for a bug in an adapter
/// or a parser).
#[derive(Debug)]
struct PanicsWhenArmed {
    inner: Arc<dyn thv_ports::Source>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl thv_ports::Source for PanicsWhenArmed {
    async fn fetch(&self, since: Option<&thv_domain::Revision>) -> Result<thv_ports::Fetched, thv_ports::SourceError> {
        assert!(!self.armed.swap(false, std::sync::atomic::Ordering::SeqCst), "a bug in the adapter");
        self.inner.fetch(since).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Polls the source's status until `pred` holds (the sync tasks run on their own).
async fn wait_status(
    h: &InProcess,
    what: &str,
    pred: impl Fn(&thv_domain::SyncStatus) -> bool,
) -> thv_domain::SyncStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let st = status(h);
        if pred(&st) {
            return st;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {st:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// [`single`], synced every hour.
fn hourly() -> TestApp {
    single().change_source("reg", |s| s.interval("1h"))
}

#[tokio::test]
async fn a_panicking_sync_is_reported_and_the_source_is_synced_again() {
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let trigger = armed.clone();
    let h =
        hourly().in_process_wrapping(move |inner| Arc::new(PanicsWhenArmed { inner, armed: trigger.clone() })).await;
    h.write_json("servers.json", &json!([server("a.b/one", "1", "d")]));
    let reg = SourceName::parse("reg").unwrap();
    let sync = thv_app::catalog::Coordinator::start(&h.catalog);
    let failed = wait_status(&h, "the panic to be reported", |s| s.phase == SyncPhase::Failed).await;
    assert!(failed.message.as_deref().unwrap().contains("internal error (a bug in the adapter)"), "{failed:?}");
    assert_eq!(failed.attempt_count, 1);
    // The source's task lives on: it retries after the backoff, and syncs can be requested again.
    let synced = wait_status(&h, "the retry", |s| s.phase == SyncPhase::Synced).await;
    assert_eq!(synced.server_count, 1);
    assert!(!h.catalog.is_syncing(&reg));
    assert_eq!(h.catalog.request_sync(&reg), thv_app::catalog::SyncRequest::Started);
    sync.shutdown().await;
}

#[tokio::test]
async fn a_requested_sync_waits_for_the_failure_backoff() {
    let h = hourly().in_process().await;
    let reg = SourceName::parse("reg").unwrap();
    let sync = thv_app::catalog::Coordinator::start(&h.catalog);
    // No file: the first sync fails, and the next attempt waits for the backoff (about 1 s).
    wait_status(&h, "the first failure", |s| s.attempt_count == 1).await;
    let failed_at = std::time::Instant::now();
    assert_eq!(h.catalog.request_sync(&reg), thv_app::catalog::SyncRequest::Started);
    // Requested but not started yet: a second request is a conflict, not a second sync.
    assert_eq!(h.catalog.request_sync(&reg), thv_app::catalog::SyncRequest::Busy);
    wait_status(&h, "the second attempt", |s| s.attempt_count == 2).await;
    let waited = failed_at.elapsed();
    assert!(waited >= std::time::Duration::from_millis(800), "the requested sync ran after {waited:?}");
    sync.shutdown().await;
}

#[tokio::test]
async fn a_document_that_is_mostly_invalid_is_refused_like_an_empty_one() {
    let h = single().in_process().await;
    let good: Vec<_> = (0..10).map(|i| server(&format!("a.b/s{i}"), "1", "d")).collect();
    h.write_json("servers.json", &json!(good));
    assert_eq!(h.sync("reg").await, SyncOutcome::Updated { servers: 10 });
    // 9 of 10 entries lose their description (invalid server.json): refused, nothing becomes a
    // tombstone.
    let mostly_bad: Vec<_> = (0..10)
        .map(|i| if i == 0 { server("a.b/s0", "1", "d") } else { json!({"name": format!("a.b/s{i}"), "version": "1"}) })
        .collect();
    h.write_json("servers.json", &json!(mostly_bad));
    let SyncOutcome::Failed { message, .. } = h.sync("reg").await else {
        panic!("a mostly invalid document must fail")
    };
    assert!(
        message.contains("9 of 10 entries are invalid") && message.contains("syncPolicy.maxInvalidRatio"),
        "{message}"
    );
    let (_, _, body) = h.get("/v0.1/servers?limit=100").await;
    assert_eq!(names(&body).len(), 10);
    let (_, _, deleted) = h.get("/v0.1/servers?include_deleted=true&limit=100").await;
    assert_eq!(names(&deleted).len(), 10, "no tombstones");

    // A lenient source takes it.
    let mut h = h;
    h.restart(h.app.clone().change_source("reg", |s| s.sync_policy("maxInvalidRatio", json!(1)))).await;
    assert_eq!(h.sync("reg").await, SyncOutcome::Updated { servers: 1 });
}

#[test]
fn max_invalid_ratio_is_a_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "source:\n  file: {path: x.json}\nsyncPolicy: {maxInvalidRatio: 1.5}\n").unwrap();
    let err = thv_app::config::Config::load_with_env(&path, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("`syncPolicy.maxInvalidRatio`: 1.5 is not a share of entries"), "{err}");
}

/// The embedded store, whose next `load_status` waits until it is let through (a catch-up with
/// the store caught in the middle).
#[derive(Debug)]
struct HeldStatusRead {
    inner: thv_adapters::EmbeddedStore,
    armed: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl thv_ports::EntryStore for HeldStatusRead {
    async fn load_all(&self) -> Result<Vec<thv_ports::SourceState>, thv_ports::StoreError> {
        self.inner.load_all().await
    }
    async fn load(&self, source: &SourceName) -> Result<Option<thv_ports::SourceState>, thv_ports::StoreError> {
        self.inner.load(source).await
    }
    async fn load_status(&self, source: &SourceName) -> Result<Option<thv_domain::SyncStatus>, thv_ports::StoreError> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.load_status(source).await
    }
    async fn replace(
        &self,
        source: &SourceName,
        entries: &std::sync::Arc<Vec<thv_domain::Entry>>,
        status: &thv_domain::SyncStatus,
    ) -> Result<(), thv_ports::StoreError> {
        self.inner.replace(source, entries, status).await
    }
    async fn write_status(
        &self,
        source: &SourceName,
        status: &thv_domain::SyncStatus,
    ) -> Result<(), thv_ports::StoreError> {
        self.inner.write_status(source, status).await
    }
    async fn write_name(&self, write: thv_ports::NameWrite<'_>) -> Result<(), thv_ports::StoreError> {
        self.inner.write_name(write).await
    }
    async fn try_lease(
        &self,
        source: &SourceName,
    ) -> Result<Option<Box<dyn thv_ports::SourceLease>>, thv_ports::StoreError> {
        self.inner.try_lease(source).await
    }
    async fn subscribe(&self) -> Result<Box<dyn thv_ports::ChangeFeed>, thv_ports::StoreError> {
        self.inner.subscribe().await
    }
}

#[tokio::test]
async fn a_catch_up_with_the_store_does_not_make_a_requested_sync_busy() {
    let app = hourly();
    app.write_json("servers.json", &json!([server("a.b/one", "1", "d")]));
    let config = thv_app::config::Config::load_with_env(&app.write_config(), Vec::new()).unwrap();
    let store = Arc::new(HeldStatusRead {
        inner: thv_adapters::EmbeddedStore::open(app.data_dir()).unwrap(),
        armed: std::sync::atomic::AtomicBool::new(false),
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let clock: Arc<dyn thv_ports::Clock> = Arc::new(thv_adapters::SystemClock);
    let data_dir = config.data_dir.clone();
    let catalog = Arc::new(
        thv_app::catalog::Catalog::open(
            config.catalog_spec(),
            store.clone(),
            clock.clone(),
            Arc::new(thv_app::catalog::NoEvents),
            |s| thv_app::serve::adapter_for(s, &data_dir, clock.clone()),
        )
        .await
        .unwrap(),
    );
    let reg = SourceName::parse("reg").unwrap();
    assert_eq!(catalog.sync(&reg).await, SyncOutcome::Updated { servers: 1 });

    // A catch-up (the periodic re-check of replicas) is reading the store right now.
    store.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let refreshing = {
        let (catalog, reg) = (catalog.clone(), reg.clone());
        tokio::spawn(async move { catalog.refresh(&reg).await })
    };
    store.entered.notified().await;
    // A sync requested meanwhile is accepted, not told that a sync is running.
    assert_eq!(catalog.request_sync(&reg), thv_app::catalog::SyncRequest::Started);
    store.release.notify_one();
    refreshing.await.unwrap().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while catalog.is_syncing(&reg) {
        assert!(std::time::Instant::now() < deadline, "the requested sync never ran");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let st = catalog.source_status(&reg).unwrap().0;
    assert_eq!(st.phase, SyncPhase::Synced);
}
