//! The connection pool, built from plain settings (the composition root fills them from its
//! configuration): connect options set field by field, never a URL holding the password, and
//! start-up retries while the database comes up.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

/// How the connection is encrypted and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where and as whom a pool connects, and how big it grows.
#[derive(Clone, PartialEq, Eq)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Never shown by `Debug`.
    pub password: Option<String>,
    pub database: String,
    pub ssl_mode: SslMode,
    /// Most connections open at once (`maxOpenConns`).
    pub max_connections: u32,
    /// Connections kept open when idle (`maxIdleConns`), at most `max_connections`.
    pub min_connections: u32,
    /// How long a connection lives before it is replaced (`connMaxLifetime`).
    pub max_lifetime: Duration,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .field("database", &self.database)
            .field("ssl_mode", &self.ssl_mode)
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

/// No connection could be made in time. The message names host, port, database and user, never
/// the password; the cause is the last driver error.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to PostgreSQL at {host}:{port}/{database} as {user}")]
pub struct ConnectError {
    host: String,
    port: u16,
    database: String,
    user: String,
    #[source]
    source: sqlx::Error,
}

/// How long an operation waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection options from `settings` (the password, if any, set as a field).
fn connect_options(settings: &PgSettings) -> PgConnectOptions {
    let ssl = match settings.ssl_mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    };
    let mut options = PgConnectOptions::new()
        .host(&settings.host)
        .port(settings.port)
        .username(&settings.user)
        .database(&settings.database)
        .ssl_mode(ssl)
        .application_name("thv-registry-api");
    if let Some(pw) = &settings.password {
        options = options.password(pw);
    }
    options
}

/// A pool honouring `max_connections`, `min_connections` (capped at `max_connections`) and
/// `max_lifetime`. Start-up retries for up to `connect_timeout` (a database starting alongside
/// the server); later operations give up after a few seconds, so a database outage shows quickly
/// as a failed sync and a degraded readiness.
///
/// # Errors
/// [`ConnectError`] when no connection can be made within `connect_timeout`.
pub async fn connect(settings: &PgSettings, connect_timeout: Duration) -> Result<PgPool, ConnectError> {
    let options = connect_options(settings);
    let deadline = tokio::time::Instant::now() + connect_timeout;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections.min(settings.max_connections))
            .max_lifetime(settings.max_lifetime)
            .idle_timeout(Duration::from_secs(600))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(host = %settings.host, port = settings.port, error = %e, "cannot connect to PostgreSQL yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(source) => {
                return Err(ConnectError {
                    host: settings.host.clone(),
                    port: settings.port,
                    database: settings.database.clone(),
                    user: settings.user.clone(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PgSettings {
        PgSettings {
            host: "db.example".to_owned(),
            port: 5432,
            user: "registry".to_owned(),
            password: Some("s3cret".to_owned()),
            database: "registry".to_owned(),
            ssl_mode: SslMode::VerifyFull,
            max_connections: 10,
            min_connections: 2,
            max_lifetime: Duration::from_secs(1800),
        }
    }

    #[test]
    fn the_password_is_never_shown() {
        let shown = format!("{:?}", settings());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }

    #[test]
    fn options_are_set_field_by_field() {
        let options = connect_options(&settings());
        assert_eq!(options.get_host(), "db.example");
        assert_eq!(options.get_port(), 5432);
        assert_eq!(options.get_username(), "registry");
        assert_eq!(options.get_database(), Some("registry"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        assert_eq!(options.get_application_name(), Some("thv-registry-api"));
    }
}
