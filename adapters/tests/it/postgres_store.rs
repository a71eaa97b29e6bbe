//! The PostgreSQL store against a real server: migrations, bulk and atomic replaces, managed
//! writes racing from two processes, leases, the change feed, error mapping, and prime-db.
//!
//! Needs `DATABASE_URL` naming a PostgreSQL superuser (`scripts/test` starts a disposable server
//! and sets it; by hand: `export DATABASE_URL=$(scripts/pg start)`). Each test works in a database
//! of its own, dropped at the end.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use thv_adapters::store::postgres::admin::{self, APP_ROLE};
use thv_adapters::store::postgres::sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use thv_adapters::store::postgres::sqlx::{self, AssertSqlSafe, Connection};
use thv_adapters::store::postgres::{self as pg, PostgresStore};
use thv_domain::{Entry, OfficialMeta, Revision, ServerJson, SourceName, Status, SyncPhase, SyncStatus};
use thv_ports::{EntryStore, NameWrite, StoreError};
use thv_testkit::contract::store as contract;
use thv_testkit::pg::TestDb;

// ---------------------------------------------------------------------------------------------
// A fresh database per test (`thv_testkit::pg::TestDb`)

/// Runs `sql` as the superuser of `DATABASE_URL`, on a connection of its own, from any context
/// (also `Drop`).
fn admin_exec_blocking(sql: String) {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let _ = std::thread::spawn(move || {
        let Ok(options) = url.parse::<PgConnectOptions>() else { return };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            if let Ok(mut conn) = PgConnection::connect_with(&options).await {
                let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        });
    })
    .join();
}

/// A new database of its own, dropped (best effort) when the handle goes out of scope.
async fn new_db() -> TestDb {
    TestDb::create().await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// A new pool on `db` (a new process, as far as the store can tell).
async fn pool(db: &TestDb) -> PgPool {
    db.pool().await.unwrap()
}

/// A new migrated store on `db`.
async fn store(db: &TestDb) -> PostgresStore {
    let pool = pool(db).await;
    pg::migrate_up(&pool).await.unwrap();
    PostgresStore::new(pool)
}

// ---------------------------------------------------------------------------------------------
// Data

fn source(name: &str) -> SourceName {
    SourceName::parse(name).unwrap()
}

fn entries(src: &str, n: usize) -> Vec<Entry> {
    let t = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::nanoseconds(123_456_789);
    let mut out: Vec<Entry> = (0..n)
        .map(|i| {
            let server = ServerJson::from_value(json!({
                "name": format!("io.example/server-{i:06}"),
                "description": format!("Server {i} — ünïcödé, \"quotes\", \\ and \u{0}"),
                "version": format!("{}.0.0", i % 3),
                "zzz": 1,
                "aaa": {"z": 1.5, "a": [true, null]},
            }))
            .unwrap();
            let mut official = OfficialMeta::new_active(t + chrono::Duration::nanoseconds(i64::try_from(i).unwrap()));
            if i % 7 == 0 {
                official.status = Status::Deleted;
                official.status_message = Some("gone".to_owned());
            }
            official.is_latest = i % 2 == 0;
            Entry { server: Arc::new(server), official, source: source(src) }
        })
        .collect();
    out.sort_by(|a, b| (a.server.name(), a.server.version()).cmp(&(b.server.name(), b.server.version())));
    out
}

fn status(revision: &str, count: usize) -> SyncStatus {
    SyncStatus {
        phase: SyncPhase::Synced,
        last_attempt: Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 8).unwrap() + chrono::Duration::nanoseconds(1)),
        last_sync_time: Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 9).unwrap()),
        attempt_count: 0,
        server_count: count,
        revision: Some(Revision(revision.to_owned())),
        message: None,
        config_digest: Some("digest".to_owned()),
    }
}

