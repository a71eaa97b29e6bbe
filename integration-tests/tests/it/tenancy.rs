//! Tenant isolation outside the MCP read API, through the real binary in `oauth` mode: what each
//! kind of caller learns from `/readiness`, `/metrics` and the deployed-server routes, and that
//! secrets in source URLs (query values, userinfo) never reach a response, a log line or
//! `config check`.
//!
//! Three tenants: `pub-reg` (public), `team-a` (claim `tenant: a`, the default registry) and
//! `team-b` (claim `tenant: b`, fed by a source that keeps failing). Callers: none (no token),
//! tenant A, and a `superAdmin`.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use poem::{Route, handler};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use thv_testkit::kubernetes::{KUBE_TOKEN, KubeStub};
use thv_testkit::oidc::{Idp, TestKey};
use thv_testkit::{
    Loopback, RegistrySpec, SourceSpec, TestApp, TestServer, WAIT, binary, server_json, wait_until, workspace_root,
};

/// The query value of `open-src`'s URL (a presigned-style token).
const QUERY_SECRET: &str = "S3cr3tQueryValue";
/// The query value of `bravo-broken`'s URL, whose fetch fails and is reported.
const SIGNATURE_SECRET: &str = "S3cr3tSignature";
/// The password in `bravo-git`'s URL userinfo.
const GIT_PASSWORD: &str = "S3cr3tGitPassw0rd";
/// The password in `open-src`'s URL userinfo.
const HTTP_PASSWORD: &str = "S3cr3tHttpPassw0rd";
const SECRETS: &[&str] = &[QUERY_SECRET, SIGNATURE_SECRET, GIT_PASSWORD, HTTP_PASSWORD, KUBE_TOKEN];

/// What belongs to `team-b` and must not reach tenant A or a caller without a token.
const TEAM_B: &[&str] = &["team-b", "bravo-"];

#[handler]
fn catalogue() -> String {
    json!([server_json("io.example/pub-tool", "1.0.0", "public tool")]).to_string()
}

struct Env {
    _kube: KubeStub,
    idp: Idp,
    key: TestKey,
    config: std::path::PathBuf,
    server: TestServer,
}

impl Env {
    fn token(&self, extra: &Value) -> String {
        self.key.sign(&self.idp.claims("someone", extra)).unwrap()
    }
}

fn write_data(app: &TestApp, file: &str, name: &str) {
    app.write_json(file, &json!([server_json(name, "1.0.0", "tool")]));
}

