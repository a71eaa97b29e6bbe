//! The `EntryStore` contract: what every store adapter must do, whatever keeps its data. A new
//! adapter proves itself with one `#[tokio::test]` that calls [`contract`] with a factory for it.
//! [`entries`], [`entry`], [`status`] and [`source`] build the data, for the adapter's own further
//! tests.

#![expect(clippy::unwrap_used, reason = "a contract suite fails the test by panicking")]

use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use thv_domain::{Entry, OfficialMeta, Revision, ServerJson, ServerName, SourceName, Status, SyncPhase, SyncStatus};
use thv_ports::{EntryStore, NameWrite, SourceState, StoreError};

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

    // The reopened store writes from what it reads, and that survives another restart.
    let written = managed_after_restart(store.as_ref(), &managed).await;
    drop(store);
    let store = open().await;
    let loaded = store.load(&source("m")).await.unwrap().unwrap();
    assert_eq!((&loaded.entries, &loaded.status), (&written.0, &written.1), "a write after a restart survives one");
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

fn sorted(mut es: Vec<Entry>) -> Vec<Entry> {
    es.sort_by(|a, b| (a.server.name(), a.server.version()).cmp(&(b.server.name(), b.server.version())));
    es
}

/// Source `m` holds exactly `versions` for `name`, `others` for every other name (in this order),
/// and `status`; its entries are strictly sorted by (name, version). Returns its entries.
async fn assert_name_stored(
    store: &dyn EntryStore,
    name: &ServerName,
    versions: &[Entry],
    others: &[Entry],
    status: &SyncStatus,
    what: &str,
) -> Vec<Entry> {
    let loaded = store.load(&source("m")).await.unwrap().unwrap();
    assert_eq!(versions_of(&loaded.entries, name), versions, "{what}: the written versions, exactly");
    let rest: Vec<Entry> = loaded.entries.iter().filter(|e| e.server.name() != name).cloned().collect();
    assert_eq!(rest, others, "{what}: other names untouched");
    assert_eq!(&loaded.status, status, "{what}: the written status");
    let in_order = loaded
        .entries
        .windows(2)
        .all(|w| (w[0].server.name(), w[0].server.version()) < (w[1].server.name(), w[1].server.version()));
    assert!(in_order, "{what}: entries stay sorted by (name, version)");
    loaded.entries
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

/// `write_name` on source `m` (and a refused one on `n`): creates the source, replaces one name's
/// versions only, stores edits exactly, refuses a stale `expected` without writing anything, then
/// [`concurrent_publishes`]. Returns what `m` holds at the end.
async fn managed_writes(store: &dyn EntryStore) -> (Vec<Entry>, SyncStatus) {
    let m = source("m");
    let all = entries("m", 6);
    let mut names: Vec<ServerName> = all.iter().map(|e| e.server.name().clone()).collect();
    names.dedup();

    // A refused write to a source with nothing stored creates nothing.
    let n = source("n");
    let ghost = vec![entry("n", "io.example/ghost", "1.0.0")];
    let ghost_status = status(SyncPhase::Synced, "ghost", 1);
    let write =
        NameWrite { source: &n, name: ghost[0].server.name(), expected: &ghost, next: &ghost, status: &ghost_status };
    assert_conflict(store.write_name(write).await, "expecting versions of a source with nothing stored");
    assert_eq!(store.load(&n).await.unwrap(), None, "a refused write creates no source");
    assert!(store.load_all().await.unwrap().iter().all(|s| s.source != n), "a refused write creates no source");

    // The first write creates the source: `load` and `load_all` return it.
    let first = versions_of(&all, &names[0]);
    let st0 = status(SyncPhase::Synced, "write-0", first.len());
    store
        .write_name(NameWrite { source: &m, name: &names[0], expected: &[], next: &first, status: &st0 })
        .await
        .unwrap();
    let created = SourceState { source: m.clone(), entries: first.clone(), status: st0.clone() };
    assert_eq!(store.load(&m).await.unwrap().as_ref(), Some(&created), "the first write creates the source");
    let listed = store.load_all().await.unwrap();
    assert_eq!(listed.iter().find(|s| s.source == m), Some(&created), "load_all includes the created source");

    // The other names, each on its own and in reverse order: each lands in its place.
    let st1 = status(SyncPhase::Synced, "write-1", all.len());
    for n in names[1..].iter().rev() {
        let next = versions_of(&all, n);
        store.write_name(NameWrite { source: &m, name: n, expected: &[], next: &next, status: &st1 }).await.unwrap();
    }
    let loaded = store.load(&m).await.unwrap().unwrap();
    assert_eq!((&loaded.entries, &loaded.status), (&all, &st1));

    let name = names[2].clone();
    let current = versions_of(&all, &name);
    let others: Vec<Entry> = all.iter().filter(|e| *e.server.name() != name).cloned().collect();

    // Publishing a new version of a name as if it had none (`expected` empty) is a conflict.
    let unexpected = status(SyncPhase::Synced, "unexpected", 0);
    let late = vec![with_field(&current[0], "version", json!("3.0.0"))];
    let write = NameWrite { source: &m, name: &name, expected: &[], next: &late, status: &unexpected };
    assert_conflict(store.write_name(write).await, "a first publish of a name that has versions");
    assert_name_stored(store, &name, &current, &others, &st1, "after a refused first publish").await;

    // An edit: new official metadata (a nanosecond later) for the stored version, and two new
    // versions, one sorting before it ("10.0.0" < "2.0.0", byte-wise) and one after.
    let mut edited = current.clone();
    let t = edited[0].official.updated_at + Duration::nanoseconds(1);
    edited[0].official.updated_at = t;
    edited[0].official.status = Status::Deprecated;
    edited[0].official.status_changed_at = t;
    edited[0].official.status_message = Some("use the next one".to_owned());
    edited[0].official.is_latest = false;
    let mut newest = with_field(&current[0], "version", json!("9.9.9-rc.1"));
    newest.official = OfficialMeta::new_active(t + Duration::nanoseconds(1));
    newest.official.is_latest = true;
    edited.push(newest);
    edited.push(with_field(&current[0], "version", json!("10.0.0")));
    let edited = sorted(edited);
    let st2 = status(SyncPhase::Synced, "write-2", all.len() + 2);
    let write = NameWrite { source: &m, name: &name, expected: &current, next: &edited, status: &st2 };
    store.write_name(write).await.unwrap();
    assert_name_stored(store, &name, &edited, &others, &st2, "an edit and two new versions").await;

    // A second edit: a new server.json for one stored version (same name and version) and new
    // metadata for another.
    let mut edited2 = edited.clone();
    edited2[0] = with_field(&edited2[0], "description", json!("Rewritten — \"quoted\", \\ and ünïcödé"));
    edited2[0].official.updated_at += Duration::nanoseconds(5);
    edited2[2].official.status = Status::Deleted;
    edited2[2].official.status_message = Some("withdrawn".to_owned());
    edited2[2].official.status_changed_at += Duration::nanoseconds(999_999_999);
    let st3 = status(SyncPhase::Synced, "write-3", all.len() + 2);
    let write = NameWrite { source: &m, name: &name, expected: &edited, next: &edited2, status: &st3 };
    store.write_name(write).await.unwrap();
    let stored = assert_name_stored(store, &name, &edited2, &others, &st3, "a new server.json and metadata").await;

    // An `expected` that differs from what is stored is a conflict, and nothing changes: a stale
    // updatedAt, a stale server.json, a missing version, an extra version.
    let next = sorted([edited2.clone(), vec![with_field(&edited2[0], "version", json!("11.0.0"))]].concat());
    let mut stale_time = edited2.clone();
    stale_time[1].official.updated_at -= Duration::nanoseconds(1);
    let mut stale_doc = edited2.clone();
    stale_doc[0].server = edited[0].server.clone();
    let missing = edited2[1..].to_vec();
    let extra = sorted([edited2.clone(), vec![with_field(&edited2[0], "version", json!("0.1.0"))]].concat());
    let refused = status(SyncPhase::Synced, "refused", 0);
    for (what, expected) in [
        ("a stale updatedAt", stale_time),
        ("a stale server.json", stale_doc),
        ("a missing version", missing),
        ("an extra version", extra),
    ] {
        let write = NameWrite { source: &m, name: &name, expected: &expected, next: &next, status: &refused };
        assert_conflict(store.write_name(write).await, what);
        let after = store.load(&m).await.unwrap().unwrap();
        assert!(after.entries == stored, "{what}: a refused write changes no entry");
        assert_eq!(after.status, st3, "{what}: a refused write changes no status");
    }

    concurrent_publishes(store, stored).await
}

/// Two concurrent publishes of the same new version to source `m`, which holds `stored`: one is
/// stored, the other is a conflict. Returns what `m` holds then.
async fn concurrent_publishes(store: &dyn EntryStore, stored: Vec<Entry>) -> (Vec<Entry>, SyncStatus) {
    let m = source("m");
    let racer = vec![entry("m", "io.example/racer", "1.0.0")];
    let racer_name = racer[0].server.name().clone();
    let (sa, sb) = (status(SyncPhase::Synced, "race-a", 9), status(SyncPhase::Synced, "race-b", 9));
    let wa = NameWrite { source: &m, name: &racer_name, expected: &[], next: &racer, status: &sa };
    let wb = NameWrite { status: &sb, ..wa };
    let winner = match tokio::join!(store.write_name(wa), store.write_name(wb)) {
        (Ok(()), Err(StoreError::Conflict(_))) => &sa,
        (Err(StoreError::Conflict(_)), Ok(())) => &sb,
        other => panic!("exactly one of two concurrent publishes wins, the other conflicts: {other:?}"),
    };
    let after = store.load(&m).await.unwrap().unwrap();
    assert_eq!(versions_of(&after.entries, &racer_name), racer, "the version is stored once");
    assert_eq!(&after.status, winner, "the winner's status is stored");
    assert_eq!(after.entries, sorted([stored, racer].concat()));
    (after.entries, after.status)
}

/// On a reopened store holding `managed` in source `m`: a stale `expected` is still a conflict, and
/// an edit computed from what the reopened store loads is stored. Returns what `m` holds then.
async fn managed_after_restart(store: &dyn EntryStore, managed: &(Vec<Entry>, SyncStatus)) -> (Vec<Entry>, SyncStatus) {
    let m = source("m");
    let loaded = store.load(&m).await.unwrap().unwrap();
    let name = loaded.entries[0].server.name().clone();
    let current = versions_of(&loaded.entries, &name);
    assert_eq!(current, versions_of(&managed.0, &name));
    let others: Vec<Entry> = loaded.entries.iter().filter(|e| *e.server.name() != name).cloned().collect();
    let mut next = current.clone();
    next[0].official.updated_at += Duration::nanoseconds(7);
    next[0].official.is_latest = !next[0].official.is_latest;
    let st = status(SyncPhase::Synced, "after-restart", loaded.entries.len());
    let write = NameWrite { source: &m, name: &name, expected: &next, next: &next, status: &st };
    assert_conflict(store.write_name(write).await, "a stale expectation after a restart");
    store
        .write_name(NameWrite { source: &m, name: &name, expected: &current, next: &next, status: &st })
        .await
        .unwrap();
    let entries = assert_name_stored(store, &name, &next, &others, &st, "a write after a restart").await;
    (entries, st)
}
