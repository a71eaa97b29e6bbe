//! The `database` section: PostgreSQL as the system of record.
//!
//! Passwords come from files (`passwordFile`, `migrationPasswordFile`, trailing whitespace
//! trimmed) or the environment (`THV_DATABASE_PASSWORD`, also `THV_REGISTRY_DATABASE_PASSWORD`;
//! `THV_DATABASE_MIGRATION_PASSWORD`), never from the YAML itself. The migration password falls
//! back to the normal one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::duration;
use super::raw::RawDatabase;

/// A secret string: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// How the connection is encrypted and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A validated `database` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub migration_user: String,
    pub migration_password: Option<Secret>,
    pub database: String,
    pub ssl_mode: SslMode,
    pub max_open_conns: u32,
    pub max_idle_conns: u32,
    pub conn_max_lifetime: Duration,
}

/// Environment variables holding the application user's password, in order of precedence.
pub const PASSWORD_ENV: &[&str] = &["THV_DATABASE_PASSWORD", "THV_REGISTRY_DATABASE_PASSWORD"];
/// Environment variable holding the migration user's password.
pub const MIGRATION_PASSWORD_ENV: &str = "THV_DATABASE_MIGRATION_PASSWORD";

fn read_secret(path: &PathBuf, key: &str, problems: &mut Vec<String>) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(Secret::new(s.trim_end())),
        Err(e) => {
            problems.push(format!("`{key}`: cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// Validates the section; `env` supplies the password variables.
pub fn normalize(
    raw: &RawDatabase,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Option<DatabaseConfig> {
    let before = problems.len();
    let required = |value: &Option<String>, key: &str, problems: &mut Vec<String>| -> String {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => {
                problems.push(format!("`database.{key}`: is required"));
                String::new()
            }
        }
    };
    let host = required(&raw.host, "host", problems);
    let user = required(&raw.user, "user", problems);
    let database = required(&raw.database, "database", problems);
    let ssl_mode = match raw.ssl_mode.as_deref().unwrap_or("require") {
        "disable" => SslMode::Disable,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            problems.push(format!(
                "`database.sslMode`: `{other}` is not an SSL mode; use disable, require, verify-ca or verify-full"
            ));
            SslMode::Require
        }
    };
    let password = match &raw.password_file {
        Some(path) => read_secret(path, "database.passwordFile", problems),
        None => PASSWORD_ENV.iter().find_map(|k| env.get(*k)).map(Secret::new),
    };
    let migration_password = match &raw.migration_password_file {
        Some(path) => read_secret(path, "database.migrationPasswordFile", problems),
        None => env.get(MIGRATION_PASSWORD_ENV).map(Secret::new).or_else(|| password.clone()),
    };
    let max_open_conns = raw.max_open_conns.unwrap_or(25);
    let max_idle_conns = raw.max_idle_conns.unwrap_or(5);
    if max_open_conns == 0 {
        problems.push("`database.maxOpenConns`: must be at least 1".to_owned());
    }
    if max_idle_conns > max_open_conns {
        problems
            .push(format!("`database.maxIdleConns`: {max_idle_conns} is more than maxOpenConns ({max_open_conns})"));
    }
    let conn_max_lifetime = duration::setting(
        raw.conn_max_lifetime.as_deref(),
        Duration::from_secs(300),
        duration::MAX_INTERVAL,
        "database.connMaxLifetime",
        problems,
    );
    (problems.len() == before).then(|| DatabaseConfig {
        host,
        port: raw.port.unwrap_or(5432),
        migration_user: raw.migration_user.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| user.clone()),
        user,
        password,
        migration_password,
        database,
        ssl_mode,
        max_open_conns,
        max_idle_conns,
        conn_max_lifetime,
    })
}
