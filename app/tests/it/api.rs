//! The read API in-process, on the real route tree: paths, prefixes, caching headers, errors.

use crate::support::server;
use poem::http::StatusCode;
use serde_json::json;
use thv_testkit::app::names;
use thv_testkit::{InProcess, RegistrySpec, SourceSpec, TestApp, official};

/// One file source, `reg` (`servers.json`), and its registry.
fn single() -> TestApp {
    TestApp::new().file_source("reg", "servers.json")
}

async fn seeded() -> InProcess {
    let h = single().in_process().await;
    h.write_json(
        "servers.json",
        &json!([
            server("io.github.acme/weather", "1.0.0", "Weather"),
            server("io.github.acme/weather", "1.1.0+build.7", "Weather"),
            server("com.example/files", "0.1.0", "Files"),
        ]),
    );
    h.sync("reg").await;
    h
}

#[tokio::test]
async fn every_prefix_serves_the_same_registry() {
    let h = seeded().await;
    let (_, _, root) = h.get("/v0.1/servers").await;
    assert_eq!(
        names(&root),
        vec!["com.example/files@0.1.0", "io.github.acme/weather@1.0.0", "io.github.acme/weather@1.1.0+build.7"]
    );
    for path in ["/v0/servers", "/registry/reg/v0.1/servers", "/registry/reg/v0/servers"] {
        let (status, _, body) = h.get(path).await;
        assert_eq!((status, &body), (StatusCode::OK, &root), "{path}");
    }
}

#[tokio::test]
async fn server_names_arrive_encoded_or_not_and_versions_with_plus() {
    let h = seeded().await;
    for path in [
        "/v0.1/servers/io.github.acme%2Fweather/versions",
        "/v0.1/servers/io.github.acme%2fweather/versions",
        "/v0.1/servers/io.github.acme/weather/versions",
        "/v0/servers/io.github.acme/weather/versions",
        "/registry/reg/v0/servers/io.github.acme/weather/versions",
    ] {
        let (status, _, body) = h.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["metadata"]["count"], json!(2), "{path}");
    }
    let (status, _, body) = h.get("/v0.1/servers/io.github.acme%2Fweather/versions/1.1.0%2Bbuild.7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["server"]["version"], json!("1.1.0+build.7"));
    let (_, _, latest) = h.get("/v0.1/servers/io.github.acme/weather/versions/latest").await;
    assert_eq!(latest["server"]["version"], json!("1.1.0+build.7"));
    assert_eq!(official(&latest)["isLatest"], json!(true));
}

/// Reads of a public registry may be cached by anyone for `http.cacheMaxAge` (default 30 s, as
/// the official registry's ingress does); 304s say the same. Errors and writes carry no such header.
#[tokio::test]
async fn public_reads_carry_cache_control() {
    let h = seeded().await;
    let cache = |headers: &poem::http::HeaderMap| headers.get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    for path in
        ["/v0.1/servers", "/v0.1/servers/io.github.acme%2Fweather/versions", "/v0/servers/io.github.acme/weather"]
    {
        let (status, headers, _) = h.get(path).await;
        assert_eq!((status, cache(&headers).as_deref()), (StatusCode::OK, Some("public, max-age=30")), "{path}");
        let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
        let (status, headers, _) = h.get_with(path, &[("if-none-match", &etag)]).await;
        assert_eq!(
            (status, cache(&headers).as_deref()),
            (StatusCode::NOT_MODIFIED, Some("public, max-age=30")),
            "{path}"
        );
    }
    let (status, headers, _) = h.get("/v0/servers/io.github.acme/nope").await;
    assert_eq!((status, cache(&headers)), (StatusCode::NOT_FOUND, None));

    let longer = single().set("http", json!({"cacheMaxAge": "5m"})).in_process().await;
    let (_, headers, _) = longer.get("/v0.1/servers").await;
    assert_eq!(cache(&headers).as_deref(), Some("public, max-age=300"));
}

/// `GET /v0/servers/{name}`, as third-party clients of the official registry call it: the latest
/// version, the name encoded or with a raw `/`, at the root and per registry.
#[tokio::test]
async fn a_server_by_name_is_its_latest_version() {
    let h = seeded().await;
    let (_, _, latest) = h.get("/v0.1/servers/io.github.acme%2Fweather/versions/latest").await;
    for path in [
        "/v0/servers/io.github.acme%2Fweather",
        "/v0.1/servers/io.github.acme%2Fweather",
        "/v0/servers/io.github.acme/weather",
        "/v0.1/servers/io.github.acme/weather",
        "/registry/reg/v0/servers/io.github.acme/weather",
        "/registry/reg/v0.1/servers/io.github.acme%2Fweather",
    ] {
        let (status, _, body) = h.get(path).await;
        assert_eq!((status, &body), (StatusCode::OK, &latest), "{path}");
    }
    let (status, _, missing) = h.get("/v0/servers/io.github.acme/nope").await;
    assert_eq!((status, missing["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Server not found")));
    let (status, _, _) = h.get("/v0/servers/no-slash").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a namespace/name");
}

