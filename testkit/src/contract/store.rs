//! The `EntryStore` contract: what every store adapter must do, whatever keeps its data. A new
//! adapter proves itself with one `#[tokio::test]` that calls [`contract`] with a factory for it.
//! [`entries`], [`status`] and [`source`] build the data, for the adapter's own further tests.

#![expect(clippy::unwrap_used, reason = "a contract suite fails the test by panicking")]

use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use thv_domain::{Entry, OfficialMeta, Revision, ServerJson, SourceName, Status, SyncPhase, SyncStatus};
use thv_ports::EntryStore;

/// A source name (panics on an invalid one).
pub fn source(name: &str) -> SourceName {
    SourceName::parse(name).unwrap()
}

/// `n` entries of source `src`, sorted by (name, version): non-ASCII text, quotes, build metadata,
/// extensions, nanosecond timestamps, and deleted, deprecated and latest versions mixed in.
pub fn entries(src: &str, n: usize) -> Vec<Entry> {
    let t = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap() + Duration::nanoseconds(123_456_789);
    let mut out: Vec<Entry> = (0..n)
        .map(|i| {
            let server = ServerJson::from_value(json!({
                "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
                "name": format!("io.example/server-{i:05}"),
                "description": format!("Server {i} — ünïcödé, \"quotes\" and \\ backslashes"),
                "version": if i % 3 == 0 { "1.0.0+build.1".to_owned() } else { format!("{i}.0.0") },
                "x-extension": {"nested": [1, 2, {"deep": null}]},
                "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"ns": {"k": {"tags": ["t"]}}}}
            }))
            .unwrap();
            let mut official = OfficialMeta::new_active(t + Duration::seconds(i64::try_from(i).unwrap()));
            if i % 7 == 0 {
                official.status = Status::Deleted;
                official.status_message = Some("removed from source".to_owned());
            }
            if i % 11 == 0 {
                official.status = Status::Deprecated;
            }
            official.is_latest = i % 2 == 0;
            Entry { server: Arc::new(server), official, source: source(src) }
        })
        .collect();
    out.sort_by(|a, b| (a.server.name(), a.server.version()).cmp(&(b.server.name(), b.server.version())));
    out
}

/// A sync status with every field set.
pub fn status(phase: SyncPhase, revision: &str, count: usize) -> SyncStatus {
    SyncStatus {
        phase,
        last_attempt: Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 8).unwrap()),
        last_sync_time: Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 9).unwrap()),
        attempt_count: 0,
        server_count: count,
        revision: Some(Revision(revision.to_owned())),
        message: Some("1 item(s) skipped".to_owned()),
        config_digest: Some("abc".to_owned()),
    }
}

/// The contract. `open` returns a store on the same backing storage each time it is called (a
/// restart), starting empty on its first call.
pub async fn contract<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn EntryStore>>,
{
    let store = open().await;
    assert!(store.load_all().await.unwrap().is_empty(), "a new store is empty");
    assert_eq!(store.load(&source("a")).await.unwrap(), None, "absence is None, not an error");

    // Replace stores entries and status exactly.
    let a1 = entries("a", 500);
    let st1 = status(SyncPhase::Synced, "rev-1", 400);
    store.replace(&source("a"), &a1, &st1).await.unwrap();
    let loaded = store.load(&source("a")).await.unwrap().unwrap();
    assert_eq!(loaded.entries, a1);
    assert_eq!(loaded.status, st1);

    // Sources are isolated.
    let b1 = entries("b", 3);
    store.replace(&source("b"), &b1, &status(SyncPhase::Synced, "rev-b", 3)).await.unwrap();
    assert_eq!(store.load(&source("a")).await.unwrap().unwrap().entries, a1);

    // A second replace wins whole.
    let a2 = entries("a", 20);
    let st2 = status(SyncPhase::Synced, "rev-2", 20);
    store.replace(&source("a"), &a2, &st2).await.unwrap();
    let loaded = store.load(&source("a")).await.unwrap().unwrap();
    assert_eq!((loaded.entries, loaded.status), (a2.clone(), st2.clone()));

    // A status write keeps the entries.
    let mut failed = st2.clone();
    failed.phase = SyncPhase::Failed;
    failed.attempt_count = 3;
    failed.message = Some("fetch failed".to_owned());
    store.write_status(&source("a"), &failed).await.unwrap();
    let loaded = store.load(&source("a")).await.unwrap().unwrap();
    assert_eq!((loaded.entries, loaded.status), (a2.clone(), failed.clone()));

    // A status for a source without entries.
    let pending = SyncStatus::pending();
    store.write_status(&source("c"), &pending).await.unwrap();
    let loaded = store.load(&source("c")).await.unwrap().unwrap();
    assert!(loaded.entries.is_empty());
    assert_eq!(loaded.status, pending);

    // An empty replace is stored as empty.
    store.replace(&source("d"), &[], &status(SyncPhase::Synced, "rev-d", 0)).await.unwrap();
    assert!(store.load(&source("d")).await.unwrap().unwrap().entries.is_empty());

    // Everything survives a restart.
    drop(store);
    let store = open().await;
    let all = store.load_all().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c", "d"]);
    assert_eq!((&all[0].entries, &all[0].status), (&a2, &failed));
    assert_eq!(all[1].entries, b1);
}
