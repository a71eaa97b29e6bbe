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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use poem::http::StatusCode;
use poem::{Response, Route};
use serde_json::{Value, json};
use thv_testkit::kubernetes::{KUBE_TOKEN, KubeStub};
use thv_testkit::oidc::{AUDIENCE, Idp, TestKey};
use thv_testkit::{Loopback, Reply, TestServer, WAIT, enc, server_json, wait_until, workspace_root, write_config};

const QUERY_SECRET: &str = "S3cr3tQueryValue";
const URL_PASSWORD: &str = "S3cr3tPassw0rd";
const GIT_PASSWORD: &str = "S3cr3tGitPassw0rd";
/// Every configured secret: none may appear in any response, whoever asks.
const SECRETS: &[&str] = &[QUERY_SECRET, URL_PASSWORD, GIT_PASSWORD, KUBE_TOKEN];

const MISSING_REGISTRY: &str = "absent-reg";
const MISSING_SOURCE: &str = "absent-src";
const MISSING_SERVER: &str = "io.example/absent-tool";

/// A configured source: its servers and a distinctive part of its location.
struct Source {
    name: &'static str,
    servers: &'static [&'static str],
    location: &'static str,
}

const SOURCES: &[Source] = &[
    Source { name: "pub-src", servers: &["io.example/pub-tool"], location: "pub-data.json" },
    // A file over http whose URL carries a query token and userinfo.
    Source { name: "alpha-src", servers: &["io.example/alpha-tool"], location: "/alpha-feed.json" },
    Source { name: "bravo-src", servers: &["io.example/bravo-tool"], location: "bravo-data.json" },
    // A git repository that refuses every request: its sync fails, with a password configured.
    Source { name: "bravo-git-src", servers: &[], location: "bravo-repo.git" },
    // In no registry: only a super-admin may know of it.
    Source { name: "orphan-src", servers: &["io.example/orphan-tool"], location: "orphan-data.json" },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Tenant(&'static str),
}

struct Registry {
    name: &'static str,
    sources: &'static [&'static str],
    access: Access,
    /// Images of the deployed servers it lists (its `deployed.namespaces` of the stub cluster).
    deployed: &'static [&'static str],
}

/// `tenant-a-reg` is the default registry, served at the root paths too.
const REGISTRIES: &[Registry] = &[
    Registry { name: "pub-reg", sources: &["pub-src"], access: Access::Public, deployed: &[] },
    Registry {
        name: "tenant-a-reg",
        sources: &["alpha-src", "pub-src"],
        access: Access::Tenant("a"),
        deployed: &["ghcr.io/github/github-mcp-server", "ghcr.io/stackloklabs/osv-mcp/server"],
    },
    Registry {
        name: "tenant-b-reg",
        sources: &["bravo-src", "bravo-git-src"],
        access: Access::Tenant("b"),
        deployed: &["ghcr.io/stackloklabs/gofetch/server"],
    },
];

/// A kind of caller, and what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anonymous,
    Tenant(&'static str),
    SuperAdmin,
    InvalidToken,
}

impl Kind {
    fn reads_registry(self, registry: &Registry) -> bool {
        match (self, registry.access) {
            (Self::InvalidToken, _) | (Self::Anonymous, Access::Tenant(_)) => false,
            (Self::SuperAdmin, _) | (_, Access::Public) => true,
            (Self::Tenant(mine), Access::Tenant(theirs)) => mine == theirs,
        }
    }

    fn reads_registry_named(self, name: &str) -> bool {
        REGISTRIES.iter().any(|r| r.name == name && self.reads_registry(r))
    }

    fn reads_source(self, name: &str) -> bool {
        self == Self::SuperAdmin || REGISTRIES.iter().any(|r| self.reads_registry(r) && r.sources.contains(&name))
    }
}

/// Text that must not reach a caller, and what it is.
struct Mark {
    text: String,
    what: String,
}

