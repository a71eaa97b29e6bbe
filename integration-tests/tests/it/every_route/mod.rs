//! Every route, every caller: the real binary in `oauth` mode with three tenants, walked over
//! every operation of its own OpenAPI document (so a new route is covered the day it is added),
//! with every way of filling its path parameters, as each kind of caller.
//!
//! The promise checked: nothing about a registry — its name, its sources' names, their servers,
//! locations and revisions — reaches a caller who may not read it, and no configured secret
//! reaches anyone (super-admins included), in any body byte or header value. A name the caller
//! sent itself may come back, but then the answer must be the one a name that does not exist
//! gets (same status, same body with the name swapped), or it tells the name exists.
//!
//! Who may read what is defined here from the configuration, independently of the server:
//! anonymous → `pub-reg`; tenant A → `pub-reg`, `tenant-a-reg`; super-admin → everything (the
//! orphan source too); an invalid token → nothing. A source is readable with any registry that
//! lists it. Violations are collected and reported together, not at the first.

#![expect(clippy::unwrap_used, reason = "test set-up fails the test on purpose")]

mod check;
mod model;
mod walk;

use std::collections::BTreeMap;

use poem::http::StatusCode;
use poem::{Response, Route};
use serde_json::{Value, json};
use thv_testkit::kubernetes::KubeStub;
use thv_testkit::oidc::{Idp, TestKey};
use thv_testkit::{
    Loopback, RegistrySpec, Reply, SourceSpec, TestApp, TestServer, WAIT, server_json, wait_until, workspace_root,
};

use check::{Caller, check};
use model::{GIT_PASSWORD, Kind, QUERY_SECRET, SOURCES, URL_PASSWORD, hidden_marks};
use walk::calls;

struct World {
    idp: Idp,
    key: TestKey,
    server: TestServer,
    _kube: KubeStub,
}

fn write_catalogue(app: &TestApp, file: &str, servers: &[&str]) {
    let data: Vec<Value> = servers.iter().map(|n| server_json(n, "1.0.0", &format!("{n} for tests"))).collect();
    app.write_json(file, &Value::Array(data));
}

async fn start_world() -> World {
    let app = TestApp::new();
    let source = |name: &str| SOURCES.iter().find(|s| s.name == name).unwrap();
    for name in ["pub-src", "bravo-src", "orphan-src"] {
        let s = source(name);
        write_catalogue(&app, s.location, s.servers);
    }
    let feed_body =
        Value::Array(source("alpha-src").servers.iter().map(|n| server_json(n, "1.0.0", "served over http")).collect())
            .to_string();
    // The stub behind `alpha-src`: its catalogue, whatever the query.
    let feed = Loopback::bind().await.unwrap();
    let feed_addr = feed.addr;
    feed.serve(Route::new().at(
        source("alpha-src").location,
        poem::endpoint::make_sync(move |_| {
            Response::builder()
                .content_type("application/json")
                .header("etag", "\"alpha-etag\"")
                .body(feed_body.clone())
        }),
    ));
    let git = Loopback::bind().await.unwrap();
    let git_addr = git.addr;
    git.serve(poem::endpoint::make_sync(|_| {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body("no")
    }));
    app.write_bytes("git-password", format!("{GIT_PASSWORD}\n").as_bytes());
    // A cluster with `MCPServer` resources, reached with a bearer token from a kubeconfig.
    let kube = KubeStub::start().await.unwrap();
    let kubeconfig = kube.kubeconfig(app.dir()).unwrap();

    let key = TestKey::ec("every-route").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let alpha = format!("http://urluser:{URL_PASSWORD}@{feed_addr}/alpha-feed.json?token={QUERY_SECRET}");
    let bravo_git =
        SourceSpec::git("bravo-git-src", &format!("http://{git_addr}/bravo-repo.git"), "main", "registry.json")
            .kind_setting("auth", json!({"username": "git-bot", "passwordFile": app.path("git-password")}));
    let app = app
        .file_source("pub-src", "pub-data.json")
        .source(SourceSpec::url("alpha-src", &alpha))
        .file_source("bravo-src", "bravo-data.json")
        .source(bravo_git)
        .file_source("orphan-src", "orphan-data.json")
        .registry(RegistrySpec::new("pub-reg", &["pub-src"]).public())
        .registry(
            RegistrySpec::new("tenant-a-reg", &["alpha-src", "pub-src"])
                .access(json!({"tenant": "a"}))
                .deployed(&["team-a"]),
        )
        .registry(
            RegistrySpec::new("tenant-b-reg", &["bravo-src", "bravo-git-src"])
                .access(json!({"tenant": "b"}))
                .deployed(&["toolhive-system"]),
        )
        .default_registry("tenant-a-reg")
        .kubeconfig(&kubeconfig);
    let provider = json!({"name": "main", "issuerUrl": idp.issuer(), "audience": thv_testkit::oidc::AUDIENCE});
    let app = app.oauth(
        json!({"resourceUrl": "https://registry.test", "providers": [provider]}),
        json!({"superAdmin": [{"groups": "registry-wardens"}]}),
    );
    let server = app.spawn().await.unwrap();
    World { idp, key, server, _kube: kube }
}

