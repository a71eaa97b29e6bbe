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
//! - **A managed write** (`write_name`) is optimistic: its status update matches the source's row
//!   only at the revision the writer read (and row-locks it), then the name's versions must be
//!   the expected ones; either mismatch is a [`StoreError::Conflict`] and nothing is written.
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
//! # Connecting
//! [`connect`] builds the pool from [`PgSettings`] (connect options field by field, never a URL
//! holding the password; an `acquire_timeout` bounds how long an unreachable database takes to
//! report [`StoreError::Unavailable`]). Run [`migrate_up`] on a pool of the migration user first,
//! then give a pool of the application user to [`PostgresStore::new`].
//!
//! Files: this one holds the store and its port implementation; `pool.rs` connecting,
//! `migrate.rs` the migrations, `rows.rs` rows to domain values and back, `error.rs` the
//! translation of driver errors, [`admin`] `prime-db`.

pub mod admin;
mod error;
mod migrate;
mod pool;
mod rows;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};
use thv_domain::{Entry, Revision, SourceName, SyncStatus};
use thv_ports::{ChangeFeed, EntryStore, NameWrite, SourceLease, SourceState, StoreError};

pub use migrate::{MIGRATOR, applied_migrations, migrate_down, migrate_up, pending_migrations};
pub use pool::{ConnectError, PgSettings, SslMode, connect};
/// The sqlx this adapter is built with: build the [`PgPool`] given to [`PostgresStore::new`] with it.
pub use sqlx;

use error::{db_error, encode_error};
use rows::{Columns, EntryRow, SourceRow, decode_all, decode_entries, decode_source, decode_status, phase_name};

/// The `LISTEN`/`NOTIFY` channel on which a commit announces the name of the source it changed.
pub const CHANGE_CHANNEL: &str = "thv_registry_changes";

/// Rows inserted by one statement of a replace (all of them in the same transaction). Bounds the
/// size of one message to the server (about half a MB of catalogue text) while keeping a replace
/// of 50,000 entries a hundred round trips; a pooled connection keeps its buffers at the size of
/// the largest message it sent, and a message is encoded while the catalogue being stored is
/// held too, so a batch's size adds to the peak memory of a sync.
pub const INSERT_BATCH: usize = 500;

/// Namespace hashed together with a source name into its advisory-lock key.
const LEASE_NAMESPACE: &[u8] = b"thv-registry-api/source-lease/v1\0";

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

    /// Closes the pool (shared by every clone of this store): waits for the connections in use
    /// to come back, then closes them all. Leases and change feeds hold connections of their own.
    pub async fn close(&self) {
        self.pool.close().await;
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

pub(super) async fn close_quietly(conn: PgConnection) {
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing a dedicated database connection failed; it is dropped");
    }
}

// ---------------------------------------------------------------------------------------------
// Statements

const SELECT_SOURCES: &str = "SELECT name, status::text FROM sources ORDER BY name";
const SELECT_SOURCE: &str = "SELECT name, status::text FROM sources WHERE name = $1";
const SELECT_ENTRIES: &str =
    "SELECT source, name, version, server_json::text, official::text FROM entries ORDER BY source, name, version";
const SELECT_SOURCE_ENTRIES: &str = "SELECT source, name, version, server_json::text, official::text FROM entries \
     WHERE source = $1 ORDER BY name, version";

/// A read-only transaction that sees one snapshot, so a status and its entries always match.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

const UPSERT_STATUS: &str = "INSERT INTO sources (name, status, phase, changed_at) VALUES ($1, $2::json, $3, now()) \
     ON CONFLICT (name) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase, changed_at = EXCLUDED.changed_at";
/// The status of a managed write over a stored revision `$4`: no row when the source holds
/// another revision or is not stored. Under READ COMMITTED the update waits for a concurrent
/// writer of the source and re-checks its committed row.
const UPDATE_STATUS_AT: &str = "UPDATE sources SET status = $2::json, phase = $3, changed_at = now() \
     WHERE name = $1 AND status->>'revision' = $4 RETURNING name";
/// The status of a managed write computed without a revision: creates the source, or updates a
/// stored one that has no revision either; no row otherwise.
const UPSERT_STATUS_UNREVISED: &str = "INSERT INTO sources (name, status, phase, changed_at) \
     VALUES ($1, $2::json, $3, now()) \
     ON CONFLICT (name) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase, changed_at = EXCLUDED.changed_at \
     WHERE sources.status->>'revision' IS NULL RETURNING name";