/// Everything a caller of `kind` may not see: names of unreadable registries; names, servers,
/// locations and revisions of unreadable sources.
fn hidden_marks(kind: Kind, revisions: &BTreeMap<String, String>) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut add = |text: String, what: String| marks.push(Mark { text, what });
    for r in REGISTRIES.iter().filter(|r| !kind.reads_registry(r)) {
        add(r.name.to_owned(), format!("the name of registry {}", r.name));
        for image in r.deployed {
            add((*image).to_owned(), format!("deployed server {image} of registry {}", r.name));
        }
    }
    for s in SOURCES.iter().filter(|s| !kind.reads_source(s.name)) {
        add(s.name.to_owned(), format!("the name of source {}", s.name));
        add(s.location.to_owned(), format!("the location of source {}", s.name));
        for server in s.servers {
            add((*server).to_owned(), format!("server {server} of source {}", s.name));
            add(enc(server), format!("server {server} of source {} (encoded)", s.name));
        }
        if let Some(rev) = revisions.get(s.name) {
            add(rev.clone(), format!("the revision of source {}", s.name));
        }
    }
    marks
}

/// What a path parameter was filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Registry(&'static str),
    Source(&'static str),
    /// A server, by the source it comes from.
    Server(&'static str),
    /// A name that exists nowhere: what a hidden one is compared with.
    Missing,
    Neutral,
}

#[derive(Debug, Clone)]
struct Fill {
    text: String,
    subject: Subject,
    /// The `Missing` fill of the same parameter.
    missing: &'static str,
}

impl Fill {
    fn hidden_to(&self, kind: Kind) -> bool {
        match self.subject {
            Subject::Registry(r) => !kind.reads_registry_named(r),
            Subject::Source(s) | Subject::Server(s) => !kind.reads_source(s),
            Subject::Missing | Subject::Neutral => false,
        }
    }
}

fn fill(text: &str, subject: Subject, missing: &'static str) -> Fill {
    Fill { text: text.to_owned(), subject, missing }
}

/// Every value a path parameter is filled with. A parameter this test does not know fails it:
/// teach it the new parameter.
fn fills(template: &str, param: &str) -> Vec<Fill> {
    let registries = || {
        let mut v: Vec<Fill> =
            REGISTRIES.iter().map(|r| fill(r.name, Subject::Registry(r.name), MISSING_REGISTRY)).collect();
        v.push(fill(MISSING_REGISTRY, Subject::Missing, MISSING_REGISTRY));
        v
    };
    let sources = || {
        let mut v: Vec<Fill> = SOURCES.iter().map(|s| fill(s.name, Subject::Source(s.name), MISSING_SOURCE)).collect();
        v.push(fill(MISSING_SOURCE, Subject::Missing, MISSING_SOURCE));
        v
    };
    let servers = || {
        let mut v: Vec<Fill> = SOURCES
            .iter()
            .flat_map(|s| s.servers.iter().map(|n| fill(n, Subject::Server(s.name), MISSING_SERVER)))
            .collect();
        v.push(fill(MISSING_SERVER, Subject::Missing, MISSING_SERVER));
        v
    };
    match param {
        "registry" => registries(),
        "name" if template.starts_with("/v1/registries/") => registries(),
        "name" if template.starts_with("/v1/sources/") => sources(),
        // Deployed servers (the stub cluster's `MCPServer` resources): github in tenant-a-reg's
        // namespace, fetch in tenant-b-reg's (what leaks of them is checked by image).
        "name" if template.contains("/deployed/") => {
            ["github", "fetch", "absent-deployment"].into_iter().map(|n| fill(n, Subject::Neutral, n)).collect()
        }
        "name" | "serverName" => servers(),
        "version" => vec![fill("1.0.0", Subject::Neutral, "1.0.0"), fill("latest", Subject::Neutral, "latest")],
        other => panic!("path parameter `{other}` of {template}: no values for it; add them to `fills`"),
    }
}

/// A concrete request of the walk.
#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    template: String,
    fills: Vec<Fill>,
}

