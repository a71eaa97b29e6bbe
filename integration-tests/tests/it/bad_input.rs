//! Bad input gets the right 4xx as RFC 9457 problem details; nothing yields a 5xx.

// Test helpers panic on failure, like the tests calling them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use thv_testkit::{TestServer, workspace_root};

/// (path and query, expected status, expected `errors[0].location`).
type Case = (String, u16, Option<&'static str>);

fn cases(first_server: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let known = first_server.replace('/', "%2F");
    for prefix in ["/v0.1", "/v0", "/registry/seed/v0.1", "/registry/seed/v0"] {
        let list = format!("{prefix}/servers");
        for (query, status, location) in [
            ("limit=0", 422, Some("query.limit")),
            ("limit=101", 422, Some("query.limit")),
            ("limit=1000", 422, Some("query.limit")),
            ("limit=-1", 422, Some("query.limit")),
            ("limit=abc", 422, Some("query.limit")),
            ("limit=1.5", 422, Some("query.limit")),
            ("include_deleted=abc", 422, Some("query.include_deleted")),
            ("cursor=garbage", 400, Some("query.cursor")),
            ("cursor=%21%21not-a-cursor%21%21", 400, Some("query.cursor")),
            ("updated_since=yesterday", 400, Some("query.updated_since")),
            ("updated_since=2025-13-45T00:00:00Z", 400, Some("query.updated_since")),
            ("updated_since=2025-01-01", 400, Some("query.updated_since")),
            ("include_deleted=false&updated_since=2025-01-01T00:00:00Z", 400, None),
        ] {
            cases.push((format!("{list}?{query}"), status, location));
        }
        for tail in ["versions", "versions/latest", "versions/1.0.0"] {
            cases.push((format!("{list}/no-slash/{tail}"), 400, Some("path.serverName")));
            cases.push((format!("{list}/io.github.nobody%2Fnothing/{tail}"), 404, None));
            cases.push((format!("{list}/io.github.nobody/nothing/{tail}"), 404, None));
        }
        cases.push((format!("{list}/{known}/versions/9.9.9-nope"), 404, None));
        cases.push((format!("{list}/{known}/versions/9.9.9-nope?include_deleted=true"), 404, None));
    }
    for unknown in ["/registry/nope/v0.1/servers", "/registry/nope/v0/servers"] {
        cases.push((unknown.to_owned(), 404, None));
        cases.push((format!("{unknown}/{known}/versions"), 404, None));
    }
    cases.push(("/api/v0/servers?limit=abc".to_owned(), 422, Some("query.limit")));
    cases.push(("/api/v0/servers?limit=0".to_owned(), 422, Some("query.limit")));
    cases.push(("/api/v0/servers/io.github.nobody%2Fnothing".to_owned(), 404, None));
    cases.push(("/nope".to_owned(), 404, None));
    cases.push(("/v0.1/nope".to_owned(), 404, None));
    cases.push(("/v0.1/servers/io.github.nobody%2Fnothing/versions/1.0.0/extra".to_owned(), 404, None));
    cases
}

#[tokio::test]
async fn bad_input_gets_problem_details() {
    let root = workspace_root();
    let seed = thv_testkit::read_json(&root.join("examples/data/seed-358-servers.json")).unwrap();
    let first = seed[0]["name"].as_str().unwrap().to_owned();

    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    // The known server and the registry exist, so the 404s below are about what they claim.
    srv.get_json(&format!("/registry/seed/v0.1/servers/{}/versions", first.replace('/', "%2F"))).await.unwrap();

    let mut failures = Vec::new();
    for (path, status, location) in cases(&first) {
        let reply = srv.get(&path).await.unwrap();
        let mut problems = Vec::new();
        if reply.status != status {
            problems.push(format!("status {} (expected {status})", reply.status));
        }
        if !reply.content_type().starts_with("application/problem+json") {
            problems.push(format!("content-type {:?}", reply.content_type()));
        }
        match reply.json() {
            Err(_) => problems.push("body is not JSON".to_owned()),
            Ok(body) => {
                if body["title"].as_str().is_none_or(str::is_empty) {
                    problems.push("no title".to_owned());
                }
                if body["status"] != reply.status {
                    problems.push(format!("body status {} != HTTP status {}", body["status"], reply.status));
                }
                if !body["detail"].is_string() {
                    problems.push("no detail".to_owned());
                }
                if let Some(location) = location
                    && body["errors"][0]["location"] != location
                {
                    problems
                        .push(format!("errors[0].location {} (expected {location:?})", body["errors"][0]["location"]));
                }
                if path.starts_with("/registry/nope/") && !body["detail"].as_str().is_some_and(|d| d.contains("nope")) {
                    problems.push("detail does not name the unknown registry".to_owned());
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("GET {path}: {}\n    body: {}", problems.join("; "), reply.body));
        }
    }
    assert!(failures.is_empty(), "{} bad replies:\n{}", failures.len(), failures.join("\n"));
}

/// Odd but valid input is not an error.
#[tokio::test]
async fn odd_but_valid_input_is_accepted() {
    let root = workspace_root();
    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let mut failures = Vec::new();
    for (path, rows) in [
        ("/v0.1/servers?limit=1", Some(1)),
        ("/v0.1/servers?limit=100", Some(100)),
        ("/v0.1/servers?include_deleted=true&limit=5", Some(5)),
        ("/v0.1/servers?include_deleted=false&limit=5", Some(5)),
        ("/v0.1/servers?updated_since=2000-01-01T00:00:00.123456789Z&limit=5", Some(5)),
        ("/v0.1/servers?updated_since=2000-01-01T00:00:00%2B02:00&limit=5", Some(5)),
        ("/v0.1/servers?updated_since=2000-01-01T00:00:00Z&include_deleted=true&limit=5", Some(5)),
        ("/v0.1/servers?search=%25", Some(0)),
        ("/v0.1/servers?search=zzzz-no-such-thing", Some(0)),
        ("/v0.1/servers?version=9.9.9-nope", Some(0)),
        ("/v0.1/servers?updated_since=2999-01-01T00:00:00Z", Some(0)),
        ("/v0.1/servers?search=", None),
        ("/v0.1/servers?unknown_param=1&limit=2", Some(2)),
    ] {
        let reply = srv.get(path).await.unwrap();
        let body = reply.json().ok();
        let n = body.as_ref().and_then(|b| b["servers"].as_array()).map(Vec::len);
        if reply.status != 200 || rows.is_some_and(|r| n != Some(r)) || n.is_none() {
            failures.push(format!(
                "GET {path}: status {}, {n:?} rows (expected {rows:?})\n    body: {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A client that accepts `application/json` and not problem+json (a generated client) gets the
/// same problem as `application/json`; every other client gets `application/problem+json`.
#[tokio::test]
async fn a_problem_is_json_for_a_client_that_asks_for_json_only() {
    let srv = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let http = srv.client();
    let url = format!("{}/v0.1/servers/io.github.nobody%2Fnothing/versions/latest", srv.base_url());
    let mut bodies = Vec::new();
    for (accept, expected) in [
        (Some("application/json"), "application/json"),
        (Some("application/problem+json, application/json"), "application/problem+json"),
        (Some("*/*"), "application/problem+json"),
        (None, "application/problem+json"),
    ] {
        let mut req = http.get(&url);
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 404, "{accept:?}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with(expected), "Accept {accept:?}: content-type {content_type}");
        bodies.push(resp.json::<serde_json::Value>().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(bodies[0]["status"], 404);
}