const DELETE_ENTRIES: &str = "DELETE FROM entries WHERE source = $1";
const INSERT_ENTRIES: &str = "INSERT INTO entries \
     (source, name, version, server_json, official, content_hash, status, published_at, updated_at, is_latest) \
     SELECT $1, u.name, u.version, u.server_json::json, u.official::json, u.content_hash, u.status, \
            u.published_at, u.updated_at, u.is_latest \
     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::timestamptz[], $9::timestamptz[], $10::boolean[]) \
          AS u(name, version, server_json, official, content_hash, status, published_at, updated_at, is_latest)";
const NOTIFY: &str = "SELECT pg_notify($1, $2)";
const SELECT_NAME_ENTRIES: &str = "SELECT source, name, version, server_json::text, official::text FROM entries \
     WHERE source = $1 AND name = $2 ORDER BY version";
const DELETE_NAME_ENTRIES: &str = "DELETE FROM entries WHERE source = $1 AND name = $2";

async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("decoding task failed: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Writing

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

/// The status of a managed write, only over `expected` (the revision the write was computed
/// from); row-locks the source, so writes to it from every process serialise.
async fn write_status_at(
    tx: &mut Transaction<'static, Postgres>,
    source: &SourceName,
    expected: Option<&Revision>,
    status: &SyncStatus,
) -> Result<(), StoreError> {
    let what = format!("write the status of source `{source}`");
    let json = serde_json::to_string(status).map_err(|e| encode_error("sync status", &e))?;
    let sql = if expected.is_some() { UPDATE_STATUS_AT } else { UPSERT_STATUS_UNREVISED };
    let query = sqlx::query_scalar::<_, String>(sql).bind(source.as_str()).bind(json).bind(phase_name(status)?);
    let query = match expected {
        Some(revision) => query.bind(revision.0.as_str()),
        None => query,
    };
    let written = query.fetch_optional(&mut **tx).await.map_err(|e| db_error(&what, &e))?;
    match written {
        Some(_) => Ok(()),
        None => Err(StoreError::Conflict(format!(
            "source `{source}` was written since it was read (expected revision {expected:?})"
        ))),
    }
}

async fn insert_entries(
    tx: &mut Transaction<'static, Postgres>,
    source: &SourceName,
    entries: &[Entry],
    what: &str,
    on_error: fn(&str, &sqlx::Error) -> StoreError,
) -> Result<(), StoreError> {
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
            .execute(&mut **tx)
            .await
            .map_err(|e| on_error(what, &e))?;
    }
    Ok(())
}

/// A failed write: a unique violation (another writer inserted the same key first) is a
/// [`StoreError::Conflict`].
fn write_error(what: &str, e: &sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            StoreError::Conflict(format!("cannot {what}: another writer stored the same version first"))
        }
        _ => db_error(what, e),
    }
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

    async fn replace(
        &self,
        source: &SourceName,
        entries: &Arc<Vec<Entry>>,
        status: &SyncStatus,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let what = format!("replace the entries of source `{source}`");
        let mut tx = self.pool.begin().await.map_err(|e| db_error(&what, &e))?;
        // First: the upsert locks the source's row, so concurrent replaces of a source serialise.
        upsert_status(&mut tx, source, status).await?;
        sqlx::query(DELETE_ENTRIES).bind(source.as_str()).execute(&mut *tx).await.map_err(|e| db_error(&what, &e))?;
        insert_entries(&mut tx, source, entries, &what, db_error).await?;
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

    async fn write_name(&self, write: NameWrite<'_>) -> Result<(), StoreError> {
        let NameWrite { source, name, expected, expected_revision, next, status } = write;
        let what = format!("write the versions of `{name}` in source `{source}`");
        let mut tx = self.pool.begin().await.map_err(|e| db_error(&what, &e))?;
        // First: the status row-locks the source, so every write to it (from any process) waits
        // for the previous one to commit, and is refused when that one moved the revision.
        write_status_at(&mut tx, source, expected_revision, status).await?;
        let rows: Vec<EntryRow> = sqlx::query_as(SELECT_NAME_ENTRIES)
            .bind(source.as_str())
            .bind(name.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error(&what, &e))?;
        let stored = decode_entries(source, &rows)?;
        if stored != expected {
            return Err(StoreError::Conflict(format!(
                "the versions of `{name}` in source `{source}` changed since they were read"
            )));
        }
        sqlx::query(DELETE_NAME_ENTRIES)
            .bind(source.as_str())
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(&what, &e))?;
        insert_entries(&mut tx, source, next, &what, write_error).await?;
        notify(&mut tx, source).await?;
        tx.commit().await.map_err(|e| write_error(&what, &e))
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
}
