//! The `EntryStore` contract: what every store adapter must do, whatever keeps its data. A new
//! adapter proves itself with one `#[tokio::test]` that calls [`contract`] with a factory for it.
//! [`entries`], [`status`] and [`source`] build the data, for the adapter's own further tests.

#![expect(clippy::unwrap_used, reason = "a contract suite fails the test by panicking")]

use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use thv_domain::{Entry, OfficialMeta, Revision, ServerJson, ServerName, SourceName, Status, SyncPhase, SyncStatus};
use thv_ports::{EntryStore, NameWrite};

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
    store.replace(&source("a"), &Arc::new(a1.clone()), &st1).await.unwrap();
    let loaded = store.load(&source("a")).await.unwrap().unwrap();
    assert_eq!(loaded.entries, a1);
    assert_eq!(loaded.status, st1);

    // Sources are isolated.
    let b1 = entries("b", 3);
    store.replace(&source("b"), &Arc::new(b1.clone()), &status(SyncPhase::Synced, "rev-b", 3)).await.unwrap();
    assert_eq!(store.load(&source("a")).await.unwrap().unwrap().entries, a1);

    // A second replace wins whole.
    let a2 = entries("a", 20);
    let st2 = status(SyncPhase::Synced, "rev-2", 20);
    store.replace(&source("a"), &Arc::new(a2.clone()), &st2).await.unwrap();
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
    store.replace(&source("d"), &Arc::default(), &status(SyncPhase::Synced, "rev-d", 0)).await.unwrap();
    assert!(store.load(&source("d")).await.unwrap().unwrap().entries.is_empty());

    let managed = managed_writes(store.as_ref()).await;

    // Everything survives a restart.
    drop(store);
    let store = open().await;
    let all = store.load_all().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c", "d", "m"]);
    assert_eq!((&all[0].entries, &all[0].status), (&a2, &failed));
    assert_eq!(all[1].entries, b1);
    assert_eq!((&all[4].entries, &all[4].status), (&managed.0, &managed.1), "managed writes survive a restart");
}