/// Waits until every source has finished its first sync (the git one failing), as the
/// super-admin sees it; returns each source's revision.
async fn settled_revisions(server: &TestServer, admin: &str) -> BTreeMap<String, String> {
    let sources = wait_until("every source synced once", WAIT, || async {
        let reply = server.call("GET", "/v1/sources", Some(admin)).await?;
        let body = reply.json()?;
        let list = body["sources"].as_array().cloned().unwrap_or_default();
        let phase = |name: &str| {
            list.iter().find(|s| s["name"] == name).and_then(|s| s["sync"]["phase"].as_str()).unwrap_or("").to_owned()
        };
        let settled = SOURCES.iter().all(|s| {
            let want = if s.name == "bravo-git-src" { "failed" } else { "synced" };
            phase(s.name) == want
        });
        anyhow::ensure!(settled, "not settled yet: {body}");
        Ok(Some(list))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nserver output:\n{}", server.stderr()));
    sources
        .iter()
        .filter_map(|s| {
            let rev = s["sync"]["revision"].as_str().filter(|r| r.len() >= 8)?;
            // As it appears in a JSON body (an ETag revision holds quotes).
            let json = serde_json::to_string(rev).ok()?;
            let rev = json.strip_prefix('"')?.strip_suffix('"')?.to_owned();
            Some((s["name"].as_str()?.to_owned(), rev))
        })
        .collect()
}

#[tokio::test]
async fn no_route_tells_a_caller_about_registries_it_may_not_read_nor_any_secret() {
    let world = start_world().await;
    let s = &world.server;
    let sign = |extra: Value| world.key.sign(&world.idp.claims("walker", &extra)).unwrap();
    let forger = TestKey::ec("every-route").unwrap();
    let callers = [
        Caller {
            label: "super-admin",
            kind: Kind::SuperAdmin,
            token: Some(sign(json!({"groups": ["registry-wardens"]}))),
        },
        Caller { label: "no token", kind: Kind::Anonymous, token: None },
        Caller { label: "tenant A", kind: Kind::Tenant("a"), token: Some(sign(json!({"tenant": "a"}))) },
        Caller {
            label: "invalid token",
            kind: Kind::InvalidToken,
            token: Some(forger.sign(&world.idp.claims("walker", &json!({"groups": ["registry-wardens"]}))).unwrap()),
        },
    ];
    let revisions = settled_revisions(s, callers[0].token.as_deref().unwrap()).await;
    assert!(revisions.contains_key("alpha-src") && revisions.contains_key("bravo-src"), "revisions: {revisions:?}");

    let spec = s.get_json("/openapi.json").await.unwrap();
    let calls = calls(&spec);
    let operations = spec["paths"].as_object().unwrap().values().flat_map(|i| i.as_object().unwrap().keys()).count();
    assert!(operations >= 20, "only {operations} operations in the document");

    let mut violations = Vec::new();
    let mut requests = 0;
    let mut compared = 0;
    for caller in &callers {
        let marks = hidden_marks(caller.kind, &revisions);
        let mut replies: BTreeMap<(&str, String), Reply> = BTreeMap::new();
        for call in &calls {
            let reply = s.call(call.method, &call.path(), caller.token.as_deref()).await.unwrap();
            replies.insert((call.method, call.path()), reply);
            requests += 1;
        }
        for call in &calls {
            let reply = &replies[&(call.method, call.path())];
            let missing = call.as_missing(caller.kind).and_then(|(path, _)| replies.get(&(call.method, path)));
            compared += usize::from(check(caller, call, reply, missing, &marks, &mut violations));
        }
    }
    assert!(requests > 500, "only {requests} requests: the walk lost its routes");
    assert!(compared > 100, "only {compared} replies compared with a missing name's");
    assert!(
        violations.is_empty(),
        "{} violations in {requests} requests:\n{}\n\nserver output:\n{}",
        violations.len(),
        violations.join("\n"),
        s.stderr().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[tokio::test]
async fn the_served_document_is_docs_openapi_yaml() {
    let app = TestApp::new();
    write_catalogue(&app, "one.json", &["io.example/one-tool"]);
    let server = app.file_source("solo", "one.json").spawn().await.unwrap();
    let document = server.get_json("/openapi.json").await.unwrap();
    let committed = std::fs::read_to_string(workspace_root().join("docs/openapi.yaml")).unwrap();
    let committed: Value = serde_norway::from_str(&committed).unwrap();
    assert!(
        document == committed,
        "GET /openapi.json differs from docs/openapi.yaml: run `cargo run -q -p thv-app -- openapi > docs/openapi.yaml`"
    );
}
