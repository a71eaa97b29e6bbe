//! sqlx errors translated into [`StoreError`] at the adapter boundary: connection trouble is
//! `Unavailable`, everything else `Internal`, each naming what was being done.

use sqlx::migrate::MigrateError;
use thv_ports::StoreError;

/// SQLSTATE classes and codes that mean "the database cannot be used right now" rather than "this
/// request is wrong": connection exceptions, insufficient resources, operator intervention
/// (shutdown, statement timeout), read-only standby, serialization failures and deadlocks, and
/// authentication or unknown-database failures while connecting.
fn is_unavailable_code(code: &str) -> bool {
    ["08", "53", "57", "40", "28"].iter().any(|class| code.starts_with(class)) || code == "25006" || code == "3D000"
}

/// Translates a sqlx error, with `what` saying what was being done. Never carries a password:
/// sqlx errors do not include connect options.
pub(super) fn db_error(what: &str, e: &sqlx::Error) -> StoreError {
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

pub(super) fn migrate_error(what: &str, e: &MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => match db_error(what, inner) {
            StoreError::Unavailable(_) => StoreError::Unavailable(format!("cannot {what}: {e}")),
            _ => StoreError::Internal(format!("cannot {what}: {e}")),
        },
        _ => StoreError::Internal(format!("cannot {what}: {e}")),
    }
}

pub(super) fn encode_error(what: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Internal(format!("cannot encode {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
