//! PostgreSQL connections from the `database` section: the settings of the application pool and
//! of the migration pool (same database, the migration user). The postgres adapter builds the
//! pools from them ([`thv_adapters::store::postgres::connect`]).

use thv_adapters::store::postgres::{PgSettings, SslMode as PgSslMode};

use crate::config::database::{DatabaseConfig, SslMode};

/// Which user a pool connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `user`, for serving and syncing.
    App,
    /// `migrationUser`, for migrations and `prime-db`.
    Migration,
}

/// Connection settings for one role (password from the resolved secret, if any): `maxOpenConns`
/// is the most connections, `maxIdleConns` the connections kept open when idle,
/// `connMaxLifetime` how long one lives.
pub fn settings(db: &DatabaseConfig, role: Role) -> PgSettings {
    let (user, password) = match role {
        Role::App => (&db.user, db.password.as_ref()),
        Role::Migration => (&db.migration_user, db.migration_password.as_ref()),
    };
    let ssl_mode = match db.ssl_mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    };
    PgSettings {
        host: db.host.clone(),
        port: db.port,
        user: user.clone(),
        password: password.map(|pw| pw.expose().to_owned()),
        database: db.database.clone(),
        ssl_mode,
        max_connections: db.max_open_conns,
        min_connections: db.max_idle_conns,
        max_lifetime: db.conn_max_lifetime,
    }
}
