//! `serve`: open the store, load the last good data, start syncing, serve HTTP until a signal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use thv_adapters::deployments::kubernetes::KubernetesOptions;
use thv_adapters::store::postgres;
use thv_adapters::tokens::oidc::{ProviderSpec, VerifierOptions};
use thv_adapters::{
    ApiSource, EmbeddedStore, FileSource, GitSource, HttpFileSource, KubernetesDeployments, OidcVerifier,
    PostgresStore, SystemClock,
};
use thv_domain::spec;
use thv_ports::{Clock, EntryStore, Source};

use crate::catalog::{Catalog, Coordinator};
use crate::config::auth::AuthMode;
use crate::config::{Config, SourceConfig, SourceKind};
use crate::db::{self, Role};
use crate::http::auth::Auth;
use crate::http::deployed::DeploymentsSource;

/// How long start-up waits for the database.
const DB_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The source adapter for a source's configuration. `data_dir` holds caches (git clones).
///
/// # Errors
/// A message when the adapter cannot be built (e.g. no TLS backend for an HTTP client).
pub fn adapter_for(config: &SourceConfig, data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Arc<dyn Source>, String> {
    Ok(match &config.kind {
        SourceKind::File { path, max_bytes } => Arc::new(FileSource::new(path.clone()).with_max_bytes(*max_bytes)),
        SourceKind::Url { url, timeout, max_bytes } => Arc::new(
            HttpFileSource::new(url.clone(), *timeout, spec::user_agent(), *max_bytes).map_err(|e| e.to_string())?,
        ),
        SourceKind::Git { repository, pin, path, auth, max_bytes } => {
            let cache = data_dir.join("git").join(config.name.as_str());
            Arc::new(
                GitSource::new(repository.clone(), pin.clone(), path.clone(), auth.clone(), cache)
                    .with_max_bytes(*max_bytes),
            )
        }
        SourceKind::Api(api) => Arc::new(ApiSource::new(api.clone(), clock).map_err(|e| e.to_string())?),
        SourceKind::Managed(_) => {
            return Err("a managed source is written through the API; it has no adapter to fetch with".to_owned());
        }
    })
}

/// The embedded store, or PostgreSQL (after applying pending migrations with the migration
/// user) when `database` is configured; the PostgreSQL store also comes back on its own, to be
/// closed at shutdown.
async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn EntryStore>, Option<PostgresStore>)> {
    let Some(db) = &config.database else {
        let store = EmbeddedStore::open(&config.data_dir)
            .with_context(|| format!("cannot open the data directory {}", config.data_dir.display()))?;
        tracing::info!(data_dir = %config.data_dir.display(), "using the embedded store");
        return Ok((Arc::new(store), None));
    };
    let migrations = postgres::connect(&db::settings(db, Role::Migration), DB_CONNECT_TIMEOUT).await?;
    let pending = postgres::pending_migrations(&migrations).await.context("cannot read the applied migrations")?;
    // Only touch the schema when something is pending: the configured user may lack the rights
    // to, and need not have them once a migration job has run.
    if !pending.is_empty() {
        let applied = postgres::migrate_up(&migrations).await.context("cannot apply the database migrations")?;
        tracing::info!(versions = ?applied, "applied database migrations");
    }
    migrations.close().await;
    let pool = postgres::connect(&db::settings(db, Role::App), DB_CONNECT_TIMEOUT).await?;
    tracing::info!(host = %db.host, database = %db.database, user = %db.user, "using PostgreSQL");
    let store = PostgresStore::new(pool);
    Ok((Arc::new(store.clone()), Some(store)))
}

/// The deployed-servers source from the `kubernetes` section. A client that cannot be set up
/// does not stop the server: the endpoints say why (503).
async fn deployments(config: &Config) -> DeploymentsSource {
    let Some(k) = &config.kubernetes else { return DeploymentsSource::NotConfigured };
    let options = KubernetesOptions {
        namespaces: k.namespaces.clone(),
        label_selector: k.label_selector.clone(),
        kubeconfig: k.kubeconfig.clone(),
        context: k.context.clone(),
        timeout: k.timeout,
        cache_ttl: k.cache_ttl,
    };
    match KubernetesDeployments::new(options).await {
        Ok(d) => {
            tracing::info!(server = %d.server(), "listing deployed MCP servers from Kubernetes");
            DeploymentsSource::Ready(Arc::new(d))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot set up the Kubernetes client; the deployed-server endpoints will say so");
            DeploymentsSource::Broken(e.to_string())
        }
    }
}