async fn start() -> Env {
    let app = TestApp::new();
    let files = Loopback::bind().await.unwrap();
    let files_at = files.addr;
    files.serve(Route::new().at("/r.json", poem::get(catalogue)));
    let kube = KubeStub::start().await.unwrap();
    let kubeconfig = kube.kubeconfig(app.dir()).unwrap();
    let key = TestKey::rsa("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    write_data(&app, "a.json", "io.example/a-tool");
    write_data(&app, "b.json", "io.example/b-tool");
    let git_url = format!("http://bot:{GIT_PASSWORD}@127.0.0.1:9/repo.git");
    let app = app
        .source(SourceSpec::url(
            "open-src",
            &format!("http://reader:{HTTP_PASSWORD}@{files_at}/r.json?token={QUERY_SECRET}"),
        ))
        .file_source("alpha-src", "a.json")
        .file_source("bravo-src", "b.json")
        .source(SourceSpec::url(
            "bravo-broken",
            &format!("http://{files_at}/missing.json?X-Amz-Signature={SIGNATURE_SECRET}"),
        ))
        .git_source("bravo-git", &git_url, "main", "registry.json")
        .registry(
            RegistrySpec::new("pub-reg", &["open-src"])
                .public()
                .with("deployed", json!({"namespaces": ["toolhive-system"], "public": true})),
        )
        .registry(RegistrySpec::new("team-a", &["alpha-src"]).access(json!({"tenant": "a"})).deployed(&["team-a"]))
        .registry(
            RegistrySpec::new("team-b", &["bravo-src", "bravo-broken", "bravo-git"]).access(json!({"tenant": "b"})),
        )
        .default_registry("team-a")
        .kubeconfig(&kubeconfig)
        .oauth_provider(idp.issuer(), json!({"superAdmin": [{"role": "root"}]}));
    let config = app.write_config();
    let server = app.spawn_with(&[], &["--internal-address", "127.0.0.1:0"]).await.unwrap();
    server.wait_ready().await.unwrap();
    Env { _kube: kube, idp, key, config, server }
}

/// The registry names a readiness body lists.
fn registries(body: &Value) -> BTreeSet<String> {
    body["registries"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_hides(text: &str, hidden: &[&str], what: &str) {
    for h in hidden {
        assert!(!text.contains(h), "{what} shows `{h}`:\n{text}");
    }
}

async fn internal(env: &Env, path: &str) -> (u16, String) {
    let address = wait_until("the internal address is logged", WAIT, || async {
        Ok(env.server.log_field("internal endpoints listening", "address"))
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client.get(format!("http://{address}{path}")).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn readiness_shows_each_caller_only_what_it_may_read() {
    let env = start().await;
    let s = &env.server;
    let tenant_a = env.token(&json!({"tenant": "a"}));
    let root = env.token(&json!({"role": "root"}));

    // No token, or a token that does not verify: the status alone, with the same 200.
    for token in [None, Some("not-a-jwt")] {
        let reply = s.call("GET", "/readiness", token).await.unwrap();
        assert_eq!(reply.status, 200, "{token:?}: {}", reply.body);
        assert_eq!(reply.json().unwrap(), json!({"status": "ready"}), "{token:?}");
    }

    let reply = s.call("GET", "/readiness", Some(&tenant_a)).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(registries(&reply.json().unwrap()), set(&["pub-reg", "team-a"]));
    assert_hides(&reply.body, TEAM_B, "tenant A's /readiness");

    let reply = s.call("GET", "/readiness", Some(&root)).await.unwrap();
    let body = reply.json().unwrap();
    assert_eq!(registries(&body), set(&["pub-reg", "team-a", "team-b"]));
    let team_b = body["registries"].as_array().unwrap().iter().find(|r| r["name"] == "team-b").unwrap();
    let broken = team_b["sources"].as_array().unwrap().iter().find(|s| s["name"] == "bravo-broken").unwrap();
    assert_eq!(broken["phase"], "failed", "{broken}");

    // The operations listener has the full report, without a token.
    let (status, text) = internal(&env, "/readiness").await;
    assert_eq!(status, 200);
    let full: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(registries(&full), set(&["pub-reg", "team-a", "team-b"]));
}

#[tokio::test]
async fn metrics_are_for_super_admins_and_the_operations_listener() {
    let env = start().await;
    let s = &env.server;
    assert_eq!(s.call("GET", "/metrics", None).await.unwrap().status, 401);
    let reply = s.call("GET", "/metrics", Some(&env.token(&json!({"tenant": "a"})))).await.unwrap();
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.content_type().starts_with("application/problem+json"));
    assert_hides(&reply.body, TEAM_B, "a refused /metrics");
    let reply = s.call("GET", "/metrics", Some(&env.token(&json!({"role": "root"})))).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("registry_servers{registry=\"team-b\"}"), "{}", reply.body);
    let (status, text) = internal(&env, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("registry_servers{registry=\"team-b\"}"));
}

/// `namespace/name` of every deployed server listed.
fn deployed(body: &Value) -> Vec<String> {
    let servers = body["servers"].as_array().unwrap_or_else(|| panic!("no servers in {body}"));
    servers.iter().map(|s| format!("{}/{}", s["namespace"].as_str().unwrap(), s["name"].as_str().unwrap())).collect()
}

#[tokio::test]
async fn deployed_servers_are_scoped_to_their_registry() {
    let env = start().await;
    let s = &env.server;
    let tenant_a = env.token(&json!({"tenant": "a"}));
    let root = env.token(&json!({"role": "root"}));
    let of = |registry: &str| format!("/registry/{registry}/v0.1/x/dev.toolhive/deployed");

    // A public registry that opted in: listed without a token, its namespaces only.
    let reply = s.call("GET", &of("pub-reg"), None).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(deployed(&reply.json().unwrap()), ["toolhive-system/fetch"]);
    // The root paths are the default registry's (team-a): a token is needed.
    assert_eq!(s.call("GET", "/api/v0/deployed", None).await.unwrap().status, 401);
    assert_eq!(s.call("GET", &of("team-a"), None).await.unwrap().status, 401);

    let reply = s.call("GET", "/api/v0/deployed", Some(&tenant_a)).await.unwrap();
    assert_eq!(deployed(&reply.json().unwrap()), ["team-a/github", "team-a/osv"]);
    assert_eq!(s.call("GET", &of("team-a"), Some(&tenant_a)).await.unwrap().json().unwrap(), reply.json().unwrap());
    // Another namespace's server is not found through this registry.
    assert_eq!(s.call("GET", &format!("{}/fetch", of("team-a")), Some(&tenant_a)).await.unwrap().status, 404);
    // Another tenant's registry is not found at all.
    let reply = s.call("GET", &of("team-b"), Some(&tenant_a)).await.unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body.replace("team-b", "nope"), s.call("GET", &of("nope"), Some(&tenant_a)).await.unwrap().body);

    // A registry without a `deployed` section lists nothing in oauth mode, even to a superAdmin.
    let reply = s.call("GET", &of("team-b"), Some(&root)).await.unwrap();
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("lists no deployed servers"), "{}", reply.body);
}

#[tokio::test]
async fn secrets_in_source_urls_never_show() {
    let env = start().await;
    let s = &env.server;
    let root = env.token(&json!({"role": "root"}));
    // bravo-broken has failed (a 404, with the URL in its message) and bravo-git cannot connect.
    let sources = wait_until("the failing sources report", WAIT, || async {
        let body = s.call("GET", "/v1/sources", Some(&root)).await?.body;
        Ok((body.matches("\"failed\"").count() >= 2).then_some(body))
    })
    .await
    .unwrap();
    assert!(sources.contains("token=***"), "{sources}");
    assert!(sources.contains("X-Amz-Signature=***"), "{sources}");
    let readiness = s.call("GET", "/readiness", Some(&root)).await.unwrap().body;
    let registry = s.call("GET", "/v1/registries/team-b", Some(&root)).await.unwrap().body;
    let out = std::process::Command::new(binary().unwrap())
        .args(["config", "check", "--config"])
        .arg(&env.config)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(check.contains("token=***"), "{check}");
    for (what, text) in [
        ("/v1/sources", sources.as_str()),
        ("/readiness", readiness.as_str()),
        ("/v1/registries/team-b", registry.as_str()),
        ("config check", check.as_str()),
        ("the server log", s.stderr().as_str()),
    ] {
        assert_hides(text, SECRETS, what);
    }
}
