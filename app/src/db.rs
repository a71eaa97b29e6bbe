//! PostgreSQL connections from the `database` section: the application pool and the migration
//! pool (same database, the migration user).

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use crate::config::database::{DatabaseConfig, SslMode};

/// Which user a pool connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `user`, for serving and syncing.
    App,
    /// `migrationUser`, for migrations and `prime-db`.
    Migration,
}

/// Connection options for one role (password from the resolved secret, if any).
pub fn connect_options(db: &DatabaseConfig, role: Role) -> PgConnectOptions {
    let (user, password) = match role {
        Role::App => (&db.user, db.password.as_ref()),
        Role::Migration => (&db.migration_user, db.migration_password.as_ref()),
    };
    let ssl = match db.ssl_mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    };
    let mut options = PgConnectOptions::new()
        .host(&db.host)
        .port(db.port)
        .username(user)
        .database(&db.database)
        .ssl_mode(ssl)
        .application_name("thv-registry-api");
    if let Some(pw) = password {
        options = options.password(pw.expose());
    }
    options
}

/// How long an operation waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool honouring `maxOpenConns` (most connections), `maxIdleConns` (connections kept open
/// when idle) and `connMaxLifetime`. Start-up retries for up to `connect_timeout` (a database
/// starting alongside the server); later operations give up after a few seconds, so a database
/// outage shows quickly as a failed sync and a degraded readiness.
///
/// # Errors
/// When no connection can be made within `connect_timeout` (the message names host, port,
/// database and user, never the password).
pub async fn pool(db: &DatabaseConfig, role: Role, connect_timeout: Duration) -> anyhow::Result<PgPool> {
    let options = connect_options(db, role);
    let user = if role == Role::App { &db.user } else { &db.migration_user };
    let deadline = tokio::time::Instant::now() + connect_timeout;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(db.max_open_conns)
            .min_connections(db.max_idle_conns.min(db.max_open_conns))
            .max_lifetime(db.conn_max_lifetime)
            .idle_timeout(Duration::from_secs(600))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(host = %db.host, port = db.port, error = %e, "cannot connect to PostgreSQL yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot connect to PostgreSQL at {}:{}/{} as {user}", db.host, db.port, db.database)
                });
            }
        }
    }
}
