//! The PostgreSQL store: the system of record shared by every replica.
//!
//! Schema (`migrations/0001_initial.up.sql`):
//! ```text
//! sources (name PK, status json, phase, changed_at)
//! entries (source FK → sources ON DELETE CASCADE, name, version, server_json json, official json,
//!          content_hash, status, published_at, updated_at, is_latest; PK (source, name, version))
//! ```
//!
//! - **Exactness.** `server_json` and `official` are `json` (an exact copy of the text; never `jsonb`,
//!   which reorders keys), so a server.json comes back byte-for-byte and the official timestamps keep
//!   their nanoseconds. The `timestamptz` columns are rounded copies for SQL convenience only. Names
//!   and versions use the "C" collation: the primary key orders entries byte-wise, as the snapshot
//!   does.
//! - **Replace** runs in one transaction: upsert of the status (which row-locks the source, so two
//!   replaces of one source serialise), delete of the old entries, bulk insert of the new ones
//!   (`INSERT … SELECT … FROM UNNEST($n::text[], …)`, [`INSERT_BATCH`] rows a statement) and
//!   `pg_notify`, which PostgreSQL delivers only when the transaction commits.
//! - **Leases** are session-level advisory locks (`pg_try_advisory_lock`) held by a connection
//!   detached from the pool and owned by the lease: releasing it unlocks and closes the connection,
//!   dropping it closes the connection, and the server frees the lock when the session ends. A
//!   locked connection never goes back to the pool.
//! - **Change feed**: [`PgListener`] on [`CHANGE_CHANNEL`], on its own one-connection pool (it never
//!   takes a connection of the application's pool). Every process sharing the database, this one
//!   included, sees every change; reloading a source is idempotent.
//! - Entries are stored under the source they are replaced in: [`Entry::source`] comes back as
//!   that source.
//!
//! Leases and the change feed need session-level features: connect directly or through a pooler
//! in session mode (not `PgBouncer` transaction pooling).
//!
//! # Building the pool
//! Build [`PgConnectOptions`](sqlx::postgres::PgConnectOptions) field by field (host, port,
//! username, password, database, `ssl_mode` parsed from the `sslMode` string with
//! `PgSslMode::from_str`) rather than a URL holding the password, and a pool with
//! [`PgPoolOptions`]: `max_connections(maxOpenConns)`, `min_connections(min(maxIdleConns,
//! maxOpenConns))`, `max_lifetime(connMaxLifetime)`, an `idle_timeout` and an `acquire_timeout`
//! (which bounds how long an unreachable database takes to report [`StoreError::Unavailable`]).
//! Run [`migrate_up`] on a pool of the migration user first.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};
use thv_domain::{Entry, OfficialMeta, ServerJson, SourceName, SyncPhase, SyncStatus};
use thv_ports::{ChangeFeed, EntryStore, SourceLease, SourceState, StoreError};

/// The sqlx this adapter is built with: build the [`PgPool`] given to [`PostgresStore::new`] with it.
pub use sqlx;

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The `LISTEN`/`NOTIFY` channel on which a commit announces the name of the source it changed.
pub const CHANGE_CHANNEL: &str = "thv_registry_changes";

/// Rows inserted by one statement of a replace (all of them in the same transaction). Bounds the
/// size of one message to the server (a few MB) while keeping a replace a few dozen round trips;
/// a pooled connection keeps its buffers at the size of the largest message it sent, so larger
/// batches stay resident after the sync.
pub const INSERT_BATCH: usize = 2_000;

/// Namespace hashed together with a source name into its advisory-lock key.
const LEASE_NAMESPACE: &[u8] = b"thv-registry-api/source-lease/v1\0";

/// The table in which sqlx records applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Entries and sync status in PostgreSQL; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A store on `pool`. The pool is built by the caller (from configuration); the schema must be
    /// migrated already ([`migrate_up`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The advisory-lock key of a source's lease: the first 8 bytes (big-endian) of
