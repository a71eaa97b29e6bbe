//! A [`Deployments`] listing ToolHive `MCPServer` custom resources through the Kubernetes API
//! (kube-rs).
//!
//! The resource is read as a [`DynamicObject`] (`toolhive.stacklok.dev/v1alpha1`, plural
//! `mcpservers`), so no generated CRD types are needed and fields the operator adds later are
//! ignored. Fields read:
//!
//! - `metadata.name`, `metadata.namespace`;
//! - `spec.image`, `spec.transport`;
//! - `status.phase` (`Pending`, `Running`, `Failed`, `Terminating`), `status.url`;
//! - `status.conditions[]`: the server is ready when its `Ready` condition has `status: "True"`,
//!   or, when it reports no `Ready` condition (the operator's own conditions are about image
//!   and reference validation), when its phase is `Running`.
//!
//! Configuration: an explicit kubeconfig file, or else the in-cluster service account, or else
//! the default kubeconfig (`$KUBECONFIG`, `~/.kube/config`). Each request is bounded by
//! [`KubernetesOptions::timeout`]; lists are read in pages of [`PAGE_SIZE`].

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, ObjectList};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use serde_json::Value;
use thv_ports::{DeployedServer, Deployments, DeploymentsError};

use crate::http::truncate;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Items asked for per list request (`limit`); the rest follows with `continue` tokens.
pub const PAGE_SIZE: u32 = 500;
/// Most pages one namespace's list may take: a `continue` chain longer than this is a bug.
const MAX_PAGES: usize = 1000;

/// API group of the ToolHive operator's resources.
pub const GROUP: &str = "toolhive.stacklok.dev";
/// API version of `MCPServer`.
pub const VERSION: &str = "v1alpha1";
/// Kind of the resource.
pub const KIND: &str = "MCPServer";
/// Plural (the URL path segment) of the resource.
pub const PLURAL: &str = "mcpservers";

/// Longest server-provided text copied into an error message.
const MAX_MESSAGE_CHARS: usize = 300;

/// What to list and how to reach the cluster.
#[derive(Debug, Clone)]
pub struct KubernetesOptions {
    /// Namespaces to list; empty = all namespaces (cluster-wide list).
    pub namespaces: Vec<String>,
    /// Label selector, e.g. `team=platform,tier!=dev`.
    pub label_selector: Option<String>,
    /// Path of a kubeconfig; `None` = in-cluster config, falling back to the default kubeconfig
    /// (`$KUBECONFIG` / `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Context within the kubeconfig (its `current-context` when `None`). With `kubeconfig: None`
    /// a context selects the default kubeconfig over the in-cluster configuration.
    pub context: Option<String>,
    /// Per-request timeout (connect, send, answer); default 10 s.
    pub timeout: Duration,
    /// How long one listing is reused by every caller (zero: none). Concurrent callers share one
    /// listing in flight either way, so callers cannot multiply the load on the cluster API.
    pub cache_ttl: Duration,
}

impl Default for KubernetesOptions {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            label_selector: None,
            kubeconfig: None,
            context: None,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
        }
    }
}

/// How long a listing is reused unless configured.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);
/// How long a failed listing is reused: long enough to absorb a burst, short enough to recover.
const ERROR_TTL: Duration = Duration::from_secs(1);

/// The last listing and when it was made.
type Listing = (tokio::time::Instant, Result<Vec<DeployedServer>, DeploymentsError>);

/// Lists `MCPServer` resources in the configured namespaces (or the whole cluster).
#[derive(Clone)]
pub struct KubernetesDeployments {
    client: Client,
    resource: ApiResource,
    /// Sorted, deduplicated; empty = all namespaces.
    namespaces: Vec<String>,
    label_selector: Option<String>,
    timeout: Duration,
    /// The API server URL without credentials, for messages.
    server: String,
    cache_ttl: Duration,
    /// The last listing; held while a listing is in flight, so concurrent callers wait for it.
    last: std::sync::Arc<tokio::sync::Mutex<Option<Listing>>>,
}

