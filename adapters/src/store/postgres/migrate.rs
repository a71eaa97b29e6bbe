//! The schema's migrations (`migrations/`, embedded at compile time) and running them with the
//! migration user's pool.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgPool};
use thv_ports::StoreError;

use super::close_quietly;
use super::error::{db_error, migrate_error};

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The table in which sqlx records applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

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

/// Versions of the migrations in [`MIGRATOR`] not applied to the database yet, oldest first.
pub async fn pending_migrations(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let applied = applied_migrations(pool).await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| m.version)
        .collect())
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
