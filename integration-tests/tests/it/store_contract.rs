//! The `EntryStore` contract (`thv_testkit::contract::store`), run against every store adapter,
//! and what each store does with data corrupted behind its back. A new adapter proves itself by
//! adding one `#[tokio::test]` that calls [`contract`] with a factory for it.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::Arc;

use thv_adapters::EmbeddedStore;
use thv_adapters::store::postgres::sqlx;
use thv_adapters::store::postgres::{self as pg, PostgresStore};
use thv_domain::SyncPhase;
use thv_ports::EntryStore;
use thv_testkit::contract::store::{contract, entries, source, status};
use thv_testkit::pg::TestDb;

#[tokio::test]
async fn memory_store_meets_the_contract() {
    let store = thv_adapters::store::memory::MemoryStore::default();
    contract(|| {
        let store = store.clone();
        async move { Arc::new(store) as Arc<dyn EntryStore> }
    })
    .await;
}

#[tokio::test]
async fn embedded_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    contract(|| {
        let root = root.clone();
        async move { Arc::new(EmbeddedStore::open(root).unwrap()) as Arc<dyn EntryStore> }
    })
    .await;
}

#[tokio::test]
async fn embedded_store_isolates_a_corrupt_source_and_cleans_up_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.replace(&source("good"), &Arc::new(entries("good", 5)), &status(SyncPhase::Synced, "r", 5)).await.unwrap();
    store.replace(&source("bad"), &Arc::new(entries("bad", 5)), &status(SyncPhase::Synced, "r", 5)).await.unwrap();
    let bad_dir = dir.path().join("sources/bad");
    std::fs::write(bad_dir.join("entries-1.json"), b"[{\"truncated").unwrap();
    // What a crash in the middle of a write leaves: a temporary file.
    std::fs::write(bad_dir.join(".entries-2.json.tmp"), b"partial").unwrap();

    let all = store.load_all().await.unwrap();
    assert_eq!(all.len(), 2);
    let bad = all.iter().find(|s| s.source.as_str() == "bad").unwrap();
    assert!(bad.entries.is_empty());
    assert_eq!(bad.status.phase, SyncPhase::Failed);
    assert!(bad.status.message.as_deref().unwrap().contains("re-synced"), "{:?}", bad.status.message);
    let good = all.iter().find(|s| s.source.as_str() == "good").unwrap();
    assert_eq!(good.entries.len(), 5);

    store.replace(&source("bad"), &Arc::new(entries("bad", 2)), &status(SyncPhase::Synced, "r2", 2)).await.unwrap();
    let mut files: Vec<String> =
        std::fs::read_dir(&bad_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, vec!["entries-2.json", "status.json"]);
    assert_eq!(store.load(&source("bad")).await.unwrap().unwrap().entries.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a fresh database per test (`thv_testkit::pg::TestDb`: a container with the
// `testcontainers` feature and a Docker engine, else `DATABASE_URL`, which `scripts/test` sets).

/// A new migrated store on the test database, with a pool of its own (a restart).
async fn pg_store(db: &TestDb) -> PostgresStore {
    let pool = db.pool().await.unwrap();
    pg::migrate_up(&pool).await.unwrap();
    PostgresStore::new(pool)
}

#[tokio::test]
async fn postgres_store_meets_the_contract() {
    let db = TestDb::create().await.unwrap();
    contract(|| async { Arc::new(pg_store(&db).await) as Arc<dyn EntryStore> }).await;
}

#[tokio::test]
async fn postgres_store_isolates_a_corrupt_source() {
    let db = TestDb::create().await.unwrap();
    let store = pg_store(&db).await;
    store.replace(&source("good"), &Arc::new(entries("good", 5)), &status(SyncPhase::Synced, "r", 5)).await.unwrap();
    store.replace(&source("bad"), &Arc::new(entries("bad", 5)), &status(SyncPhase::Synced, "r", 5)).await.unwrap();
    // Garbage in one row of one source, written behind the store's back.
    sqlx::query(
        "UPDATE entries SET official = '{\"truncated\": 1}' \
         WHERE source = 'bad' AND name = (SELECT min(name) FROM entries WHERE source = 'bad')",
    )
    .execute(store.pool())
    .await
    .unwrap();

    let all = store.load_all().await.unwrap();
    assert_eq!(all.len(), 2);
    let bad = all.iter().find(|s| s.source.as_str() == "bad").unwrap();
    assert!(bad.entries.is_empty());
    assert_eq!(bad.status.phase, SyncPhase::Failed);
    assert!(bad.status.message.as_deref().unwrap().contains("re-synced"), "{:?}", bad.status.message);
    let good = all.iter().find(|s| s.source.as_str() == "good").unwrap();
    assert_eq!(good.entries, entries("good", 5));
    assert!(matches!(
        store.load(&source("bad")).await,
        Err(thv_ports::StoreError::Corrupt { source_name, .. }) if source_name == "bad"
    ));

    // The next successful sync repairs it.
    store.replace(&source("bad"), &Arc::new(entries("bad", 2)), &status(SyncPhase::Synced, "r2", 2)).await.unwrap();
    assert_eq!(store.load(&source("bad")).await.unwrap().unwrap().entries, entries("bad", 2));
}