impl std::fmt::Debug for KubernetesDeployments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `kube::Client` has no `Debug`; its credentials must not be printed anyway.
        f.debug_struct("KubernetesDeployments")
            .field("server", &self.server)
            .field("namespaces", &self.namespaces)
            .field("label_selector", &self.label_selector)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KubernetesDeployments {
    /// Resolves the cluster configuration and builds a client. Nothing is sent to the cluster yet.
    ///
    /// # Errors
    /// [`DeploymentsError::Unavailable`] when no usable configuration is found (naming which were
    /// tried and why each failed); [`DeploymentsError::Internal`] when the client cannot be built.
    pub async fn new(options: KubernetesOptions) -> Result<Self, DeploymentsError> {
        let timeout = if options.timeout.is_zero() { DEFAULT_TIMEOUT } else { options.timeout };
        let mut config = load_config(options.kubeconfig.as_ref(), options.context.as_deref()).await?;
        config.connect_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        // kube retries 429/503/504 up to 3 times with backoff (~3.5-7 s), which would eat the
        // per-request timeout and turn "answered 503" into "did not answer": one try, the caller
        // decides about retrying.
        config.default_retry = false;
        let server = display_url(&config.cluster_url);
        let client = Client::try_from(config).map_err(|e| {
            DeploymentsError::Internal(format!("cannot build a Kubernetes client for {server}: {}", chain(&e)))
        })?;

        let mut namespaces = options.namespaces;
        namespaces.retain(|ns| !ns.is_empty());
        namespaces.sort();
        namespaces.dedup();
        let label_selector = options.label_selector.filter(|s| !s.trim().is_empty());
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL);
        tracing::debug!(%server, ?namespaces, ?label_selector, "Kubernetes deployments configured");
        Ok(Self {
            client,
            resource,
            namespaces,
            label_selector,
            timeout,
            server,
            cache_ttl: options.cache_ttl,
            last: std::sync::Arc::default(),
        })
    }

    /// The API server URL (scheme, host, port and path; never credentials).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Every `MCPServer` of one namespace (`None` = all namespaces), following `continue` tokens.
    async fn list_scope(&self, namespace: Option<&str>) -> Result<Vec<DynamicObject>, DeploymentsError> {
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.resource),
            None => Api::all_with(self.client.clone(), &self.resource),
        };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = ListParams::default().limit(PAGE_SIZE);
            if let Some(selector) = &self.label_selector {
                params = params.labels(selector);
            }
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let page: ObjectList<DynamicObject> = match tokio::time::timeout(self.timeout, api.list(&params)).await {
                Ok(Ok(page)) => page,
                Ok(Err(error)) => return Err(self.translate(&error)),
                Err(_) => {
                    return Err(DeploymentsError::Unavailable(format!(
                        "the Kubernetes API at {} did not answer within {:?}",
                        self.server, self.timeout
                    )));
                }
            };
            items.extend(page.items);
            match page.metadata.continue_.filter(|t| !t.is_empty()) {
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(DeploymentsError::Unavailable(format!(
                        "the Kubernetes API at {} repeated the same continue token",
                        self.server
                    )));
                }
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
        Err(DeploymentsError::Unavailable(format!(
            "the Kubernetes API at {} kept answering with more pages (over {MAX_PAGES})",
            self.server
        )))
    }

    /// A kube error as the port's error: never credentials, server text truncated.
    fn translate(&self, error: &kube::Error) -> DeploymentsError {
        let server = &self.server;
        match error {
            kube::Error::Api(status) => {
                let code = status.code;
                let detail = status_detail(status);
                match code {
                    401 | 403 => DeploymentsError::Forbidden(format!(
                        "{code} {} from {server} when listing {PLURAL}.{GROUP}{detail}",
                        reason_phrase(code)
                    )),
                    404 => DeploymentsError::Unavailable(format!(
                        "the MCPServer custom resource ({PLURAL}.{GROUP}) is not installed in the cluster at {server} \
                         (404 for {GROUP}/{VERSION})"
                    )),
                    408 | 429 | 500..=599 => DeploymentsError::Unavailable(format!(
                        "the Kubernetes API at {server} answered {code} {}{detail}",
                        reason_phrase(code)
                    )),
                    _ => DeploymentsError::Internal(format!(
                        "the Kubernetes API at {server} answered {code} {}{detail}",
                        reason_phrase(code)
                    )),
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                // Skip kube's own "ServiceError: " wrapper; the causes say what happened.
                let text = error.source().map_or_else(|| chain(error), chain);
                if is_timeout(error) {
                    DeploymentsError::Unavailable(format!(
                        "the Kubernetes API at {server} did not answer within {:?}: {text}",
                        self.timeout
                    ))
                } else {
                    DeploymentsError::Unavailable(format!("cannot reach the Kubernetes API at {server}: {text}"))
                }
            }
            kube::Error::Auth(_) => DeploymentsError::Unavailable(format!(
                "cannot obtain credentials for the Kubernetes API at {server}: {}",
                truncate(&chain(error), MAX_MESSAGE_CHARS)
            )),
            kube::Error::RustlsTls(_) | kube::Error::TlsRequired => DeploymentsError::Unavailable(format!(
                "TLS setup for the Kubernetes API at {server} failed: {}",
                chain(error)
            )),
            kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => DeploymentsError::Unavailable(format!(
                "the Kubernetes API at {server} answered with something that is not an {KIND} list: {}",
                truncate(&chain(error), MAX_MESSAGE_CHARS)
            )),
            _ => DeploymentsError::Internal(format!(
                "listing {PLURAL}.{GROUP} at {server} failed: {}",
                truncate(&chain(error), MAX_MESSAGE_CHARS)
            )),
        }
    }
}

#[async_trait]
impl Deployments for KubernetesDeployments {
    async fn list(&self) -> Result<Vec<DeployedServer>, DeploymentsError> {
        // Without a cache there is nothing to share: requests list side by side, not one after
        // another behind the lock.
        if self.cache_ttl.is_zero() {
            return self.list_now().await;
        }
        let mut last = self.last.lock().await;
        if let Some((at, listing)) = last.as_ref() {
            let ttl = if listing.is_ok() { self.cache_ttl } else { self.cache_ttl.min(ERROR_TTL) };
            if at.elapsed() < ttl {
                return listing.clone();
            }
        }
        let listing = self.list_now().await;
        *last = Some((tokio::time::Instant::now(), listing.clone()));
        listing
    }
}