async fn scalar_bool(pool: &PgPool, sql: &'static str) -> bool {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Migrations

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let db = new_db().await;
    let pool = pool(&db).await;
    let tables_exist = "SELECT to_regclass('sources') IS NOT NULL AND to_regclass('entries') IS NOT NULL";
    let tables_gone = "SELECT to_regclass('sources') IS NULL AND to_regclass('entries') IS NULL";

    assert_eq!(pg::applied_migrations(&pool).await.unwrap(), Vec::<i64>::new());
    assert!(scalar_bool(&pool, tables_gone).await);

    assert_eq!(pg::migrate_up(&pool).await.unwrap(), vec![1]);
    assert_eq!(pg::applied_migrations(&pool).await.unwrap(), vec![1]);
    assert!(scalar_bool(&pool, tables_exist).await);
    assert_eq!(pg::migrate_up(&pool).await.unwrap(), Vec::<i64>::new(), "nothing left to apply");

    let too_many = pg::migrate_down(&pool, 2).await.unwrap_err();
    assert!(matches!(&too_many, StoreError::Internal(m) if m.contains("only 1 applied")), "{too_many:?}");
    assert!(scalar_bool(&pool, tables_exist).await, "a refused undo changes nothing");
    assert_eq!(pg::migrate_down(&pool, 0).await.unwrap(), Vec::<i64>::new());

    assert_eq!(pg::migrate_down(&pool, 1).await.unwrap(), vec![1]);
    assert_eq!(pg::applied_migrations(&pool).await.unwrap(), Vec::<i64>::new());
    assert!(scalar_bool(&pool, tables_gone).await);

    assert_eq!(pg::migrate_up(&pool).await.unwrap(), vec![1]);
    assert!(scalar_bool(&pool, tables_exist).await);
    // Every embedded migration is reversible.
    assert!(pg::MIGRATOR.iter().any(|m| m.migration_type.is_down_migration()));

    // The store works on the re-created schema, and no migrator lock is left behind.
    let store = PostgresStore::new(pool.clone());
    store.replace(&source("a"), &Arc::new(entries("a", 3)), &status("r", 3)).await.unwrap();
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetch_one(&pool).await.unwrap();
    assert_eq!(locks, 0);
}

// ---------------------------------------------------------------------------------------------
// Replace

#[tokio::test]
async fn a_bulk_replace_of_50000_entries_loads_back_exactly() {
    let db = new_db().await;
    let store = store(&db).await;
    let big = entries("big", 50_000);
    let st = status("rev-big", big.len());

    let started = Instant::now();
    store.replace(&source("big"), &Arc::new(big.clone()), &st).await.unwrap();
    let replaced = started.elapsed();
    let started = Instant::now();
    let loaded = store.load(&source("big")).await.unwrap().unwrap();
    let loaded_in = started.elapsed();
    println!("replace of {} entries: {replaced:?}; load: {loaded_in:?}", big.len());
    assert_eq!(loaded.status, st);
    assert_eq!(loaded.entries.len(), big.len());
    assert!(loaded.entries == big, "entries come back exactly, sorted by (name, version)");

    // Replacing again swaps the whole set in one transaction.
    let small = entries("big", 10);
    let started = Instant::now();
    store.replace(&source("big"), &Arc::new(small.clone()), &status("rev-small", 10)).await.unwrap();
    println!("replace of 50,000 entries by 10: {:?}", started.elapsed());
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM entries").fetch_one(store.pool()).await.unwrap();
    assert_eq!(count, 10);
    assert_eq!(store.load_all().await.unwrap()[0].entries, small);
}

#[tokio::test]
async fn a_replace_that_fails_midway_keeps_the_old_entries_and_status() {
    let db = new_db().await;
    let store = store(&db).await;
    let old = entries("s", 5);
    let old_status = status("old", 5);
    store.replace(&source("s"), &Arc::new(old.clone()), &old_status).await.unwrap();

    // More than one insert batch, and a duplicate (name, version) in the last one: the earlier
    // statements of the transaction succeed, the last one fails.
    let mut bad = entries("s", pg::INSERT_BATCH + 500);
    bad.push(bad[0].clone());
    let err = store.replace(&source("s"), &Arc::new(bad.clone()), &status("new", bad.len())).await.unwrap_err();
    assert!(matches!(&err, StoreError::Internal(m) if m.contains("duplicate key")), "{err:?}");

    let loaded = store.load(&source("s")).await.unwrap().unwrap();
    assert_eq!(loaded.entries, old);
    assert_eq!(loaded.status, old_status);
    // A source that never existed is not created by a failed replace either.
    assert!(store.replace(&source("t"), &Arc::new(bad.clone()), &status("new", 1)).await.is_err());
    assert_eq!(store.load(&source("t")).await.unwrap(), None);
}

