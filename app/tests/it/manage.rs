//! The management API (`/v1`) and multi-tenant registries over shared sources, in-process.

use crate::support::server;
use poem::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use thv_testkit::app::names;
use thv_testkit::{InProcess, RegistrySpec, SourceSpec, TestApp};

/// Two sources (`vendor`, toolhive; `team`, upstream with a filter) under three registries.
fn multi_app() -> TestApp {
    let app = TestApp::new().file_source("vendor", "vendor.json");
    let team = SourceSpec::file("team", &app.path("team.json"))
        .format("upstream")
        .interval("10m")
        .filter(json!({"names": {"exclude": ["*/draft-*"]}}));
    app.source(team)
        .registry(RegistrySpec::new("everything", &["team", "vendor"]))
        .registry(
            RegistrySpec::new("databases", &["vendor", "team"]).filter(json!({"tags": {"include": ["database"]}})),
        )
        .registry(
            RegistrySpec::new("acme-only", &["team"])
                .filter(json!({"names": {"include": ["com.acme/*"]}, "tags": {"exclude": ["deprecated"]}})),
        )
        .default_registry("everything")
}

fn tagged(name: &str, version: &str, tags: &[&str]) -> Value {
    let mut s = server(name, version, "d");
    s["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"x": {"y": {"tags": tags}}}});
    s
}

async fn multi() -> InProcess {
    let h = multi_app().in_process().await;
    h.write_json(
        "vendor.json",
        &json!([
            tagged("io.vendor/pg", "1.0.0", &["database"]),
            tagged("com.acme/shared", "9.0.0", &["database"]),
            tagged("io.vendor/files", "1.0.0", &["files"]),
        ]),
    );
    h.write_json(
        "team.json",
        &json!([
            tagged("com.acme/shared", "1.0.0", &["files"]),
            tagged("com.acme/tool", "2.0.0", &["database"]),
            tagged("com.acme/old", "1.0.0", &["deprecated"]),
            tagged("com.acme/draft-x", "0.1.0", &["database"]),
        ]),
    );
    h.sync("vendor").await;
    h.sync("team").await;
    h
}

#[tokio::test]
async fn registries_over_shared_sources_serve_their_own_sets() {
    let h = multi().await;
    let (_, _, everything) = h.get("/v0.1/servers").await;
    assert_eq!(
        names(&everything),
        vec![
            "com.acme/old@1.0.0",
            "com.acme/shared@1.0.0",
            "com.acme/tool@2.0.0",
            "io.vendor/files@1.0.0",
            "io.vendor/pg@1.0.0"
        ],
        "team wins com.acme/shared; the team source filter drops drafts"
    );
    let (_, _, dbs) = h.get("/registry/databases/v0.1/servers").await;
    assert_eq!(
        names(&dbs),
        vec!["com.acme/shared@9.0.0", "com.acme/tool@2.0.0", "io.vendor/pg@1.0.0"],
        "vendor wins com.acme/shared here, and only database-tagged servers pass"
    );
    let (_, _, acme) = h.get("/registry/acme-only/v0.1/servers").await;
    assert_eq!(names(&acme), vec!["com.acme/shared@1.0.0", "com.acme/tool@2.0.0"]);
    let (status, _, _) = h.get("/registry/acme-only/v0.1/servers/io.vendor%2Fpg/versions").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a registry never leaks servers its filter excludes");
}

#[tokio::test]
async fn registries_and_sources_are_listed_with_their_status() {
    let h = multi().await;
    let (status, _, body) = h.get("/v1/registries").await;
    assert_eq!(status, StatusCode::OK);
    let regs = body["registries"].as_array().unwrap();
    let names: Vec<&str> = regs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["acme-only", "databases", "everything"]);
    let everything = &regs[2];
    assert_eq!(everything["default"], json!(true));
    assert_eq!(everything["sources"], json!(["team", "vendor"]));
    assert_eq!((everything["serverCount"].as_u64(), everything["ready"].as_bool()), (Some(5), Some(true)));
    assert_eq!(everything["apiPath"], json!("/registry/everything/v0.1"));
    assert_eq!(regs[1]["filter"]["tags"]["include"], json!(["database"]));

    let (status, _, one) = h.get("/v1/registries/databases").await;
    assert_eq!((status, &one), (StatusCode::OK, &regs[1]));
    let (status, _, missing) = h.get("/v1/registries/nope").await;
    assert_eq!((status, missing["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));

    let (status, _, body) = h.get("/v1/sources").await;
    assert_eq!(status, StatusCode::OK);
    let team = body["sources"].as_array().unwrap().iter().find(|s| s["name"] == json!("team")).unwrap().clone();
    assert_eq!(team["type"], json!("file"));
    assert_eq!(team["format"], json!("upstream"));
    assert_eq!(team["interval"], json!("10m0s"));
    assert_eq!(team["registries"], json!(["acme-only", "databases", "everything"]));
    assert_eq!(team["entryCount"], json!(3));
    assert_eq!(team["sync"]["phase"], json!("synced"));
    assert_eq!(team["sync"]["serverCount"], json!(3));
    assert!(team["sync"]["revision"].as_str().unwrap().starts_with("sha256:"));
    assert!(team["sync"]["lastSyncTime"].is_string());
    let (status, _, one) = h.get("/v1/sources/team").await;
    assert_eq!((status, one), (StatusCode::OK, team));
    let (status, _, _) = h.get("/v1/sources/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sync_can_be_triggered() {
    let h = multi().await;
    h.write_json("vendor.json", &json!([tagged("io.vendor/new", "1.0.0", &["database"])]));
    let (status, _, body) = h.post("/v1/sources/vendor/sync").await;
    assert_eq!((status, body), (StatusCode::ACCEPTED, json!({"source": "vendor", "message": "sync started"})));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, _, body) = h.get("/registry/databases/v0.1/servers").await;
        if names(&body).contains(&"io.vendor/new@1.0.0".to_owned()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the triggered sync never landed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _, _) = h.post("/v1/sources/nope/sync").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = h.get("/v1/sources/vendor/sync").await;
    assert_eq!((status, body["status"].as_u64()), (StatusCode::METHOD_NOT_ALLOWED, Some(405)));
}

/// `oauth` mode with `/v1/me` made public: no provider is reachable, and none is needed, since no
/// request here sends a token.
fn oauth_app() -> TestApp {
    TestApp::new().file_source("team", "team.json").set(
        "auth",
        json!({
            "mode": "oauth",
            "publicPaths": ["/health", "/v1/me"],
            "oauth": {
                "resourceUrl": "https://registry.test",
                "providers": [{"name": "main", "issuerUrl": "https://idp.test", "audience": "registry"}],
            },
        }),
    )
}

/// Status, headers and the body's exact bytes, from the real route tree under `auth`.
#[expect(clippy::unwrap_used, reason = "a test helper fails the test on purpose")]
async fn raw(h: &InProcess, auth: thv_app::http::auth::Auth, req: poem::Request) -> (StatusCode, HeaderMap, String) {
    use poem::Endpoint as _;
    let app = thv_app::http::app_with(
        h.catalog.clone(),
        thv_app::http::deployed::DeploymentsSource::NotConfigured,
        h.config.http,
        auth,
    );
    let resp = app.call(req).await.map_or_else(poem::Error::into_response, poem::IntoResponse::into_response);
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.into_body().into_string().await.unwrap())
}

const TOKEN_REQUIRED_BODY: &str =
    r#"{"title":"Unauthorized","status":401,"detail":"authentication required: send `Authorization: Bearer <token>`"}"#;
const CHALLENGE: &str =
    r#"Bearer realm="mcp-registry", resource_metadata="https://registry.test/.well-known/oauth-protected-resource""#;

#[tokio::test]
async fn in_oauth_mode_v1_answers_a_caller_without_a_token_as_it_always_did() {
    let h = oauth_app().in_process().await;
    let oauth = || thv_app::http::auth::Auth::new(h.config.auth.clone(), None);
    // Refused by authentication before any handler: the challenge names the protected resource.
    for (method, path) in [
        (Method::GET, "/v1/registries"),
        (Method::GET, "/v1/registries/team"),
        (Method::GET, "/v1/sources"),
        (Method::GET, "/v1/sources/team"),
        (Method::POST, "/v1/sources/team/sync"),
    ] {
        let req = poem::Request::builder().method(method.clone()).uri_str(path).finish();
        let (status, headers, body) = raw(&h, oauth(), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(body, TOKEN_REQUIRED_BODY, "{method} {path}");
        assert_eq!(headers["content-type"], "application/problem+json", "{method} {path}");
        assert_eq!(headers["www-authenticate"], CHALLENGE, "{method} {path}");
        assert_eq!(headers["vary"], "Authorization", "{method} {path}");
    }
    // A malformed `Authorization` header is refused by authentication too, naming the error.
    let req = poem::Request::builder().uri_str("/v1/sources").header("authorization", "Basic x").finish();
    let (status, headers, body) = raw(&h, oauth(), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        r#"{"title":"Unauthorized","status":401,"detail":"the Authorization header must be `Bearer <token>`"}"#
    );
    assert_eq!(
        headers["www-authenticate"],
        concat!(
            r#"Bearer realm="mcp-registry", error="invalid_request", error_description="the Authorization header must be `Bearer <token>`", "#,
            r#"resource_metadata="https://registry.test/.well-known/oauth-protected-resource""#
        )
    );
    // A public `/v1` path is not looked at by authentication: the operation itself refuses a
    // caller without a token, with the same problem and no challenge.
    let (status, headers, body) = raw(&h, oauth(), poem::Request::builder().uri_str("/v1/me").finish()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, TOKEN_REQUIRED_BODY);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(!headers.contains_key("www-authenticate"), "{headers:?}");
    // In `anonymous` mode `/v1` is open without a token.
    let anonymous = thv_app::http::auth::Auth::anonymous();
    let (status, _, body) = raw(&h, anonymous, poem::Request::builder().uri_str("/v1/me").finish()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((me["authenticated"].as_bool(), me["registries"].clone()), (Some(false), json!(["team"])));
}
