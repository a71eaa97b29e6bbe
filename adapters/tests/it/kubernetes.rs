//! `KubernetesDeployments` against a stub Kubernetes API server on 127.0.0.1, reached through a
//! kubeconfig file written by each test. The stub serves a recorded `MCPServerList` on the
//! cluster-wide and namespaced `mcpservers` paths, applies `key=value` label selectors and
//! `limit`/`continue` paging, and records every request.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::{Value, json};
use thv_adapters::deployments::kubernetes::{KubernetesDeployments, KubernetesOptions, deployed_server};
use thv_ports::{DeployedServer, Deployments, DeploymentsError};
use thv_testkit::Loopback;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.stub-service-account-token.c2lnbmF0dXJl";
const ALL_PATH: &str = "/apis/toolhive.stacklok.dev/v1alpha1/mcpservers";
const NOT_INSTALLED: &str = "the MCPServer custom resource (mcpservers.toolhive.stacklok.dev) is not installed";

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kubernetes/mcpservers.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The stub API server.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Fault {
    #[default]
    None,
    /// Answer list requests with this status and a `Status` document.
    Status(u16),
    /// Answer as an API server without the CRD: a plain-text 404.
    CrdMissing,
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    params: HashMap<String, String>,
    authorization: Option<String>,
}

#[derive(Debug, Default)]
struct Scenario {
    fault: Fault,
    /// Serve at most this many items a page (fewer than `limit`, as an API server may), with
    /// `continue` tokens (the offset of the next item).
    page_size: Option<usize>,
    requests: Vec<Recorded>,
}

struct Stub {
    url: String,
    state: Arc<Mutex<Scenario>>,
}

impl Stub {
    async fn start(scenario: Scenario) -> Self {
        let state = Arc::new(Mutex::new(scenario));
        let listener = Loopback::bind().await.unwrap();
        let url = listener.url();
        let shared = state.clone();
        listener.serve(poem::endpoint::make(move |req: Request| handle(shared.clone(), req)));
        Self { url, state }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn status_document(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .content_type("application/json")
        .body(body.to_string())
}

fn page_not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("404 page not found\n")
}

/// What a list path lists.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    Namespace(String),
}

/// The scope of a list path; `None` for any other path.
fn scope(path: &str) -> Option<Scope> {
    if path == ALL_PATH {
        return Some(Scope::All);
    }
    let rest = path.strip_prefix("/apis/toolhive.stacklok.dev/v1alpha1/namespaces/")?;
    let (ns, plural) = rest.split_once('/')?;
    (plural == "mcpservers" && !ns.is_empty()).then(|| Scope::Namespace(ns.to_owned()))
}

/// Whether an object's labels satisfy a selector of `key=value` terms (all must match).
fn selected(item: &Value, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap();
        item["metadata"]["labels"][key.trim()].as_str() == Some(value.trim())
    })
}

async fn handle(state: Arc<Mutex<Scenario>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let params: HashMap<String, String> = req.params().unwrap_or_default();
    let (fault, page_size) = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            path: path.clone(),
            params: params.clone(),
            authorization: req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned()),
        });
        (s.fault, s.page_size)
    };
    if path == "/version" {
        return Response::builder()
            .content_type("application/json")
            .body(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1"}).to_string());
    }
    let Some(namespace) = scope(&path) else { return page_not_found() };
    match fault {
        Fault::None => {}
        Fault::CrdMissing => return page_not_found(),
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return page_not_found();
        }
        Fault::Status(403) => {
            return status_document(
                403,
                "Forbidden",
                "mcpservers.toolhive.stacklok.dev is forbidden: User \"system:serviceaccount:default:thv-registry\" \
                 cannot list resource \"mcpservers\" in API group \"toolhive.stacklok.dev\" at the cluster scope",
            );
        }
        Fault::Status(code) => return status_document(code, "InternalError", "etcdserver: request timed out"),
    }
    let mut list = fixture();
    let items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| match &namespace {
            Scope::All => true,
            Scope::Namespace(ns) => i["metadata"]["namespace"] == ns.as_str(),
        })
        .filter(|i| params.get("labelSelector").is_none_or(|s| selected(i, s)))
        .cloned()
        .collect();
    let (items, next) = match (params.get("limit").map(|l| l.parse::<usize>().unwrap()), page_size) {
        (Some(limit), Some(page_size)) => {
            let start: usize = params.get("continue").map_or(0, |c| c.parse().unwrap());
            let end = (start + limit.min(page_size)).min(items.len());
            let next = if end < items.len() { end.to_string() } else { String::new() };
            (items[start..end].to_vec(), next)
        }
        _ => (items, String::new()),
    };
    list["items"] = Value::Array(items);
    list["metadata"]["continue"] = Value::String(next);
    Response::builder().content_type("application/json").body(list.to_string())
}