/// Authentication from the `auth` section. In `oauth` mode the providers' keys are fetched in
/// the background; a provider that cannot be reached yet does not stop the server (tokens it
/// signed are answered 503 until its keys arrive).
fn auth(config: &Config) -> anyhow::Result<Auth> {
    let Some(oauth) = config.auth.oauth.as_ref().filter(|_| config.auth.mode == AuthMode::Oauth) else {
        return Ok(Auth::new(config.auth.clone(), None));
    };
    let specs = oauth
        .providers
        .iter()
        .map(|p| ProviderSpec {
            name: p.name.clone(),
            issuer_url: p.issuer_url.clone(),
            audience: p.audience.clone(),
            jwks_url: p.jwks_url.clone(),
            ca_cert_pem: p.ca_cert_pem.clone(),
            require_access_token_type: p.require_access_token_type,
        })
        .collect();
    let options = VerifierOptions {
        leeway: oauth.clock_skew,
        refresh_min_interval: oauth.key_refresh_interval,
        key_ttl: oauth.key_ttl,
        ..VerifierOptions::default()
    };
    let verifier = Arc::new(OidcVerifier::new(specs, options).map_err(anyhow::Error::msg)?);
    tokio::spawn({
        let verifier = verifier.clone();
        async move {
            for (provider, error) in verifier.prefetch().await {
                tracing::warn!(provider, %error, "cannot fetch the provider's signing keys yet; retrying on demand");
            }
        }
    });
    let names: Vec<&str> = oauth.providers.iter().map(|p| p.name.as_str()).collect();
    tracing::info!(providers = ?names, "OAuth authentication enabled");
    Ok(Auth::new(config.auth.clone(), Some(verifier)))
}

/// Runs the server until SIGINT/SIGTERM.
///
/// # Errors
/// Start-up failures: the data directory, the store, or the listen address.
pub async fn serve(config: Config, address: &str, internal_address: Option<&str>) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, postgres) = open_store(&config).await?;
    let catalog = Arc::new(
        Catalog::open(config.catalog_spec(), store, clock.clone(), Arc::new(crate::telemetry::TelemetryEvents), |s| {
            adapter_for(s, &config.data_dir, clock.clone())
        })
        .await
        .context("cannot load the stored data")?,
    );
    for r in catalog.registries() {
        let servers = catalog.registry(r.config.name.as_str()).map_or(0, |s| s.snapshot.server_count());
        tracing::info!(registry.name = %r.config.name, servers, "registry loaded from the data directory");
    }
    let coordinator = Coordinator::start(&catalog);
    let deployments = deployments(&config).await;
    let auth = auth(&config)?;

    let listener =
        tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr().ok();
    let shown = local.map_or_else(|| address.to_owned(), |a| a.to_string());
    tracing::info!(address = %shown, "listening");

    let limits = config.http;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let internal = match internal_address {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on the internal address {addr}"))?;
            let local = listener.local_addr().ok();
            tracing::info!(address = %local.map_or_else(|| addr.to_owned(), |a| a.to_string()), "internal endpoints listening");
            let mut stop = stop_rx.clone();
            let app = crate::http::internal_app(catalog.clone(), limits);
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                crate::http::listen::serve(listener, app, None, limits, stopped, DRAIN_TIMEOUT).await;
            }))
        }
        None => None,
    };
    let stopped = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    // Repeated anonymous reads are answered from what the stack answered before, within half
    // the page cache's budget (their bodies are mostly the page cache's own).
    let replay = (limits.page_cache_bytes > 0).then(|| {
        Arc::new(crate::http::replay::Replay::new(
            catalog.clone(),
            limits.page_cache_bytes / 2,
            limits.max_header_bytes,
        ))
    });
    crate::http::listen::serve(
        listener,
        crate::http::app_with(catalog, deployments, limits, auth),
        replay,
        limits,
        stopped,
        DRAIN_TIMEOUT,
    )
    .await;
    if let Some(task) = internal {
        let _ = task.await;
    }
    tracing::info!("stopping sync tasks");
    coordinator.shutdown().await;
    if let Some(postgres) = postgres {
        postgres.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received; draining requests");
}