/// SHA-256(namespace ‖ source name). Stable across processes and versions.
pub fn lease_key(source: &SourceName) -> i64 {
    let digest = Sha256::new().chain_update(LEASE_NAMESPACE).chain_update(source.as_str().as_bytes()).finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

// ---------------------------------------------------------------------------------------------
// Errors

/// SQLSTATE classes and codes that mean "the database cannot be used right now" rather than "this
/// request is wrong": connection exceptions, insufficient resources, operator intervention
/// (shutdown, statement timeout), read-only standby, serialization failures and deadlocks, and
/// authentication or unknown-database failures while connecting.
fn is_unavailable_code(code: &str) -> bool {
    ["08", "53", "57", "40", "28"].iter().any(|class| code.starts_with(class)) || code == "25006" || code == "3D000"
}

/// Translates a sqlx error, with `what` saying what was being done. Never carries a password:
/// sqlx errors do not include connect options.
pub(crate) fn db_error(what: &str, e: &sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) | E::BeginFailed => {
            StoreError::Unavailable(format!("cannot {what}: {e}"))
        }
        E::Database(db) if db.code().is_some_and(|c| is_unavailable_code(&c)) => {
            StoreError::Unavailable(format!("cannot {what}: {e}"))
        }
        E::Database(db) if db.code().as_deref() == Some("42P01") => StoreError::Internal(format!(
            "cannot {what}: {e} (is the database schema migrated? run `thv-registry-api migrate up`)"
        )),
        E::Migrate(m) => migrate_error(what, m),
        _ => StoreError::Internal(format!("cannot {what}: {e}")),
    }
}

fn migrate_error(what: &str, e: &MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => match db_error(what, inner) {
            StoreError::Unavailable(_) => StoreError::Unavailable(format!("cannot {what}: {e}")),
            _ => StoreError::Internal(format!("cannot {what}: {e}")),
        },
        _ => StoreError::Internal(format!("cannot {what}: {e}")),
    }
}