/// `write_name` on source `m`: creates the source, replaces one name's versions only, refuses a
/// stale `expected` or `expected_revision` without writing anything (a write expecting a revision
/// of a source not stored creates nothing). Returns what `m` holds at the end.
async fn managed_writes(store: &dyn EntryStore) -> (Vec<Entry>, SyncStatus) {
    let m = source("m");
    let all = entries("m", 6);
    let name = all[2].server.name().clone();
    let of = |es: &[Entry], n: &thv_domain::ServerName| {
        es.iter().filter(|e| e.server.name() == n).cloned().collect::<Vec<_>>()
    };
    let others: Vec<Entry> = all.iter().filter(|e| *e.server.name() != name).cloned().collect();
    let st = status(SyncPhase::Synced, "write-1", 6);
    // The first write creates the source (each name written on its own).
    let mut names: Vec<thv_domain::ServerName> = all.iter().map(|e| e.server.name().clone()).collect();
    names.dedup();
    let mut at: Option<&Revision> = None;
    for n in &names {
        let next = of(&all, n);
        let write = NameWrite { source: &m, name: n, expected: &[], expected_revision: at, next: &next, status: &st };
        store.write_name(write).await.unwrap();
        at = st.revision.as_ref();
    }
    let loaded = store.load(&m).await.unwrap().unwrap();
    assert_eq!((&loaded.entries, &loaded.status), (&all, &st));

    // An edit of one name: new metadata with nanoseconds, a new version; the others untouched.
    let current = of(&all, &name);
    let mut next = current.clone();
    next[0].official.updated_at += Duration::nanoseconds(1);
    next[0].official.status = Status::Deprecated;
    next[0].official.status_message = Some("use the next one".to_owned());
    let mut added = next[0].clone();
    let mut doc = added.server.to_map();
    doc.insert("version".into(), json!("9.9.9-rc.1"));
    added.server = Arc::new(ServerJson::from_map(&doc).unwrap());
    next.push(added);
    let st2 = status(SyncPhase::Synced, "write-2", 6);
    let write = NameWrite {
        source: &m,
        name: &name,
        expected: &current,
        expected_revision: st.revision.as_ref(),
        next: &next,
        status: &st2,
    };
    store.write_name(write).await.unwrap();
    let loaded = store.load(&m).await.unwrap().unwrap();
    assert_eq!(of(&loaded.entries, &name), next);
    assert_eq!(loaded.entries.iter().filter(|e| *e.server.name() != name).cloned().collect::<Vec<_>>(), others);
    assert_eq!(loaded.status, st2);
    let sorted = loaded
        .entries
        .windows(2)
        .all(|w| (w[0].server.name(), w[0].server.version()) < (w[1].server.name(), w[1].server.version()));
    assert!(sorted, "entries stay sorted by (name, version)");

    // A stale `expected` (what was read before the edit), a missing and an extra version, and
    // the right versions at a stale revision or at none (another process wrote another name
    // since): each is a conflict, and nothing changes.
    let stale = status(SyncPhase::Synced, "stale", 0);
    let (now, before) = (st2.revision.as_ref(), st.revision.as_ref());
    let cases = [
        (current.clone(), now),
        (next[..1].to_vec(), now),
        ([next.clone(), next[..1].to_vec()].concat(), now),
        (next.clone(), before),
        (next.clone(), None),
    ];
    for (expected, expected_revision) in &cases {
        let write = NameWrite {
            source: &m,
            name: &name,
            expected,
            expected_revision: *expected_revision,
            next: &[],
            status: &stale,
        };
        let err = store.write_name(write).await.unwrap_err();
        assert!(matches!(err, thv_ports::StoreError::Conflict(_)), "{expected_revision:?}: {err:?}");
    }
    let after = store.load(&m).await.unwrap().unwrap();
    assert_eq!((&after.entries, &after.status), (&loaded.entries, &st2), "a refused write changes nothing");
    let unstored = source("n");
    let write = NameWrite {
        source: &unstored,
        name: &name,
        expected: &[],
        expected_revision: now,
        next: &next,
        status: &stale,
    };
    let err = store.write_name(write).await.unwrap_err();
    assert!(matches!(err, thv_ports::StoreError::Conflict(_)), "a revision of a source not stored: {err:?}");
    assert_eq!(store.load(&unstored).await.unwrap(), None, "a refused write creates nothing");
    (after.entries, after.status)
}
/// One version of server `name` in source `src`, as a managed write publishes it: active, latest,
/// timestamps with nanoseconds.
pub fn entry(src: &str, name: &str, version: &str) -> Entry {
    let t = Utc.with_ymd_and_hms(2025, 6, 7, 8, 9, 10).unwrap() + Duration::nanoseconds(987_654_321);
    let server = ServerJson::from_value(json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": "A managed server — ünïcödé, \"quotes\"",
        "version": version,
        "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"ns": {"k": {"tags": ["managed"]}}}}
    }))
    .unwrap();
    let mut official = OfficialMeta::new_active(t);
    official.is_latest = true;
    Entry { server: Arc::new(server), official, source: source(src) }
}

/// `e` with the top-level `field` of its server.json set to `value` (a new document; the official
/// metadata and the source are kept).
pub fn with_field(e: &Entry, field: &str, value: serde_json::Value) -> Entry {
    let mut doc = e.server.to_map();
    doc.insert(field.to_owned(), value);
    Entry { server: Arc::new(ServerJson::from_map(&doc).unwrap()), ..e.clone() }
}

/// The versions of `name` in `entries`, in their order.
pub fn versions_of(entries: &[Entry], name: &ServerName) -> Vec<Entry> {
    entries.iter().filter(|e| e.server.name() == name).cloned().collect()
}