impl Call {
    fn path_with(&self, fills: &[Fill]) -> String {
        let mut out = String::new();
        let mut rest = self.template.as_str();
        let mut values = fills.iter();
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').unwrap() + start;
            out.push_str(&rest[..start]);
            out.push_str(&enc(&values.next().unwrap().text));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn path(&self) -> String {
        self.path_with(&self.fills)
    }

    /// The same request with every fill hidden to `kind` replaced by a missing name.
    fn as_missing(&self, kind: Kind) -> Option<(String, Vec<(String, String)>)> {
        let mut swaps = Vec::new();
        let fills: Vec<Fill> = self
            .fills
            .iter()
            .map(|f| {
                if f.hidden_to(kind) {
                    swaps.push((f.text.clone(), f.missing.to_owned()));
                    fill(f.missing, Subject::Missing, f.missing)
                } else {
                    f.clone()
                }
            })
            .collect();
        (!swaps.is_empty()).then(|| (self.path_with(&fills), swaps))
    }
}

/// Every call the walk makes: each operation of the document with every filling of its path
/// parameters (`/v0.1/…` paths also under `/v0/…`), and the routes outside the document.
fn calls(spec: &Value) -> Vec<Call> {
    let mut templates: BTreeSet<(&'static str, String)> = BTreeSet::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, key) in [("GET", "get"), ("POST", "post")] {
            let Some(op) = item.get(key) else { continue };
            if op.get("requestBody").is_some() {
                continue;
            }
            templates.insert((method, template.clone()));
            if template.contains("/v0.1/") {
                templates.insert((method, template.replacen("/v0.1/", "/v0/", 1)));
            }
        }
    }
    for path in ["/metrics", "/docs", "/openapi.json", "/openapi.yaml", "/.well-known/oauth-protected-resource"] {
        templates.insert(("GET", path.to_owned()));
    }
    templates.insert(("GET", "/readiness".to_owned()));
    templates.insert(("GET", "/no/such/route".to_owned()));

    let mut calls = Vec::new();
    for (method, template) in templates {
        let params: Vec<&str> = template.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
        let mut product: Vec<Vec<Fill>> = vec![Vec::new()];
        for param in params {
            product = product
                .into_iter()
                .flat_map(|prefix| {
                    fills(&template, param).into_iter().map(move |f| {
                        let mut next = prefix.clone();
                        next.push(f);
                        next
                    })
                })
                .collect();
        }
        calls.extend(product.into_iter().map(|fills| Call { method, template: template.clone(), fills }));
    }
    calls
}

/// Headers and body of a reply as one text to search.
fn reply_text(reply: &Reply) -> String {
    let mut text = String::new();
    for (name, value) in &reply.headers {
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&reply.body);
    text
}

struct Caller {
    label: &'static str,
    kind: Kind,
    token: Option<String>,
}

/// The checks on one reply; violations are appended to `out`. Returns whether the reply was
/// compared with the one for a missing name.
fn check(
    caller: &Caller,
    call: &Call,
    reply: &Reply,
    missing: Option<&Reply>,
    marks: &[Mark],
    out: &mut Vec<String>,
) -> bool {
    let at = format!("{} {} as {}", call.method, call.path(), caller.label);
    let text = reply_text(reply);
    // What the caller sent itself may come back (compared with a missing name below).
    let sent: BTreeSet<String> = call.fills.iter().flat_map(|f| [f.text.clone(), enc(&f.text)]).collect();
    for mark in marks.iter().filter(|m| !sent.contains(&m.text)) {
        if text.contains(&mark.text) {
            out.push(format!("{at} ({}): leaks {} (`{}`)", reply.status, mark.what, mark.text));
        }
    }
    for secret in SECRETS {
        if text.contains(secret) {
            out.push(format!("{at} ({}): leaks the configured secret `{secret}`", reply.status));
        }
    }
    let deployed_off = reply.status == 501 && call.template.contains("deployed");
    if reply.status >= 500 && !deployed_off && call.template != "/readiness" {
        out.push(format!("{at}: server error {}: {}", reply.status, reply.body));
    }
    let (Some(missing), Some((missing_path, swaps))) = (missing, call.as_missing(caller.kind)) else { return false };
    {
        let mut body = reply.body.clone();
        for (hidden, absent) in &swaps {
            body = body.replace(hidden.as_str(), absent).replace(&enc(hidden), &enc(absent));
        }
        if reply.status != missing.status || body != missing.body || reply.content_type() != missing.content_type() {
            out.push(format!(
                "{at}: tells a hidden name exists: {} {} but {missing_path} (missing) answers {} {}",
                reply.status, reply.body, missing.status, missing.body
            ));
        }
    }
    true
}

