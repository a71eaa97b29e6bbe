//! `prime-db`: prepares a PostgreSQL database for the registry's application user.
//!
//! Creates the role [`APP_ROLE`] (no login) holding the privileges the server needs, and a login
//! user that is a member of it. Run with an administrative connection (a superuser, or a role with
//! `CREATEROLE` that owns the schema); run the migrations with that same user so that the default
//! privileges granted here cover the tables they create (the migrations also grant to the role
//! when it exists).
//!
//! The password never reaches the server: a SCRAM-SHA-256 verifier is computed here (what `psql`'s
//! `\password` does), passed as a bind parameter and quoted by the server (`format('%L')`), so the
//! password is in no SQL text, no server log and no statistics view.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPool;
use thv_ports::StoreError;

/// The role that holds the server's privileges; login users are granted membership.
pub const APP_ROLE: &str = "toolhive_registry_server";

/// PBKDF2 iterations of the verifier (PostgreSQL's default `scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Privileges of [`APP_ROLE`] on tables and sequences.
const TABLE_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";
const SEQUENCE_PRIVILEGES: &str = "USAGE, SELECT, UPDATE";

/// The statements `prime-db` runs, for people to read (`--dry-run`): the password is shown as
/// `'********'`. What runs is one transaction doing the same with server-side quoting.
pub fn prime_db_plan(user: &str, database: &str) -> Vec<String> {
    let role = display_ident(APP_ROLE);
    let user = display_ident(user);
    let database = display_ident(database);
    vec![
        format!("CREATE ROLE {role} NOLOGIN  -- unless it exists"),
        format!(
            "CREATE ROLE {user} LOGIN PASSWORD '********'  -- or, if it exists: ALTER ROLE {user} WITH LOGIN PASSWORD '********'"
        ),
        format!("GRANT {role} TO {user}"),
        format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {TABLE_PRIVILEGES} ON TABLES TO {role}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {role}"),
    ]
}

/// Runs `prime-db` on `pool` (an administrative connection to `database`): creates [`APP_ROLE`] if
/// missing, creates `user` with `password` (or sets the password of an existing `user`), makes it
/// a member of the role, and grants the role what the server needs. Idempotent.
///
/// # Errors
/// [`StoreError::Internal`] for an invalid user or database name, or a refused statement (e.g. not
/// privileged enough); [`StoreError::Unavailable`] when the database cannot be reached.
pub async fn prime_db(pool: &PgPool, user: &str, password: &str, database: &str) -> Result<(), StoreError> {
    validate_identifier("user", user)?;
    validate_identifier("database", database)?;
    if user == APP_ROLE {
        return Err(StoreError::Internal(format!(
            "the login user must not be `{APP_ROLE}`: that is the role it is made a member of"
        )));
    }
    let salt: [u8; 16] = rand::random();
    let verifier = scram_sha256_verifier(password, &salt, SCRAM_ITERATIONS)?;

    let what = format!("prime database `{database}` for user `{user}`");
    let err = |e: sqlx::Error| super::error::db_error(&what, &e);
    let mut tx = pool.begin().await.map_err(err)?;
    // Transaction-local settings: the values reach the statements below as data, never as SQL.
    sqlx::query(
        "SELECT set_config('thv.prime_role', $1, true), set_config('thv.prime_user', $2, true), \
         set_config('thv.prime_secret', $3, true), set_config('thv.prime_database', $4, true)",
    )
    .bind(APP_ROLE)
    .bind(user)
    .bind(&verifier)
    .bind(database)
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    sqlx::raw_sql(PRIME_DB_BLOCK).execute(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)
}

/// Creation of the roles tolerates a concurrent `prime-db` (roles are shared by every database of
/// the server): a role created meanwhile is used as it is.
const PRIME_DB_BLOCK: &str = r"
DO $prime$
DECLARE
    app_role  constant text := current_setting('thv.prime_role');
    login     constant text := current_setting('thv.prime_user');
    secret    constant text := current_setting('thv.prime_secret');
    db        constant text := current_setting('thv.prime_database');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', app_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        EXECUTE format('ALTER ROLE %I WITH LOGIN PASSWORD %L', login, secret);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', login, secret);
    END IF;
    EXECUTE format('GRANT %I TO %I', app_role, login);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, app_role);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', app_role);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %I', app_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
                   app_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
                   app_role);
END
$prime$;
";

fn validate_identifier(what: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Internal(format!("the {what} name is empty")));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(StoreError::Internal(format!(
            "the {what} name is {} bytes long; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(StoreError::Internal(format!("the {what} name contains a NUL character")));
    }
    Ok(())
}

/// An identifier as `format('%I')` prints it (reserved words aside): bare when it is a plain
/// lower-case identifier, double-quoted otherwise. For display only.
fn display_ident(name: &str) -> Cow<'_, str> {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { Cow::Borrowed(name) } else { Cow::Owned(format!("\"{}\"", name.replace('"', "\"\""))) }
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as
/// `pg_be_scram_build_secret` builds it): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
/// The password is normalised with `SASLprep`, or used as it is when `SASLprep` rejects it — as the
/// server and libpq do.
///
/// # Errors
/// [`StoreError::Internal`] when `iterations` is 0.
pub fn scram_sha256_verifier(password: &str, salt: &[u8], iterations: u32) -> Result<String, StoreError> {
    if iterations == 0 {
        return Err(StoreError::Internal("SCRAM iterations must be at least 1".to_owned()));
    }
    let normalized = stringprep::saslprep(password).unwrap_or(Cow::Borrowed(password));
    let salted = pbkdf2_sha256(normalized.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    Ok(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    ))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 with a 32-byte output (one block).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = Vec::with_capacity(salt.len() + 4);
    first.extend_from_slice(salt);
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, b) in out.iter_mut().zip(u) {
            *o ^= b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_masks_the_password_and_quotes_names() {
        let plan = prime_db_plan("Registry User", "registry");
        let text = plan.join("\n");
        assert!(text.contains("CREATE ROLE \"Registry User\" LOGIN PASSWORD '********'"), "{text}");
        assert!(text.contains("GRANT toolhive_registry_server TO \"Registry User\""), "{text}");
        assert!(text.contains("GRANT CONNECT ON DATABASE registry TO toolhive_registry_server"), "{text}");
        assert_eq!(display_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_identifier("user", "").is_err());
        assert!(validate_identifier("user", &"x".repeat(64)).is_err());
        assert!(validate_identifier("user", &"x".repeat(63)).is_ok());
        assert!(validate_identifier("user", "a\0b").is_err());
    }

    /// PBKDF2-HMAC-SHA256 test vectors (RFC 7914 §11).
    #[test]
    fn pbkdf2_matches_the_reference_vectors() {
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"Password", b"NaCl", 80_000)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn verifiers_have_the_postgres_shape() {
        let v = scram_sha256_verifier("pencil", b"0123456789abcdef", 4096).unwrap();
        assert!(v.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"), "{v}");
        assert!(scram_sha256_verifier("x", b"s", 0).is_err());
    }
}