fn encode_error(what: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Internal(format!("cannot encode {what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Migrations

/// Versions of the migrations applied to the database, oldest first (empty when none ever ran).
pub async fn applied_migrations(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(MIGRATIONS_TABLE)
        .fetch_one(pool)
        .await
        .map_err(|e| db_error("list applied migrations", &e))?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(|e| db_error("list applied migrations", &e))
}

/// A connection of its own for the migrator, closed afterwards: the migrator holds a session-level
/// advisory lock while it works, which a failed run could otherwise leave on a pooled connection.
async fn migrator_connection(pool: &PgPool) -> Result<PgConnection, StoreError> {
    Ok(pool.acquire().await.map_err(|e| db_error("connect to run migrations", &e))?.detach())
}

/// Applies every pending migration; returns the versions applied, oldest first.
pub async fn migrate_up(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let before = applied_migrations(pool).await?;
    let mut conn = migrator_connection(pool).await?;
    let result = MIGRATOR.run(&mut conn).await;
    close_quietly(conn).await;
    result.map_err(|e| migrate_error("apply migrations", &e))?;
    let after = applied_migrations(pool).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Undoes the last `steps` applied migrations; returns the versions undone, newest first.
///
/// # Errors
/// [`StoreError::Internal`] when fewer than `steps` migrations are applied (nothing is undone).
pub async fn migrate_down(pool: &PgPool, steps: u32) -> Result<Vec<i64>, StoreError> {
    let before = applied_migrations(pool).await?;
    let steps = usize::try_from(steps).map_err(|_| StoreError::Internal(format!("too many steps: {steps}")))?;
    if steps > before.len() {
        return Err(StoreError::Internal(format!(
            "cannot undo {steps} migration(s): only {} applied ({before:?})",
            before.len()
        )));
    }
    if steps == 0 {
        return Ok(Vec::new());
    }
    let keep = before.len() - steps;
    let target = if keep == 0 { 0 } else { before[keep - 1] };
    let mut conn = migrator_connection(pool).await?;
    let result = MIGRATOR.undo(&mut conn, target).await;
    close_quietly(conn).await;
    result.map_err(|e| migrate_error("undo migrations", &e))?;
    let after = applied_migrations(pool).await?;
    Ok(before.into_iter().rev().filter(|v| !after.contains(v)).collect())
}

async fn close_quietly(conn: PgConnection) {
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing a dedicated database connection failed; it is dropped");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A source row: (name, status JSON text).
type SourceRow = (String, String);
/// An entry row: (source, name, version, server.json text, official metadata JSON text).
type EntryRow = (String, String, String, String, String);

const SELECT_SOURCES: &str = "SELECT name, status::text FROM sources ORDER BY name";
const SELECT_SOURCE: &str = "SELECT name, status::text FROM sources WHERE name = $1";
const SELECT_ENTRIES: &str =
    "SELECT source, name, version, server_json::text, official::text FROM entries ORDER BY source, name, version";
const SELECT_SOURCE_ENTRIES: &str = "SELECT source, name, version, server_json::text, official::text FROM entries \
     WHERE source = $1 ORDER BY name, version";

/// A read-only transaction that sees one snapshot, so a status and its entries always match.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

fn corrupt(source: &str, detail: String) -> StoreError {
    StoreError::Corrupt { source_name: source.to_owned(), detail }
}

fn decode_status(source: &str, raw: &str) -> Result<SyncStatus, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(source, format!("sync status: {e}")))
}

fn decode_entry(source: &SourceName, row: &EntryRow) -> Result<Entry, StoreError> {
    let (_, name, version, server, official) = row;
    let at = || format!("entry {name}@{version}");
    let server: ServerJson =
        serde_json::from_str(server).map_err(|e| corrupt(source.as_str(), format!("{}: server.json: {e}", at())))?;
    if server.name().as_str() != name || server.version().as_str() != version {
        return Err(corrupt(
            source.as_str(),
            format!("{}: its server.json is {}@{}", at(), server.name().as_str(), server.version().as_str()),
        ));
    }
    let official: OfficialMeta = serde_json::from_str(official)
        .map_err(|e| corrupt(source.as_str(), format!("{}: official metadata: {e}", at())))?;
    Ok(Entry { server: Arc::new(server), official, source: source.clone() })
}

/// Builds the state of one source from its rows (sorted by name, version).
fn decode_source(source: &SourceName, status: &str, rows: &[EntryRow]) -> Result<SourceState, StoreError> {
    let status = decode_status(source.as_str(), status)?;
    let entries = rows.iter().map(|row| decode_entry(source, row)).collect::<Result<Vec<_>, _>>()?;
    Ok(SourceState { source: source.clone(), entries, status })
}

/// What `load_all` returns for a source whose stored data cannot be read.
fn unreadable(source: SourceName, detail: &str) -> SourceState {
    let mut status = SyncStatus::pending();
    status.phase = SyncPhase::Failed;
    status.message = Some(format!("stored data could not be read and will be re-synced: {detail}"));
    SourceState { source, entries: Vec::new(), status }
}

/// Decodes every source (CPU work: run off the async workers).
fn decode_all(sources: Vec<SourceRow>, rows: &[EntryRow]) -> Vec<SourceState> {
    let mut out = Vec::with_capacity(sources.len());
    let mut rest = rows;
    for (raw_name, status) in sources {
        // Rows are sorted by source, in the same byte order as the sources.
        let skip = rest.partition_point(|r| r.0.as_str() < raw_name.as_str());
        rest = &rest[skip..];
        let take = rest.partition_point(|r| r.0 == raw_name);
        let (mine, after) = rest.split_at(take);
        rest = after;
        let Ok(source) = SourceName::parse(&raw_name) else {
            tracing::warn!(source = %raw_name, "ignoring a stored source whose name is not a valid source name");
            continue;
        };
        match decode_source(&source, &status, mine) {
            Ok(state) => out.push(state),
            Err(e) => {
                let detail = match e {
                    StoreError::Corrupt { detail, .. } => detail,
                    other => other.to_string(),
                };
                tracing::warn!(source = %source, %detail, "stored data of a source is unreadable");
                out.push(unreadable(source, &detail));
            }
        }
    }
    out
}

async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("decoding task failed: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Writing

const UPSERT_STATUS: &str = "INSERT INTO sources (name, status, phase, changed_at) VALUES ($1, $2::json, $3, now()) \
     ON CONFLICT (name) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase, changed_at = EXCLUDED.changed_at";
const DELETE_ENTRIES: &str = "DELETE FROM entries WHERE source = $1";
const INSERT_ENTRIES: &str = "INSERT INTO entries \
     (source, name, version, server_json, official, content_hash, status, published_at, updated_at, is_latest) \
     SELECT $1, u.name, u.version, u.server_json::json, u.official::json, u.content_hash, u.status, \
            u.published_at, u.updated_at, u.is_latest \
     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::timestamptz[], $9::timestamptz[], $10::boolean[]) \
          AS u(name, version, server_json, official, content_hash, status, published_at, updated_at, is_latest)";
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// The columns of one insert statement.
#[derive(Default)]
struct Columns<'a> {
    name: Vec<&'a str>,
    version: Vec<&'a str>,
    server_json: Vec<&'a str>,
    official: Vec<String>,
    content_hash: Vec<&'a str>,
    status: Vec<&'static str>,
    published_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    is_latest: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn of(entries: &'a [Entry]) -> Result<Self, StoreError> {
        let mut c = Self::default();
        for e in entries {
            c.name.push(e.server.name().as_str());
            c.version.push(e.server.version().as_str());
            c.server_json.push(e.server.json());
            c.official.push(serde_json::to_string(&e.official).map_err(|err| encode_error("official metadata", &err))?);
            c.content_hash.push(e.server.content_hash().0.as_str());
            c.status.push(e.official.status.as_str());
            c.published_at.push(e.official.published_at);
            c.updated_at.push(e.official.updated_at);
            c.is_latest.push(e.official.is_latest);
        }
        Ok(c)
    }
}

fn phase_name(status: &SyncStatus) -> Result<String, StoreError> {
    match serde_json::to_value(status.phase).map_err(|e| encode_error("sync phase", &e))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Internal(format!("sync phase encodes as {other}, not a string"))),
    }
}

async fn upsert_status(
    tx: &mut Transaction<'static, Postgres>,
    source: &SourceName,
    status: &SyncStatus,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(status).map_err(|e| encode_error("sync status", &e))?;
    sqlx::query(UPSERT_STATUS)
        .bind(source.as_str())
        .bind(json)
        .bind(phase_name(status)?)
        .execute(&mut **tx)
        .await
        .map_err(|e| db_error(&format!("write the status of source `{source}`"), &e))?;
    Ok(())
}

async fn notify(tx: &mut Transaction<'static, Postgres>, source: &SourceName) -> Result<(), StoreError> {
    sqlx::query(NOTIFY)
        .bind(CHANGE_CHANNEL)
        .bind(source.as_str())
        .execute(&mut **tx)
        .await
        .map_err(|e| db_error(&format!("announce the change of source `{source}`"), &e))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl EntryStore for PostgresStore {
    async fn load_all(&self) -> Result<Vec<SourceState>, StoreError> {
        let what = "load the stored sources";
        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await.map_err(|e| db_error(what, &e))?;
        let sources: Vec<SourceRow> =
            sqlx::query_as(SELECT_SOURCES).fetch_all(&mut *tx).await.map_err(|e| db_error(what, &e))?;
        let rows: Vec<EntryRow> =
            sqlx::query_as(SELECT_ENTRIES).fetch_all(&mut *tx).await.map_err(|e| db_error(what, &e))?;
        tx.commit().await.map_err(|e| db_error(what, &e))?;
        off_thread(move || decode_all(sources, &rows)).await
    }

    async fn load(&self, source: &SourceName) -> Result<Option<SourceState>, StoreError> {
        let what = format!("load source `{source}`");
        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await.map_err(|e| db_error(&what, &e))?;
        let found: Option<SourceRow> = sqlx::query_as(SELECT_SOURCE)
            .bind(source.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(&what, &e))?;
        let Some((_, status)) = found else {
            return Ok(None);
        };
        let rows: Vec<EntryRow> = sqlx::query_as(SELECT_SOURCE_ENTRIES)
            .bind(source.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error(&what, &e))?;
        tx.commit().await.map_err(|e| db_error(&what, &e))?;
        let source = source.clone();
        off_thread(move || decode_source(&source, &status, &rows)).await?.map(Some)
    }

    async fn load_status(&self, source: &SourceName) -> Result<Option<SyncStatus>, StoreError> {
        let found: Option<SourceRow> = sqlx::query_as(SELECT_SOURCE)
            .bind(source.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(&format!("load the status of source `{source}`"), &e))?;
        found.map(|(_, status)| decode_status(source.as_str(), &status)).transpose()
    }

    async fn replace(&self, source: &SourceName, entries: &[Entry], status: &SyncStatus) -> Result<(), StoreError> {
        let started = Instant::now();
        let what = format!("replace the entries of source `{source}`");
        let mut tx = self.pool.begin().await.map_err(|e| db_error(&what, &e))?;
        // First: the upsert locks the source's row, so concurrent replaces of a source serialise.
        upsert_status(&mut tx, source, status).await?;
        sqlx::query(DELETE_ENTRIES).bind(source.as_str()).execute(&mut *tx).await.map_err(|e| db_error(&what, &e))?;
        for batch in entries.chunks(INSERT_BATCH) {
            let c = Columns::of(batch)?;
            sqlx::query(INSERT_ENTRIES)
                .bind(source.as_str())
                .bind(c.name)
                .bind(c.version)
                .bind(c.server_json)
                .bind(c.official)
                .bind(c.content_hash)
                .bind(c.status)
                .bind(c.published_at)
                .bind(c.updated_at)
                .bind(c.is_latest)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(&what, &e))?;
        }
        notify(&mut tx, source).await?;
        tx.commit().await.map_err(|e| db_error(&what, &e))?;
        tracing::debug!(source = %source, entries = entries.len(), elapsed = ?started.elapsed(), "replaced source entries");
        Ok(())
    }

    async fn write_status(&self, source: &SourceName, status: &SyncStatus) -> Result<(), StoreError> {
        let what = format!("write the status of source `{source}`");
        let mut tx = self.pool.begin().await.map_err(|e| db_error(&what, &e))?;
        upsert_status(&mut tx, source, status).await?;
        notify(&mut tx, source).await?;
        tx.commit().await.map_err(|e| db_error(&what, &e))
    }

    async fn try_lease(&self, source: &SourceName) -> Result<Option<Box<dyn SourceLease>>, StoreError> {
        let what = format!("take the sync lease of source `{source}`");
        let key = lease_key(source);
        // Detached: the pool never sees this connection again, locked or not.
        let mut conn = self.pool.acquire().await.map_err(|e| db_error(&what, &e))?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| db_error(&what, &e))?;
        if !taken {
            close_quietly(conn).await;
            return Ok(None);
        }
        Ok(Some(Box::new(PgLease { source: source.clone(), key, conn: Some(conn) })))
    }

    async fn subscribe(&self) -> Result<Box<dyn ChangeFeed>, StoreError> {
        let what = "subscribe to store changes";
        // A one-connection pool of its own: the listener never holds a connection of the
        // application's pool, and closing that pool does not cut the feed.
        let options = self.pool.options();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(options.get_acquire_timeout())
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&own).await.map_err(|e| db_error(what, &e))?;
        listener.ignore_pool_close_event(true);
        // A lost connection is reported (changes may have been missed), not silently re-made.
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await.map_err(|e| db_error(what, &e))?;
        Ok(Box::new(PgChangeFeed { listener }))
    }
}

