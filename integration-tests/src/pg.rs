//! A fresh PostgreSQL database per test, from `DATABASE_URL` (a superuser URL; `scripts/test`
//! starts a disposable server and sets it).

use std::str::FromStr as _;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor as _, PgPool};

/// A database created for one test, dropped (best effort) when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    admin: PgConnectOptions,
}

fn unique(prefix: &str) -> String {
    use rand::Rng as _;
    format!("{prefix}_{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff)
}

impl TestDb {
    /// Creates a new empty database on the server of `DATABASE_URL`.
    pub async fn create() -> anyhow::Result<Self> {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            bail!(
                "DATABASE_URL is not set: these tests need a PostgreSQL superuser URL. Run `scripts/test`, or `export DATABASE_URL=$(scripts/pg start)`"
            );
        };
        let admin = PgConnectOptions::from_str(&url).context("DATABASE_URL is not a PostgreSQL URL")?;
        let name = unique("thv_test");
        let mut conn = sqlx::ConnectOptions::connect(&admin).await.context("connecting to DATABASE_URL")?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .context("creating the test database")?;
        Ok(Self {
            host: admin.get_host().to_owned(),
            port: admin.get_port(),
            user: admin.get_username().to_owned(),
            name,
            admin,
        })
    }

    /// A pool on this database as the superuser.
    pub async fn pool(&self) -> anyhow::Result<PgPool> {
        Ok(PgPoolOptions::new().max_connections(4).connect_with(self.admin.clone().database(&self.name)).await?)
    }

    /// Options to connect to this database as another user.
    pub fn options_as(&self, user: &str, password: &str) -> PgConnectOptions {
        self.admin.clone().database(&self.name).username(user).password(password)
    }

    /// A `database:` config section for this database (superuser, no password: trust auth).
    pub fn config_section(&self) -> String {
        format!(
            "database:\n  host: {}\n  port: {}\n  user: {}\n  database: {}\n  sslMode: disable\n  maxOpenConns: 5\n  maxIdleConns: 1\n",
            self.host, self.port, self.user, self.name
        )
    }

    /// A unique role name for this test (roles are cluster-wide).
    pub fn unique_role(prefix: &str) -> String {
        unique(prefix)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::ConnectOptions::connect(&admin).await {
                    let _ =
                        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
                }
            });
        })
        .join();
    }
}