#[tokio::test]
async fn unreadable_rows_are_corrupt_for_load_and_isolated_by_load_all() {
    let db = new_db().await;
    let store = store(&db).await;
    store.replace(&source("good"), &Arc::new(entries("good", 3)), &status("r", 3)).await.unwrap();
    store.replace(&source("bad"), &Arc::new(entries("bad", 3)), &status("r", 3)).await.unwrap();
    store.replace(&source("worse"), &Arc::new(entries("worse", 3)), &status("r", 3)).await.unwrap();
    sqlx::query("UPDATE entries SET server_json = '{\"truncated\": true}' WHERE source = 'bad' AND version = '1.0.0'")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE sources SET status = '{\"phase\": \"nonsense\"}' WHERE name = 'worse'")
        .execute(store.pool())
        .await
        .unwrap();

    let err = store.load(&source("bad")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { source_name, detail } if source_name == "bad" && detail.contains("server.json")),
        "{err:?}"
    );
    assert_eq!(store.load_status(&source("bad")).await.unwrap(), Some(status("r", 3)), "the status is intact");
    let err = store.load_status(&source("worse")).await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { source_name, .. } if source_name == "worse"), "{err:?}");
    assert_eq!(store.load_status(&source("none")).await.unwrap(), None);
    let all = store.load_all().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["bad", "good", "worse"]);
    for broken in [&all[0], &all[2]] {
        assert!(broken.entries.is_empty());
        assert_eq!(broken.status.phase, SyncPhase::Failed);
        assert!(broken.status.message.as_deref().unwrap().contains("re-synced"), "{:?}", broken.status);
    }
    assert_eq!(all[1].entries, entries("good", 3));
}

// ---------------------------------------------------------------------------------------------
// Managed writes (`write_name`) from several processes

