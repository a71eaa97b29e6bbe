//! A fresh PostgreSQL database per test, on one server per test process:
//!
//! - with the `testcontainers` feature and a Docker engine (`DOCKER_HOST`, or a Docker socket in
//!   one of the usual places), a PostgreSQL 15 container, started once and shared;
//! - otherwise the server of `DATABASE_URL` (a superuser URL; `scripts/test` starts a disposable
//!   server and sets it).
//!
//! The container is named and marked for reuse: every test process (nextest runs each test in a
//! process of its own) and every later run use the same one instead of leaving one behind per
//! process (testcontainers for Rust has no reaper). Remove it with
//! `docker rm -f thv-integration-tests-postgres15`.

use std::str::FromStr as _;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor as _, PgPool};

/// Why there is no server, and what to do about it.
const NO_SERVER: &str = "DATABASE_URL is not set: these tests need a PostgreSQL superuser URL. Run `scripts/test`, or `export DATABASE_URL=$(scripts/pg start)`, or, with a Docker engine, enable the `testcontainers` feature (`cargo test -p thv-integration-tests --features testcontainers`)";

/// The superuser URL of the server the test databases are created on.
async fn server_url() -> anyhow::Result<String> {
    let from_env = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
    #[cfg(feature = "testcontainers")]
    if container::docker_configured() {
        match container::shared_url().await {
            Ok(url) => return Ok(url),
            Err(e) if from_env.is_some() => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    eprintln!("thv-testkit: no PostgreSQL container ({e}); using DATABASE_URL");
                });
            }
            Err(e) => anyhow::bail!("starting a PostgreSQL container failed: {e}\n{NO_SERVER}"),
        }
    } else if from_env.is_none() {
        anyhow::bail!(
            "{NO_SERVER}.\nThe `testcontainers` feature is on, but no Docker engine was found (DOCKER_HOST is unset and there is no Docker socket)"
        );
    }
    from_env.context(NO_SERVER)
}

/// The shared PostgreSQL container of the `testcontainers` feature.
#[cfg(feature = "testcontainers")]
mod container {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use testcontainers::{ContainerAsync, ImageExt as _, ReuseDirective, runners::AsyncRunner as _};
    use testcontainers_modules::postgres::Postgres;
    use tokio::sync::OnceCell;

    /// The container's name: reused by every test process and run.
    const NAME: &str = "thv-integration-tests-postgres15";
    const TAG: &str = "15-alpine";
    /// How long to wait for the server to accept connections (the first run pulls the image).
    const READY: Duration = Duration::from_secs(120);

    /// The container (kept for the life of the process) and its superuser URL.
    #[derive(Debug)]
    struct Shared {
        _container: ContainerAsync<Postgres>,
        url: String,
    }

    /// Started once per process; a failure is kept too, so that every test does not retry it.
    static SHARED: OnceCell<Result<Shared, String>> = OnceCell::const_new();

    /// Whether a Docker engine is configured: `DOCKER_HOST`, or an existing socket where
    /// testcontainers looks for one. Whether it answers is found out by starting the container.
    pub(super) fn docker_configured() -> bool {
        if std::env::var_os("DOCKER_HOST").is_some_and(|h| !h.is_empty()) {
            return true;
        }
        let mut sockets = vec![PathBuf::from("/var/run/docker.sock")];
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            sockets.push(PathBuf::from(dir).join(".docker/run/docker.sock"));
        }
        if let Some(home) = std::env::var_os("HOME") {
            let home = PathBuf::from(home);
            sockets.push(home.join(".docker/run/docker.sock"));
            sockets.push(home.join(".docker/desktop/docker.sock"));
        }
        sockets.iter().any(|s| s.exists())
    }

    /// The superuser URL of the shared container, started on first use.
    pub(super) async fn shared_url() -> Result<String, String> {
        SHARED
            .get_or_init(|| async { start().await.map_err(|e| format!("{e:#}")) })
            .await
            .as_ref()
            .map(|s| s.url.clone())
            .map_err(Clone::clone)
    }

    async fn start() -> anyhow::Result<Shared> {
        // Trust authentication: `TestDb::config_section` gives the superuser without a password.
        let request = || {
            Postgres::default()
                .with_host_auth()
                .with_tag(TAG)
                .with_container_name(NAME)
                .with_label("org.thv-registry-api.integration-tests", "postgres")
                .with_reuse(ReuseDirective::Always)
                .with_startup_timeout(READY)
        };
        // Another test process may create the same container at the same moment: then creating
        // fails (the name is taken) and the next try finds and reuses it.
        let mut tries = 0;
        let container = loop {
            tries += 1;
            match request().start().await {
                Ok(container) => break container,
                Err(e) if tries < 3 => {
                    eprintln!("thv-testkit: starting the PostgreSQL container (try {tries}): {e}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e).context("starting a PostgreSQL 15 container"),
            }
        };
        let host = container.get_host().await.context("the container's host")?;
        let port = container.get_host_port_ipv4(5432).await.context("the container's PostgreSQL port")?;
        let url = format!("postgres://postgres@{host}:{port}/postgres");
        wait_ready(&url).await?;
        Ok(Shared { _container: container, url })
    }

    /// A reused container is not waited for by testcontainers (and may still be starting, in
    /// another process): connect until the server answers.
    async fn wait_ready(url: &str) -> anyhow::Result<()> {
        let options: super::PgConnectOptions = url.parse().context("the container's URL")?;
        let start = Instant::now();
        loop {
            match sqlx::ConnectOptions::connect(&options).await {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > READY => {
                    return Err(e).with_context(|| format!("PostgreSQL at {url} not ready within {READY:?}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

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
    /// Creates a new empty database on the test server (see the module documentation).
    pub async fn create() -> anyhow::Result<Self> {
        let url = server_url().await?;
        let admin = PgConnectOptions::from_str(&url).context("the server URL is not a PostgreSQL URL")?;
        let name = unique("thv_test");
        let mut conn = sqlx::ConnectOptions::connect(&admin)
            .await
            .with_context(|| format!("connecting to {}:{}", admin.get_host(), admin.get_port()))?;
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