// ---------------------------------------------------------------------------------------------
// Kubeconfig and adapter helpers.

/// A kubeconfig whose current context reaches `server` with the bearer token [`TOKEN`], plus a
/// context `elsewhere` pointing at `other` (when given).
fn write_kubeconfig(dir: &Path, server: &str, other: Option<&str>) -> PathBuf {
    let mut text = format!("apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: {server}\n");
    if let Some(other) = other {
        write!(text, "- name: elsewhere\n  cluster:\n    server: {other}\n").unwrap();
    }
    text.push_str(
        "contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: stub-user\n    namespace: default\n",
    );
    if other.is_some() {
        text.push_str("- name: elsewhere\n  context:\n    cluster: elsewhere\n    user: stub-user\n");
    }
    write!(text, "current-context: stub\npreferences: {{}}\nusers:\n- name: stub-user\n  user:\n    token: {TOKEN}\n")
        .unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

struct Setup {
    stub: Stub,
    deployments: KubernetesDeployments,
    _dir: tempfile::TempDir,
}

async fn setup(scenario: Scenario, options: KubernetesOptions) -> Setup {
    let stub = Stub::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &stub.url, None);
    let deployments =
        KubernetesDeployments::new(KubernetesOptions { kubeconfig: Some(kubeconfig), ..options }).await.unwrap();
    Setup { stub, deployments, _dir: dir }
}

fn options() -> KubernetesOptions {
    KubernetesOptions { timeout: Duration::from_secs(5), ..KubernetesOptions::default() }
}

fn names(servers: &[DeployedServer]) -> Vec<String> {
    servers.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect()
}

fn message(error: &DeploymentsError) -> String {
    let text = error.to_string();
    assert!(!text.contains(TOKEN), "the token leaked into an error: {text}");
    assert!(!text.contains("stub-service-account-token"), "the token leaked into an error: {text}");
    text
}

// ---------------------------------------------------------------------------------------------
// Listing.

#[tokio::test]
async fn lists_all_namespaces_sorted_with_fields_mapped() {
    let s = setup(Scenario::default(), options()).await;
    let servers = s.deployments.list().await.unwrap();
    assert_eq!(
        servers,
        vec![
            DeployedServer {
                name: "github".into(),
                namespace: "team-a".into(),
                phase: Some("Pending".into()),
                image: Some("ghcr.io/github/github-mcp-server:v0.9.0".into()),
                transport: Some("stdio".into()),
                ready: false,
                url: None,
            },
            DeployedServer {
                name: "osv".into(),
                namespace: "team-a".into(),
                phase: Some("Failed".into()),
                image: Some("ghcr.io/stackloklabs/osv-mcp/server:0.0.7".into()),
                transport: Some("sse".into()),
                ready: false,
                url: None,
            },
            DeployedServer {
                name: "fetch".into(),
                namespace: "toolhive-system".into(),
                phase: Some("Running".into()),
                image: Some("ghcr.io/stackloklabs/gofetch/server:1.0.1".into()),
                transport: Some("streamable-http".into()),
                ready: true,
                url: Some("http://mcp-fetch-proxy.toolhive-system.svc.cluster.local:8080".into()),
            },
        ]
    );
    let requests = s.stub.requests();
    let lists: Vec<&Recorded> = requests.iter().filter(|r| scope(&r.path).is_some()).collect();
    assert_eq!(lists.len(), 1, "{requests:?}");
    assert_eq!(lists[0].path, ALL_PATH);
    assert!(!lists[0].params.contains_key("labelSelector"), "{:?}", lists[0].params);
}