impl KubernetesDeployments {
    /// Lists from the cluster now.
    async fn list_now(&self) -> Result<Vec<DeployedServer>, DeploymentsError> {
        let mut objects = Vec::new();
        if self.namespaces.is_empty() {
            objects = self.list_scope(None).await?;
        } else {
            for namespace in &self.namespaces {
                let mut found = self.list_scope(Some(namespace)).await?;
                // The API fills `metadata.namespace`; a stub or proxy may not.
                for object in &mut found {
                    object.metadata.namespace.get_or_insert_with(|| namespace.clone());
                }
                objects.append(&mut found);
            }
        }
        let mut servers: Vec<DeployedServer> = objects.iter().filter_map(deployed_server).collect();
        servers.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        servers.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
        tracing::debug!(server = %self.server, count = servers.len(), "listed MCP servers");
        Ok(servers)
    }
}

/// One `MCPServer` object as a [`DeployedServer`]; `None` when it has no name.
pub fn deployed_server(object: &DynamicObject) -> Option<DeployedServer> {
    let name = object.metadata.name.clone().filter(|n| !n.is_empty())?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let data = &object.data;
    let phase = text(data, "/status/phase");
    let conditions = data.pointer("/status/conditions").and_then(Value::as_array);
    let ready_condition = conditions.and_then(|all| {
        all.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            .map(|c| c.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("true")))
    });
    let ready = ready_condition.unwrap_or_else(|| phase.as_deref() == Some("Running"));
    Some(DeployedServer {
        name,
        namespace,
        phase,
        image: text(data, "/spec/image"),
        transport: text(data, "/spec/transport"),
        ready,
        url: text(data, "/status/url"),
    })
}

/// A non-empty string at a JSON pointer.
fn text(data: &Value, pointer: &str) -> Option<String> {
    data.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The cluster configuration: the given kubeconfig, or in-cluster, or the default kubeconfig.
async fn load_config(kubeconfig: Option<&PathBuf>, context: Option<&str>) -> Result<Config, DeploymentsError> {
    let options = KubeConfigOptions { context: context.map(str::to_owned), ..KubeConfigOptions::default() };
    if let Some(path) = kubeconfig {
        let file = Kubeconfig::read_from(path).map_err(|e| {
            DeploymentsError::Unavailable(format!(
                "cannot use the kubeconfig {}: {}",
                path.display(),
                kubeconfig_error(&e)
            ))
        })?;
        return Config::from_custom_kubeconfig(file, &options).await.map_err(|e| {
            DeploymentsError::Unavailable(format!(
                "cannot use the kubeconfig {}: {}",
                path.display(),
                kubeconfig_error(&e)
            ))
        });
    }
    let in_cluster = if context.is_some() {
        Err("not tried: a kubeconfig context was requested".to_owned())
    } else {
        Config::incluster().map_err(|e| chain(&e))
    };
    match in_cluster {
        Ok(config) => Ok(config),
        Err(in_cluster) => match Config::from_kubeconfig(&options).await {
            Ok(config) => Ok(config),
            Err(e) => Err(DeploymentsError::Unavailable(format!(
                "no usable Kubernetes configuration: in-cluster service account: {in_cluster}; \
                 default kubeconfig ($KUBECONFIG or ~/.kube/config): {}",
                kubeconfig_error(&e)
            ))),
        },
    }
}

/// A kubeconfig error without risking a quote of the file (a YAML error may show a snippet,
/// and kubeconfigs hold tokens).
fn kubeconfig_error(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::ReadConfig(io, _) => format!("cannot read it: {}", chain(io)),
        KubeconfigError::Parse(inner) => match inner.location() {
            Some(at) => format!("not valid kubeconfig YAML (line {}, column {})", at.line(), at.column()),
            None => "not valid kubeconfig YAML".to_owned(),
        },
        other => chain(other),
    }
}

/// `scheme://host:port/path` of the API server: no user info, no query.
fn display_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or_default();
    let mut out = format!("{scheme}://{host}");
    if let Some(port) = uri.port_u16() {
        let _ = write!(out, ":{port}");
    }
    let path = uri.path();
    if path != "/" {
        out.push_str(path);
    }
    out
}

/// `: message` from an API `Status`, truncated; empty when the server said nothing useful.
fn status_detail(status: &kube::core::Status) -> String {
    let message = status.message.trim();
    if message.is_empty() { String::new() } else { format!(": {}", truncate(message, MAX_MESSAGE_CHARS)) }
}

fn reason_phrase(code: u16) -> &'static str {
    http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// Whether a transport error was a timeout (connect, read or write).
fn is_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if e.to_string().contains("timed out") {
            return true;
        }
        current = e.source();
    }
    false
}

/// An error and its causes (shared with the HTTP sources).
fn chain(error: &(dyn StdError + 'static)) -> String {
    crate::http::error_chain(error)
}