struct World {
    _dir: tempfile::TempDir,
    idp: Idp,
    key: TestKey,
    server: TestServer,
}

fn write_catalogue(dir: &Path, file: &str, servers: &[&str]) {
    let data: Vec<Value> = servers.iter().map(|n| server_json(n, "1.0.0", &format!("{n} for tests"))).collect();
    std::fs::write(dir.join(file), Value::Array(data).to_string()).unwrap();
}

async fn start_world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let source = |name: &str| SOURCES.iter().find(|s| s.name == name).unwrap();
    for name in ["pub-src", "bravo-src", "orphan-src"] {
        let s = source(name);
        write_catalogue(dir.path(), s.location, s.servers);
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
    std::fs::write(dir.path().join("git-password"), format!("{GIT_PASSWORD}\n")).unwrap();
    // A cluster with `MCPServer` resources, reached with a bearer token from a kubeconfig.
    let kube = KubeStub::start().await.unwrap();
    kube.kubeconfig(dir.path()).unwrap();

    let key = TestKey::ec("every-route").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let p = |f: &str| serde_json::to_string(dir.path().join(f).to_str().unwrap()).unwrap();
    let yaml = format!(
        r#"defaultRegistry: tenant-a-reg
sources:
  - name: pub-src
    file: {{path: {pub_file}}}
  - name: alpha-src
    file: {{url: "http://urluser:{URL_PASSWORD}@{feed_addr}/alpha-feed.json?token={QUERY_SECRET}"}}
  - name: bravo-src
    file: {{path: {bravo_file}}}
  - name: bravo-git-src
    git:
      repository: "http://{git_addr}/bravo-repo.git"
      branch: main
      auth: {{username: git-bot, passwordFile: {password_file}}}
  - name: orphan-src
    file: {{path: {orphan_file}}}
registries:
  - name: pub-reg
    sources: [pub-src]
    access: public
  - name: tenant-a-reg
    sources: [alpha-src, pub-src]
    access: {{tenant: a}}
    deployed: {{namespaces: [team-a]}}
  - name: tenant-b-reg
    sources: [bravo-src, bravo-git-src]
    access: {{tenant: b}}
    deployed: {{namespaces: [toolhive-system]}}
kubernetes:
  kubeconfig: {kubeconfig_file}
auth:
  mode: oauth
  oauth:
    resourceUrl: https://registry.test
    providers:
      - name: main
        issuerUrl: {issuer}
        audience: {AUDIENCE}
  authz:
    roles:
      superAdmin: [{{groups: registry-wardens}}]
"#,
        pub_file = p("pub-data.json"),
        bravo_file = p("bravo-data.json"),
        orphan_file = p("orphan-data.json"),
        password_file = p("git-password"),
        kubeconfig_file = p("kubeconfig"),
        issuer = idp.issuer(),
    );
    let config = write_config(dir.path(), &yaml).unwrap();
    let server = TestServer::start(&config, &[]).await.unwrap();
    World { _dir: dir, idp, key, server }
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
    let dir = tempfile::tempdir().unwrap();
    write_catalogue(dir.path(), "one.json", &["io.example/one-tool"]);
    let file = serde_json::to_string(dir.path().join("one.json").to_str().unwrap()).unwrap();
    let config = write_config(dir.path(), &format!("registryName: solo\nsource:\n  file: {{path: {file}}}\n")).unwrap();
    let server = TestServer::start(&config, &[]).await.unwrap();
    let document = server.get_json("/openapi.json").await.unwrap();
    let committed = std::fs::read_to_string(workspace_root().join("docs/openapi.yaml")).unwrap();
    let committed: Value = serde_norway::from_str(&committed).unwrap();
    assert!(
        document == committed,
        "GET /openapi.json differs from docs/openapi.yaml: run `cargo run -q -p thv-app -- openapi > docs/openapi.yaml`"
    );
}