#[tokio::test]
async fn lists_only_the_configured_namespaces_on_their_paths() {
    let s = setup(Scenario::default(), KubernetesOptions { namespaces: vec!["team-a".into()], ..options() }).await;
    let servers = s.deployments.list().await.unwrap();
    assert_eq!(names(&servers), ["team-a/github", "team-a/osv"]);
    let paths: Vec<String> =
        s.stub.requests().into_iter().filter(|r| scope(&r.path).is_some()).map(|r| r.path).collect();
    assert_eq!(paths, ["/apis/toolhive.stacklok.dev/v1alpha1/namespaces/team-a/mcpservers"]);
}

#[tokio::test]
async fn lists_several_namespaces_one_request_each() {
    let namespaces = vec!["toolhive-system".into(), "team-a".into(), "empty".into(), "team-a".into()];
    let s = setup(Scenario::default(), KubernetesOptions { namespaces, ..options() }).await;
    let servers = s.deployments.list().await.unwrap();
    assert_eq!(names(&servers), ["team-a/github", "team-a/osv", "toolhive-system/fetch"]);
    let mut paths: Vec<String> =
        s.stub.requests().into_iter().filter(|r| scope(&r.path).is_some()).map(|r| r.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/apis/toolhive.stacklok.dev/v1alpha1/namespaces/empty/mcpservers",
            "/apis/toolhive.stacklok.dev/v1alpha1/namespaces/team-a/mcpservers",
            "/apis/toolhive.stacklok.dev/v1alpha1/namespaces/toolhive-system/mcpservers",
        ]
    );
}

#[tokio::test]
async fn passes_the_label_selector_through() {
    let options = KubernetesOptions { label_selector: Some("team=a,tier=dev".into()), ..options() };
    let s = setup(Scenario::default(), options).await;
    let servers = s.deployments.list().await.unwrap();
    assert_eq!(names(&servers), ["team-a/osv"]);
    let requests = s.stub.requests();
    let list = requests.iter().find(|r| r.path == ALL_PATH).unwrap();
    assert_eq!(list.params.get("labelSelector").map(String::as_str), Some("team=a,tier=dev"));
}

#[tokio::test]
async fn sends_the_bearer_token() {
    let s = setup(Scenario::default(), options()).await;
    s.deployments.list().await.unwrap();
    let requests = s.stub.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()), "{}", r.path);
    }
}

#[tokio::test]
async fn follows_continue_tokens() {
    let s = setup(Scenario { page_size: Some(1), ..Scenario::default() }, options()).await;
    let servers = s.deployments.list().await.unwrap();
    assert_eq!(names(&servers), ["team-a/github", "team-a/osv", "toolhive-system/fetch"]);
    let pages: Vec<(Option<String>, Option<String>)> = s
        .stub
        .requests()
        .into_iter()
        .filter(|r| r.path == ALL_PATH)
        .map(|r| (r.params.get("limit").cloned(), r.params.get("continue").cloned()))
        .collect();
    let limit = Some("500".to_owned());
    assert_eq!(pages, [(limit.clone(), None), (limit.clone(), Some("1".into())), (limit, Some("2".into()))]);
}

#[tokio::test]
async fn uses_the_requested_context() {
    let stub = Stub::start(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // The current context `stub` names a dead port; `elsewhere` names the live stub.
    let dead = dead_url().await;
    let path = write_kubeconfig(dir.path(), &dead, Some(&stub.url));
    let current =
        KubernetesDeployments::new(KubernetesOptions { kubeconfig: Some(path.clone()), ..options() }).await.unwrap();
    assert_eq!(current.server(), dead);
    let chosen = KubernetesDeployments::new(KubernetesOptions {
        kubeconfig: Some(path),
        context: Some("elsewhere".into()),
        ..options()
    })
    .await
    .unwrap();
    assert_eq!(chosen.server(), stub.url);
    assert_eq!(chosen.list().await.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Failures.

#[tokio::test]
async fn forbidden_is_forbidden() {
    let s = setup(Scenario { fault: Fault::Status(403), ..Scenario::default() }, options()).await;
    let error = s.deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Forbidden(_)), "{error:?}");
    let text = message(&error);
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("cannot list resource"), "{text}");
}

