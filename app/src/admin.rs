//! Database administration commands: `migrate up`, `migrate down`, `prime-db`.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use thv_adapters::store::postgres::{self, admin as postgres_admin};

use crate::config::Config;
use crate::config::database::DatabaseConfig;
use crate::db::{Role, settings};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

fn database(path: &Path) -> anyhow::Result<(Config, DatabaseConfig)> {
    let config = Config::load(path)?;
    let Some(db) = config.database.clone() else {
        bail!("{} has no `database` section: migrations and prime-db need PostgreSQL", path.display());
    };
    Ok((config, db))
}

/// Asks for a yes/no confirmation on the terminal; refuses when stdin is not a terminal.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to prompt for confirmation: stdin is not a terminal; pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn target(db: &DatabaseConfig) -> String {
    format!("database `{}` on {}:{} (as {})", db.database, db.host, db.port, db.migration_user)
}

/// `migrate up`: applies pending migrations with the migration user.
///
/// # Errors
/// Invalid config, no confirmation, connection or migration failure.
pub async fn migrate_up(config: &Path, yes: bool) -> anyhow::Result<()> {
    let (_, db) = database(config)?;
    if !yes && !confirm(&format!("Apply pending migrations to {}?", target(&db)))? {
        bail!("aborted: nothing was changed");
    }
    let pool = postgres::connect(&settings(&db, Role::Migration), CONNECT_TIMEOUT).await?;
    let applied = postgres::migrate_up(&pool).await.context("migration failed")?;
    if applied.is_empty() {
        println!("database is up to date; no migration applied");
    } else {
        println!("applied {} migration(s): {}", applied.len(), join(&applied));
    }
    pool.close().await;
    Ok(())
}

/// `migrate down --num-steps N`: undoes the last N migrations.
///
/// # Errors
/// Missing `--num-steps`, invalid config, no confirmation, connection or migration failure.
pub async fn migrate_down(config: &Path, num_steps: Option<u32>, yes: bool) -> anyhow::Result<()> {
    let Some(steps) = num_steps.filter(|n| *n > 0) else {
        bail!("migrate down needs --num-steps N (N ≥ 1): how many of the latest migrations to undo");
    };
    let (_, db) = database(config)?;
    eprintln!(
        "WARNING: this undoes the last {steps} migration(s) of {}. Tables they created are DROPPED and \
         the data in them is lost. Take a backup first.",
        target(&db)
    );
    if !yes && !confirm("Undo these migrations and delete their data?")? {
        bail!("aborted: nothing was changed");
    }
    let pool = postgres::connect(&settings(&db, Role::Migration), CONNECT_TIMEOUT).await?;
    let undone = postgres::migrate_down(&pool, steps).await.context("undoing migrations failed")?;
    println!("undid {} migration(s): {}", undone.len(), join(&undone));
    pool.close().await;
    Ok(())
}

/// `prime-db`: creates the application role and the configured user (password from stdin).
///
/// # Errors
/// Invalid config, no password, connection or SQL failure.
pub async fn prime_db(config: &Path, dry_run: bool) -> anyhow::Result<()> {
    let (_, db) = database(config)?;
    if dry_run {
        println!("-- prime-db for {} (dry run: nothing is executed)", target(&db));
        for statement in postgres_admin::prime_db_plan(&db.user, &db.database) {
            println!("{statement}");
        }
        return Ok(());
    }
    let password = read_password(&db.user)?;
    let pool = postgres::connect(&settings(&db, Role::Migration), CONNECT_TIMEOUT).await?;
    postgres_admin::prime_db(&pool, &db.user, &password, &db.database).await.context("prime-db failed")?;
    println!(
        "role `{}` and user `{}` are ready on {}; the user's password was set from stdin",
        postgres_admin::APP_ROLE,
        db.user,
        target(&db)
    );
    pool.close().await;
    Ok(())
}

/// The new user's password: prompted (twice, not echoed) on a terminal, else read from stdin.
fn read_password(user: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for `{user}`: "))?;
        let again = rpassword::prompt_password("Repeat the password: ")?;
        if first != again {
            bail!("the passwords do not match");
        }
        first
    } else {
        let mut raw = String::new();
        std::io::stdin().read_to_string(&mut raw).context("cannot read the password from stdin")?;
        raw.strip_suffix('\n').map_or(raw.as_str(), |s| s.strip_suffix('\r').unwrap_or(s)).to_owned()
    };
    if password.is_empty() {
        bail!(
            "the password is empty; pipe it in (e.g. `prime-db --config F < password-file`) or type it at the prompt"
        );
    }
    Ok(password)
}

fn join(versions: &[i64]) -> String {
    versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