#[tokio::test]
async fn legacy_paths_serve_latest_versions() {
    let h = seeded().await;
    let (status, _, body) = h.get("/api/v0/servers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), vec!["com.example/files@0.1.0", "io.github.acme/weather@1.1.0+build.7"]);
    for path in ["/api/v0/servers/io.github.acme%2Fweather", "/api/v0/servers/io.github.acme/weather"] {
        let (status, _, body) = h.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["server"]["version"], json!("1.1.0+build.7"));
    }
    let (status, _, body) = h.get("/api/v0/servers/io.github.acme%2Fnope").await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Server not found")));
}

#[tokio::test]
async fn etags_revalidate_and_change_with_the_data() {
    let h = seeded().await;
    let (status, headers, _) = h.get("/v0.1/servers?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let (status, headers, body) = h.get_with("/v0.1/servers?limit=2", &[("if-none-match", &etag)]).await;
    assert_eq!((status, body), (StatusCode::NOT_MODIFIED, serde_json::Value::Null));
    assert_eq!(headers.get("etag").unwrap().to_str().unwrap(), etag);
    let (status, other, _) = h.get("/v0.1/servers?limit=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(other.get("etag").unwrap().to_str().unwrap(), etag);
    let (status, _, _) = h.get_with("/v0.1/servers?limit=2", &[("if-none-match", "\"other\", *")]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    h.write_json("servers.json", &json!([server("com.example/files", "0.1.0", "Files, changed")]));
    h.clock.advance(chrono::Duration::minutes(1));
    h.sync("reg").await;
    let (status, headers, _) = h.get_with("/v0.1/servers?limit=2", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(headers.get("etag").unwrap().to_str().unwrap(), etag);
}

#[tokio::test]
async fn if_none_match_star_is_a_304_only_for_what_exists() {
    let h = seeded().await;
    let star = [("if-none-match", "*")];
    // RFC 9110 13.1.2: `*` matches when a current representation exists; else the request
    // goes on as without the header.
    for path in [
        "/v0.1/servers",
        "/v0.1/servers/io.github.acme%2Fweather/versions",
        "/v0.1/servers/io.github.acme%2Fweather/versions/1.0.0",
        "/v0.1/servers/io.github.acme%2Fweather/versions/latest",
        "/registry/reg/v0.1/servers/com.example%2Ffiles/versions",
        "/api/v0/servers/io.github.acme%2Fweather",
    ] {
        let (status, headers, _) = h.get_with(path, &star).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(headers.get("etag").is_some(), "{path}");
    }
    for (path, detail) in [
        ("/v0.1/servers/io.github.acme%2Fnope/versions", "Server not found"),
        ("/v0.1/servers/io.github.acme%2Fnope/versions/1.0.0", "Server not found"),
        ("/v0.1/servers/io.github.acme%2Fnope/versions/latest", "Server not found"),
        ("/v0.1/servers/io.github.acme%2Fweather/versions/9.9.9", "Server version not found"),
        ("/v0/servers/io.github.acme%2Fweather/versions/9.9.9", "Server version not found"),
        ("/api/v0/servers/io.github.acme%2Fnope", "Server not found"),
        ("/registry/nope/v0.1/servers", "Registry not found"),
        ("/registry/nope/v0.1/servers/io.github.acme%2Fweather/versions", "Registry not found"),
        ("/registry/nope/v0.1/servers/io.github.acme%2Fweather/versions/1.0.0", "Registry not found"),
    ] {
        let (status, headers, body) = h.get_with(path, &star).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().starts_with(detail), "{path}: {body}");
        assert!(headers.get("etag").is_none(), "{path}");
    }
}

#[tokio::test]
async fn without_the_page_cache_listings_and_etags_are_the_same() {
    let cached = seeded().await;
    let uncached = single().set("http", json!({"pageCacheBytes": 0})).in_process().await;
    assert_eq!(uncached.config.http.page_cache_bytes, 0);
    uncached.write_json(
        "servers.json",
        &serde_json::from_slice(&std::fs::read(cached.path("servers.json")).unwrap()).unwrap(),
    );
    uncached.sync("reg").await;
    for path in ["/v0.1/servers", "/v0.1/servers?limit=1", "/v0.1/servers?search=weather&version=latest", "/v0/servers"]
    {
        let (status, headers, body) = uncached.get(path).await;
        let (_, cached_headers, cached_body) = cached.get(path).await;
        assert_eq!((status, &body), (StatusCode::OK, &cached_body), "{path}");
        let etag = headers.get("etag").unwrap();
        assert_eq!(etag, cached_headers.get("etag").unwrap(), "{path}");
        let (status, _, _) = uncached.get_with(path, &[("if-none-match", etag.to_str().unwrap())]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
    }
    let (_, _, first) = uncached.get("/v0.1/servers?limit=1").await;
    let cursor = first["metadata"]["nextCursor"].as_str().unwrap().to_owned();
    let (status, _, next) = uncached.get(&format!("/v0.1/servers?limit=1&cursor={cursor}")).await;
    assert_eq!((status, names(&next)), (StatusCode::OK, vec!["io.github.acme/weather@1.0.0".to_owned()]));
}

#[tokio::test]
async fn errors_are_problem_json_never_5xx() {
    let h = seeded().await;
    let cases = [
        ("/v0.1/servers?limit=0", 422, Some("query.limit")),
        ("/v0.1/servers?limit=101", 422, Some("query.limit")),
        ("/v0.1/servers?limit=abc", 422, Some("query.limit")),
        ("/v0.1/servers?limit=99999999999999999999", 422, Some("query.limit")),
        ("/v0.1/servers?include_deleted=yes", 422, Some("query.include_deleted")),
        ("/v0.1/servers?cursor=%00%ff", 400, Some("query.cursor")),
        ("/v0.1/servers?updated_since=yesterday", 400, Some("query.updated_since")),
        ("/v0.1/servers?updated_since=2025-01-01T00:00:00Z&include_deleted=false", 400, Some("query.include_deleted")),
        ("/registry/nope/v0.1/servers", 404, None),
        ("/registry/NOPE/v0.1/servers", 404, None),
        ("/v0.1/servers/no-slash/versions", 400, Some("path.serverName")),
        ("/v0.1/servers/a%2Fb%2Fc/versions/1.0.0", 400, Some("path.serverName")),
        ("/v0.1/servers/io.github.acme%2Fnope/versions", 404, None),
        ("/v0.1/servers/io.github.acme%2Fweather/versions/9.9.9", 404, None),
        ("/v0.1/nope", 404, None),
        ("/", 404, None),
    ];
    for (path, status, location) in cases {
        let (got, headers, body) = h.get(path).await;
        assert_eq!(got.as_u16(), status, "{path}: {body}");
        assert!(
            headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/problem+json"),
            "{path}"
        );
        assert_eq!(body["status"], json!(status), "{path}");
        assert!(body["title"].is_string() && body["detail"].is_string(), "{path}");
        if let Some(loc) = location {
            assert_eq!(body["errors"][0]["location"], json!(loc), "{path}: {body}");
        }
    }
    let (_, _, body) = h.get("/v0.1/servers/io.github.acme%2Fweather/versions/9.9.9").await;
    assert_eq!(body["detail"], json!("Server version not found"));
}

#[tokio::test]
async fn without_a_default_registry_the_root_says_where_to_go() {
    let h = TestApp::new()
        .file_source("a", "a.json")
        .registry(RegistrySpec::new("one", &["a"]))
        .registry(RegistrySpec::new("two", &["a"]))
        .in_process()
        .await;
    h.write_json("a.json", &json!([server("x.y/z", "1", "d")]));
    h.sync("a").await;
    let (status, _, body) = h.get("/v0.1/servers").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].as_str().unwrap().contains("one, two"), "{body}");
    let (status, _, body) = h.get("/registry/two/v0.1/servers").await;
    assert_eq!((status, names(&body)), (StatusCode::OK, vec!["x.y/z@1".to_owned()]));
}

#[tokio::test]
async fn registries_merge_sources_in_order_and_filter_on_top() {
    let app = TestApp::new().file_source("first", "first.json");
    let second =
        SourceSpec::file("second", &app.path("second.json")).filter(json!({"names": {"exclude": ["*/secret"]}}));
    let h = app
        .source(second)
        .registry(RegistrySpec::new("all", &["first", "second"]))
        .registry(RegistrySpec::new("reversed", &["second", "first"]).filter(json!({"names": {"include": ["io.*"]}})))
        .default_registry("all")
        .in_process()
        .await;
    h.write_json(
        "first.json",
        &json!([server("io.a/shared", "1.0.0", "from first"), server("com.b/only-first", "1", "d")]),
    );
    h.write_json(
        "second.json",
        &json!([
            server("io.a/shared", "2.0.0", "from second"),
            server("io.a/only-second", "1", "d"),
            server("io.a/secret", "1", "d")
        ]),
    );
    h.sync("first").await;
    h.sync("second").await;
    let (_, _, all) = h.get("/v0.1/servers").await;
    assert_eq!(names(&all), vec!["com.b/only-first@1", "io.a/only-second@1", "io.a/shared@1.0.0"]);
    let (_, _, rev) = h.get("/registry/reversed/v0.1/servers").await;
    assert_eq!(names(&rev), vec!["io.a/only-second@1", "io.a/shared@2.0.0"]);
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
    assert!(
        committed == thv_app::http::spec_yaml(),
        "docs/openapi.yaml is out of date: run `cargo run -p thv-app -- openapi > docs/openapi.yaml` and commit it"
    );
    let h = seeded().await;
    let (status, _, spec) = h.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/v0.1/servers", "/registry/{registry}/v0.1/servers/{serverName}/versions/{version}", "/readiness"] {
        assert!(spec["paths"][path].is_object(), "{path}");
    }
}