#[tokio::test]
async fn unauthorized_is_forbidden() {
    let s = setup(Scenario { fault: Fault::Status(401), ..Scenario::default() }, options()).await;
    let error = s.deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Forbidden(_)), "{error:?}");
    message(&error);
}

#[tokio::test]
async fn server_error_is_unavailable() {
    let s = setup(Scenario { fault: Fault::Status(500), ..Scenario::default() }, options()).await;
    let error = s.deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    let text = message(&error);
    assert!(text.contains("500"), "{text}");
    assert!(text.contains(&s.stub.url), "names the API server: {text}");
}

#[tokio::test]
async fn overload_is_unavailable_without_retries() {
    let s = setup(Scenario { fault: Fault::Status(503), ..Scenario::default() }, options()).await;
    let error = s.deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    assert!(message(&error).contains("503"), "{error}");
    // kube's default retry layer (3 more tries with backoff) is off: one request, one answer.
    let lists = s.stub.requests().iter().filter(|r| r.path == ALL_PATH).count();
    assert_eq!(lists, 1);
}

#[tokio::test]
async fn missing_crd_is_unavailable_and_says_so() {
    let s = setup(Scenario { fault: Fault::CrdMissing, ..Scenario::default() }, options()).await;
    let error = s.deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    let text = message(&error);
    assert!(text.contains(NOT_INSTALLED), "{text}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let options = KubernetesOptions { timeout: Duration::from_millis(500), ..options() };
    let s = setup(Scenario { fault: Fault::Hang, ..Scenario::default() }, options).await;
    let started = Instant::now();
    let error = s.deployments.list().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "took {took:?}");
    let text = message(&error);
    assert!(text.contains(&s.stub.url), "names the API server: {text}");
}

/// A URL on 127.0.0.1 where nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let url = dead_url().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &url, None);
    let deployments =
        KubernetesDeployments::new(KubernetesOptions { kubeconfig: Some(kubeconfig), ..options() }).await.unwrap();
    let error = deployments.list().await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    let text = message(&error);
    assert!(text.contains(&url), "names the API server: {text}");
}

#[tokio::test]
async fn a_missing_kubeconfig_is_unavailable_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let error = KubernetesDeployments::new(KubernetesOptions { kubeconfig: Some(missing.clone()), ..options() })
        .await
        .unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    let text = message(&error);
    assert!(text.contains(&missing.display().to_string()), "{text}");
}

#[tokio::test]
async fn a_broken_kubeconfig_is_unavailable_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, format!("apiVersion: v1\nusers:\n- name: x\n  user: {{token: {TOKEN}\n")).unwrap();
    let error =
        KubernetesDeployments::new(KubernetesOptions { kubeconfig: Some(path), ..options() }).await.unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    message(&error);
}

#[tokio::test]
async fn an_unknown_context_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), "http://127.0.0.1:1", None);
    let error = KubernetesDeployments::new(KubernetesOptions {
        kubeconfig: Some(path),
        context: Some("production".into()),
        ..options()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, DeploymentsError::Unavailable(_)), "{error:?}");
    assert!(message(&error).contains("production"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Mapping of single objects.

fn object(status: &Value) -> kube::api::DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "toolhive.stacklok.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"image": "example/image:1"},
        "status": status,
    }))
    .unwrap()
}

#[test]
fn readiness_prefers_the_ready_condition_and_falls_back_to_the_phase() {
    let ready = |status: Value| deployed_server(&object(&status)).unwrap().ready;
    assert!(ready(json!({"phase": "Running"})));
    assert!(!ready(json!({"phase": "Pending"})));
    assert!(!ready(json!({})));
    // The operator's own conditions say nothing about readiness: the phase decides.
    assert!(ready(json!({"phase": "Running", "conditions": [{"type": "ImageValidated", "status": "True"}]})));
    // A Ready condition decides, whatever the phase.
    assert!(!ready(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]})));
    assert!(ready(json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "True"}]})));
}

#[test]
fn missing_fields_are_none() {
    let server = deployed_server(&object(&json!(null))).unwrap();
    assert_eq!(server.transport, None);
    assert_eq!(server.phase, None);
    assert_eq!(server.url, None);
    assert_eq!(server.image.as_deref(), Some("example/image:1"));
    assert!(!server.ready);
}