/// The rows stored for `(source, name)`, counted by SQL.
async fn rows_of(pool: &PgPool, source: &SourceName, name: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM entries WHERE source = $1 AND name = $2")
        .bind(source.as_str())
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Publishes `entry` as the first version of its name, from `store`, with status `revision`.
async fn publish(store: PostgresStore, entry: Entry, revision: String) -> Result<(), StoreError> {
    let next = [entry];
    let status = status(&revision, 1);
    // The revision the write is computed from: what the store holds now (none for a new source).
    let current = store.load_status(&next[0].source).await?.and_then(|s| s.revision);
    store
        .write_name(NameWrite {
            source: &next[0].source,
            name: next[0].server.name(),
            expected_revision: current.as_ref(),
            expected: &[],
            next: &next,
            status: &status,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_publishing_the_same_new_version_at_once_one_wins_and_one_conflicts() {
    let db = new_db().await;
    let a = store(&db).await;
    let b = store(&db).await;
    for round in 0..20 {
        // Even rounds create their source, odd rounds add a name to a source that exists.
        let src = if round % 2 == 0 { format!("fresh-{round}") } else { "shared".to_owned() };
        let name = format!("io.example/race-{round:02}");
        let entry = contract::entry(&src, &name, "1.0.0");
        let (ra, rb) = tokio::join!(
            tokio::spawn(publish(a.clone(), entry.clone(), format!("a-{round}"))),
            tokio::spawn(publish(b.clone(), entry.clone(), format!("b-{round}"))),
        );
        let winner = match (ra.unwrap(), rb.unwrap()) {
            (Ok(()), Err(StoreError::Conflict(_))) => format!("a-{round}"),
            (Err(StoreError::Conflict(_)), Ok(())) => format!("b-{round}"),
            other => panic!("round {round}: exactly one Ok and one Conflict, got {other:?}"),
        };
        let src = source(&src);
        assert_eq!(rows_of(a.pool(), &src, &name).await, 1, "round {round}: one row stored");
        let loaded = b.load(&src).await.unwrap().unwrap();
        assert_eq!(contract::versions_of(&loaded.entries, entry.server.name()), [entry], "round {round}");
        assert_eq!(loaded.status, status(&winner, 1), "round {round}: the winner's status");
    }
    let shared = b.load(&source("shared")).await.unwrap().unwrap();
    assert_eq!(shared.entries.len(), 10, "every odd round added its name to the shared source");

    // Writes of different names of one source at once: a write computed from a revision that
    // moved on is refused (it would store a stale view of the source), and once retried from
    // the new revision, both are stored.
    let (x, y) =
        (contract::entry("shared", "io.example/x", "1.0.0"), contract::entry("shared", "io.example/y", "1.0.0"));
    let (rx, ry) = tokio::join!(
        tokio::spawn(publish(a.clone(), x.clone(), "x".to_owned())),
        tokio::spawn(publish(b.clone(), y.clone(), "y".to_owned())),
    );
    let (rx, ry) = (rx.unwrap(), ry.unwrap());
    assert!(rx.is_ok() || ry.is_ok(), "one of them is stored: {rx:?} {ry:?}");
    if let Err(e) = rx {
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        publish(a.clone(), x.clone(), "x".to_owned()).await.unwrap();
    }
    if let Err(e) = ry {
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        publish(b.clone(), y.clone(), "y".to_owned()).await.unwrap();
    }
    let shared = a.load(&source("shared")).await.unwrap().unwrap();
    assert_eq!(shared.entries.len(), 12);
    assert_eq!(contract::versions_of(&shared.entries, x.server.name()), [x]);
    assert_eq!(contract::versions_of(&shared.entries, y.server.name()), [y]);
}

#[tokio::test]
async fn a_managed_write_reaches_the_change_feed_of_another_store_once_committed() {
    let db = new_db().await;
    let a = store(&db).await;
    let b = store(&db).await;
    let mut feed = b.subscribe().await.unwrap();

    // A refused write commits nothing and announces nothing: the first announcement is the
    // write after it.
    let ghost = [contract::entry("refused", "io.example/ghost", "1.0.0")];
    let refused = NameWrite {
        source: &ghost[0].source,
        name: ghost[0].server.name(),
        expected_revision: None,
        expected: &ghost,
        next: &ghost,
        status: &status("refused", 1),
    };
    assert!(matches!(a.write_name(refused).await, Err(StoreError::Conflict(_))));

    let m = source("managed");
    let first = [contract::entry("managed", "io.example/one", "1.0.0")];
    let st1 = status("w1", 1);
    let write = NameWrite {
        source: &m,
        name: first[0].server.name(),
        expected_revision: None,
        expected: &[],
        next: &first,
        status: &st1,
    };
    a.write_name(write).await.unwrap();
    assert_eq!(next_within(&mut feed, 5).await.unwrap(), m);
    // Announced after the commit: the other store reads the write.
    let loaded = b.load(&m).await.unwrap().unwrap();
    assert_eq!((loaded.entries.as_slice(), &loaded.status), (first.as_slice(), &st1));

    // An edit is announced too.
    let mut edited = first.clone();
    edited[0].official.updated_at += chrono::Duration::nanoseconds(1);
    let st2 = status("w2", 1);
    let write = NameWrite {
        source: &m,
        name: first[0].server.name(),
        expected_revision: st1.revision.as_ref(),
        expected: &first,
        next: &edited,
        status: &st2,
    };
    a.write_name(write).await.unwrap();
    assert_eq!(next_within(&mut feed, 5).await.unwrap(), m);
    let loaded = b.load(&m).await.unwrap().unwrap();
    assert_eq!((loaded.entries.as_slice(), &loaded.status), (edited.as_slice(), &st2));
}

// ---------------------------------------------------------------------------------------------
// Leases

async fn advisory_locks(pool: &PgPool) -> i64 {
    // pg_locks is server-wide: count only this test's database (other tests run in parallel).
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_sync_lease_is_exclusive_among_stores_and_ends_on_release_or_drop() {
    let db = new_db().await;
    let a = store(&db).await;
    let b = store(&db).await;
    let s = source("shared");

    let lease = a.try_lease(&s).await.unwrap().expect("the first taker gets the lease");
    assert!(b.try_lease(&s).await.unwrap().is_none(), "held by the other store");
    assert!(a.try_lease(&s).await.unwrap().is_none(), "held, even for the same store");
    let other = b.try_lease(&source("other")).await.unwrap().expect("other sources are independent");
    other.release().await.unwrap();

    lease.release().await.unwrap();
    assert_eq!(advisory_locks(a.pool()).await, 0, "released means unlocked");
    let lease = b.try_lease(&s).await.unwrap().expect("free after release");

    // Dropped without release: its connection closes and the server frees the lock.
    drop(lease);
    let deadline = Instant::now() + Duration::from_secs(10);
    let retaken = loop {
        if let Some(l) = a.try_lease(&s).await.unwrap() {
            break l;
        }
        assert!(Instant::now() < deadline, "a dropped lease must free the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    retaken.release().await.unwrap();
    assert_eq!(advisory_locks(a.pool()).await, 0);

    // Connections that held a lock never go back to a pool: the pools' connections hold none.
    for _ in 0..8 {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())",
        )
        .fetch_one(b.pool())
        .await
        .unwrap();
        assert!(!held);
    }
}

// ---------------------------------------------------------------------------------------------
// Change feed

async fn next_within(feed: &mut Box<dyn thv_ports::ChangeFeed>, secs: u64) -> Result<SourceName, StoreError> {
    tokio::time::timeout(Duration::from_secs(secs), feed.next())
        .await
        .unwrap_or_else(|_| panic!("no change notification within {secs}s"))
}

#[tokio::test]
async fn commits_of_one_store_reach_the_change_feed_of_another() {
    let db = new_db().await;
    let a = store(&db).await;
    let b = store(&db).await;
    let mut feed = b.subscribe().await.unwrap();

    // A failed replace commits nothing and announces nothing.
    let mut dup = entries("x", 2);
    dup.push(dup[0].clone());
    assert!(a.replace(&source("x"), &Arc::new(dup.clone()), &status("r", 3)).await.is_err());

    a.replace(&source("alpha"), &Arc::new(entries("alpha", 2)), &status("r", 2)).await.unwrap();
    assert_eq!(next_within(&mut feed, 5).await.unwrap(), source("alpha"));
    a.write_status(&source("beta"), &SyncStatus::pending()).await.unwrap();
    assert_eq!(next_within(&mut feed, 5).await.unwrap(), source("beta"));
    // Nothing else is pending.
    assert!(tokio::time::timeout(Duration::from_millis(300), feed.next()).await.is_err());

    // A feed whose connection is cut says so.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .fetch_one(a.pool())
    .await
    .unwrap();
    assert_eq!(killed, 1);
    let err = next_within(&mut feed, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // Subscribing again works.
    let mut feed = b.subscribe().await.unwrap();
    a.write_status(&source("gamma"), &SyncStatus::pending()).await.unwrap();
    assert_eq!(next_within(&mut feed, 5).await.unwrap(), source("gamma"));
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_the_password_stays_secret() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "hunter2-very-secret";
    let options = PgConnectOptions::new().host("127.0.0.1").port(port).username("nobody").password(secret);
    let pool = PgPoolOptions::new().acquire_timeout(Duration::from_secs(1)).connect_lazy_with(options);
    let store = PostgresStore::new(pool.clone());
    let s = source("s");
    let errors = [
        store.load_all().await.unwrap_err(),
        store.load(&s).await.unwrap_err(),
        store.replace(&s, &Arc::default(), &SyncStatus::pending()).await.unwrap_err(),
        store.write_status(&s, &SyncStatus::pending()).await.unwrap_err(),
        store.try_lease(&s).await.unwrap_err(),
        store.subscribe().await.unwrap_err(),
        pg::migrate_up(&pool).await.unwrap_err(),
    ];
    for e in errors {
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(!e.to_string().contains(secret), "{e}");
    }
}

#[tokio::test]
async fn an_unmigrated_database_says_so() {
    let db = new_db().await;
    let store = PostgresStore::new(pool(&db).await);
    let err = store.load_all().await.unwrap_err();
    assert!(matches!(&err, StoreError::Internal(m) if m.contains("migrate up")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// prime-db

/// A login role, dropped (best effort) when this goes out of scope — after the databases declared
/// after it, which hold its privileges.
struct TestRole(String);

impl Drop for TestRole {
    fn drop(&mut self) {
        admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

fn test_role_name(what: &str) -> String {
    TestDb::unique_role(&format!("thv_{what}"))
}

/// The stored verifier of `role`, split into (iterations, salt).
async fn stored_verifier(pool: &PgPool, role: &str) -> (String, u32, Vec<u8>) {
    use base64::Engine as _;
    let verifier: String = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(role)
        .fetch_one(pool)
        .await
        .unwrap();
    let rest = verifier.strip_prefix("SCRAM-SHA-256$").unwrap_or_else(|| panic!("not SCRAM: {verifier}"));
    let (params, _) = rest.split_once('$').unwrap();
    let (iterations, salt) = params.split_once(':').unwrap();
    let salt = base64::engine::general_purpose::STANDARD.decode(salt).unwrap();
    (verifier.clone(), iterations.parse().unwrap(), salt)
}

#[tokio::test]
async fn our_scram_verifier_is_the_one_postgres_computes() {
    let probe = TestRole(test_role_name("probe"));
    let db = new_db().await;
    let pool = pool(&db).await;
    let password = "pässwörd with spaces, 'quotes' and ‽";
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET password_encryption = 'scram-sha-256'").execute(&mut *conn).await.unwrap();
    // The server hashes this one itself (test-only literal, quoted by the server).
    sqlx::query("SELECT set_config('thv.test_password', $1, false)").bind(password).execute(&mut *conn).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DO $$ BEGIN EXECUTE format('CREATE ROLE {} PASSWORD %L', current_setting('thv.test_password')); END $$",
        probe.0
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let (stored, iterations, salt) = stored_verifier(&pool, &probe.0).await;
    assert_eq!(admin::scram_sha256_verifier(password, &salt, iterations).unwrap(), stored);
}

#[tokio::test]
async fn prime_db_creates_a_user_that_can_use_the_store() {
    // Quotes, backslashes, dollar quotes and format specifiers: nothing of it may reach SQL text.
    let password = r#"it's "a" \secret\ $$ $prime$ %s %L %I '); DROP TABLE entries; --"#;
    let user = TestRole(test_role_name("user"));
    let migrated_first = new_db().await;
    let primed_first = new_db().await;

    let plan = admin::prime_db_plan(&user.0, &migrated_first.name).join("\n");
    assert!(plan.contains("'********'") && !plan.contains("secret"), "{plan}");

    // Bad names are refused before anything runs.
    let admin_pool = pool(&migrated_first).await;
    for bad in ["", APP_ROLE, &"x".repeat(64)] {
        assert!(matches!(admin::prime_db(&admin_pool, bad, password, "db").await, Err(StoreError::Internal(_))));
    }

    // 1. Migrations first, then prime-db: grants on the existing tables.
    pg::migrate_up(&admin_pool).await.unwrap();
    admin::prime_db(&admin_pool, &user.0, password, &migrated_first.name).await.unwrap();
    // 2. prime-db first, then migrations: default privileges (and the migration's own grant).
    let admin_pool2 = pool(&primed_first).await;
    admin::prime_db(&admin_pool2, &user.0, password, &primed_first.name).await.unwrap();
    pg::migrate_up(&admin_pool2).await.unwrap();

    // The role and the user as intended.
    let (login, member, app_login): (bool, bool, bool) = sqlx::query_as(
        "SELECT u.rolcanlogin, pg_has_role(u.oid, r.oid, 'MEMBER'), r.rolcanlogin \
         FROM pg_roles u, pg_roles r WHERE u.rolname = $1 AND r.rolname = $2",
    )
    .bind(&user.0)
    .bind(APP_ROLE)
    .fetch_one(&admin_pool)
    .await
    .unwrap();
    assert!(login && member && !app_login);

    // The password. The disposable server trusts every local connection, so logging in cannot
    // prove it; instead recompute the stored SCRAM verifier from the password and its salt.
    let (stored, iterations, salt) = stored_verifier(&admin_pool, &user.0).await;
    assert_eq!(admin::scram_sha256_verifier(password, &salt, iterations).unwrap(), stored);
    assert_ne!(admin::scram_sha256_verifier("wrong", &salt, iterations).unwrap(), stored);

    // Running it again (a new password) is fine.
    admin::prime_db(&admin_pool, &user.0, "another one", &migrated_first.name).await.unwrap();
    let (stored, iterations, salt) = stored_verifier(&admin_pool, &user.0).await;
    assert_eq!(admin::scram_sha256_verifier("another one", &salt, iterations).unwrap(), stored);
    admin::prime_db(&admin_pool, &user.0, password, &migrated_first.name).await.unwrap();

    // The user reads and writes through the store, in both databases.
    for db in [&migrated_first, &primed_first] {
        let options = db.options_as(&user.0, password);
        let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
        let me: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&pool).await.unwrap();
        assert_eq!(me, user.0);
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM entries").fetch_one(&pool).await.unwrap();
        assert_eq!(count, 0);
        let store = PostgresStore::new(pool.clone());
        store.replace(&source("s"), &Arc::new(entries("s", 3)), &status("r", 3)).await.unwrap();
        store.replace(&source("s"), &Arc::new(entries("s", 2)), &status("r2", 2)).await.unwrap();
        store.write_status(&source("s"), &status("r3", 2)).await.unwrap();
        assert_eq!(store.load(&source("s")).await.unwrap().unwrap().entries, entries("s", 2));
        let lease = store.try_lease(&source("s")).await.unwrap().unwrap();
        lease.release().await.unwrap();
        // Not the owner: no DDL.
        assert!(sqlx::raw_sql("DROP TABLE entries").execute(&pool).await.is_err());
        pool.close().await;
    }
}