/// A source's sync lease: an advisory lock held by a connection of its own.
#[derive(Debug)]
struct PgLease {
    source: SourceName,
    key: i64,
    /// `None` once released.
    conn: Option<PgConnection>,
}

#[async_trait]
impl SourceLease for PgLease {
    async fn release(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.take() else { return Ok(()) };
        let unlocked =
            sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)").bind(self.key).fetch_one(&mut conn).await;
        // Closing the session frees the lock even when the unlock failed.
        close_quietly(conn).await;
        match unlocked {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(source = %self.source, "the sync lease was not held by its connection any more");
                Ok(())
            }
            Err(e) => Err(db_error(&format!("release the sync lease of source `{}`", self.source), &e)),
        }
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        if self.conn.is_some() {
            // Dropping the connection closes its socket; the server ends the session and frees
            // the lock.
            tracing::debug!(source = %self.source, "sync lease dropped without release; closing its connection");
        }
    }
}

/// Notifications on [`CHANGE_CHANNEL`].
#[derive(Debug)]
struct PgChangeFeed {
    listener: PgListener,
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<SourceName, StoreError> {
        loop {
            match self.listener.try_recv().await {
                Ok(Some(notification)) => match SourceName::parse(notification.payload()) {
                    Ok(source) => return Ok(source),
                    Err(e) => {
                        tracing::warn!(payload = notification.payload(), error = %e, "ignoring a change notification");
                    }
                },
                Ok(None) => {
                    return Err(StoreError::Unavailable(
                        "the change feed lost its database connection; changes may have been missed".to_owned(),
                    ));
                }
                // Whatever broke the feed, the caller subscribes again and reloads everything.
                Err(e) => return Err(StoreError::Unavailable(format!("the change feed broke: {e}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_keys_are_stable_and_distinct() {
        let a = SourceName::parse("a").unwrap();
        let b = SourceName::parse("b").unwrap();
        assert_eq!(lease_key(&a), lease_key(&a));
        assert_ne!(lease_key(&a), lease_key(&b));
        // Pinned: replicas of different versions must agree on the key.
        let digest = Sha256::digest(b"thv-registry-api/source-lease/v1\0a");
        assert_eq!(lease_key(&a).to_be_bytes(), digest[..8]);
    }

    #[test]
    fn connection_trouble_is_unavailable() {
        for code in ["08006", "53300", "57P01", "57014", "40001", "28P01", "3D000", "25006"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
        assert!(matches!(db_error("x", &sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(matches!(db_error("x", &sqlx::Error::RowNotFound), StoreError::Internal(_)));
    }

    #[test]
    fn sources_and_their_rows_are_matched_up() {
        let row = |s: &str| (s.to_owned(), "n".to_owned(), "v".to_owned(), "{}".to_owned(), "{}".to_owned());
        let status = serde_json::to_string(&SyncStatus::pending()).unwrap();
        // Sorted byte-wise, as the query returns them.
        let sources = vec![
            ("Not A Label".to_owned(), status.clone()),
            ("a".to_owned(), status.clone()),
            ("b".to_owned(), status.clone()),
            ("c".to_owned(), "{garbage".to_owned()),
        ];
        // Rows of "b" are corrupt; "a" has none; an orphan row of "aa" is skipped.
        let rows = vec![row("aa"), row("b"), row("b")];
        let all = decode_all(sources, &rows);
        let names: Vec<&str> = all.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(all[0].status, SyncStatus::pending());
        assert_eq!(all[1].status.phase, SyncPhase::Failed);
        assert!(all[1].status.message.as_deref().unwrap().contains("entry n@v: server.json"), "{:?}", all[1].status);
        assert_eq!(all[2].status.phase, SyncPhase::Failed);
    }
}
