//! Request hardening through the binary, with short limits (`http:` section): oversized bodies
//! and headers, slow clients, encoded path tricks, slow handlers, CORS and security headers. Each
//! attack is refused cleanly (problem+json where the server can answer at all) while a prober
//! keeps getting 200s from the same server.
//!
//! Raw TCP is used wherever a client library would normalise or refuse what is being sent.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

mod raw;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thv_testkit::{SourceSpec, TestApp, TestServer, workspace_root};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use raw::{Prober, get_request, header, logged, problem, raw, read_response, stall, status};

const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling slack on a shared CI machine.
const SLACK: Duration = Duration::from_secs(4);

/// Registry `seed` over the seed catalogue (hourly) with short limits.
fn seed() -> TestApp {
    let seed = workspace_root().join("examples/data/seed-358-servers.json");
    TestApp::new().source(SourceSpec::file("seed", &seed).interval("1h")).set(
        "http",
        json!({
            "maxBodyBytes": 1024,
            "maxHeaderBytes": 4096,
            "requestTimeout": "1s",
            "readHeaderTimeout": "1s",
            "idleTimeout": "2s",
        }),
    )
}

/// Starts `app` (a [`seed`], changed or not) and waits until it is ready.
async fn start(app: TestApp) -> (TestServer, SocketAddr) {
    let srv = app.spawn().await.unwrap();
    srv.wait_ready().await.unwrap();
    let addr = srv.base_url().trim_start_matches("http://").parse().unwrap();
    (srv, addr)
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (srv, addr) = start(seed()).await;
    let prober = Prober::start(&srv.base_url());

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap();
    let url = format!("{}/v1/sources/seed/sync", srv.base_url());
    let reply = client.post(&url).body(vec![b'x'; 10 * 1024]).send().await.unwrap();
    assert_eq!(reply.status(), 413);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["status"], 413, "{body}");

    // A body of unknown length is read up to the limit and refused the same way, although this
    // route never reads its body.
    let mut chunked = b"POST /v1/sources/seed/sync HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("200\r\n{}\r\n", "y".repeat(0x200)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = raw(addr, &chunked).await;
    assert_eq!(status(&response), 413, "{response}");
    problem(&response);

    // Within the limit, a write works as before.
    let reply = client.post(&url).body(vec![b'x'; 100]).send().await.unwrap();
    assert!(matches!(reply.status().as_u16(), 202 | 409), "{}", reply.status());
    prober.finish().await;
    assert!(logged(&srv, 413).await, "rejections are logged like any request:\n{}", srv.stderr());
}

#[tokio::test]
async fn oversized_headers_are_431_and_absurd_heads_are_cut_off() {
    let (srv, addr) = start(seed()).await;
    let prober = Prober::start(&srv.base_url());

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap();
    let url = format!("{}/v0.1/servers?limit=1", srv.base_url());
    let reply = client.get(&url).header("x-big", "h".repeat(8 * 1024)).send().await.unwrap();
    assert_eq!(reply.status(), 431);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
    assert_eq!(reply.json::<Value>().await.unwrap()["status"], 431);

    // 1 MB of header: hyper refuses it (a bare 431, or the connection closed); never a hang.
    let mut huge = b"GET /v0.1/servers HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'h', 1024 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let response = raw(addr, &huge).await;
    assert!(response.is_empty() || status(&response) == 431, "{response}");

    srv.get_json("/v0.1/servers?limit=1").await.unwrap();
    prober.finish().await;
    assert!(logged(&srv, 431).await, "rejections are logged like any request:\n{}", srv.stderr());
}

#[tokio::test]
async fn slow_clients_are_cut_off_by_the_header_timeout() {
    let (srv, addr) = start(seed()).await;
    let prober = Prober::start(&srv.base_url());

    // Half a request line, half a head, nothing at all: each closed after readHeaderTimeout.
    let (line, head, nothing) = tokio::join!(
        stall(addr, b"GET /v0.1/serv"),
        stall(addr, b"GET /v0.1/servers HTTP/1.1\r\nHost: localhost\r\nX-Half: "),
        stall(addr, b""),
    );
    for (what, took) in [("half a request line", line), ("half a head", head), ("nothing", nothing)] {
        assert!(took < READ_HEADER_TIMEOUT + SLACK, "{what}: closed after {took:?}");
    }

    // Slowloris: one byte every 300 ms is still cut off by the header timeout.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /v0.1/servers HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; 1024];
    loop {
        if stream.write_all(&head[sent..=sent]).await.is_err() {
            break;
        }
        sent += 1;
        assert!(sent < head.len(), "the whole head went through at one byte per 300 ms");
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            assert!(matches!(read, Ok(0) | Err(_)), "expected the connection to be closed, got {read:?}");
            break;
        }
    }
    let took = started.elapsed();
    assert!(took < READ_HEADER_TIMEOUT + SLACK, "slowloris closed after {took:?} ({sent} bytes)");
    prober.finish().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_last_idle_timeout_not_the_header_timeout() {
    let (_srv, addr) = start(seed()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = b"GET /v0.1/servers?limit=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(request).await.unwrap();
    assert_eq!(status(&read_response(&mut stream).await), 200);

    // Idle for longer than readHeaderTimeout: the connection is still there.
    tokio::time::sleep(READ_HEADER_TIMEOUT + Duration::from_millis(500)).await;
    stream.write_all(request).await.unwrap();
    assert_eq!(status(&read_response(&mut stream).await), 200);

    // Then idle for idleTimeout: closed.
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "expected the connection to be closed, got {read:?}");
    let took = started.elapsed();
    assert!(took + Duration::from_millis(300) > IDLE_TIMEOUT && took < IDLE_TIMEOUT + SLACK, "closed after {took:?}");
}

#[tokio::test]
async fn encoded_path_tricks_are_400() {
    let (srv, addr) = start(seed()).await;
    let prober = Prober::start(&srv.base_url());
    for path in [
        "/v0.1/servers/..%2F..%2Fetc",
        "/v0.1/servers/%2e%2e/versions",
        "/registry/%2e%2e/v0.1/servers",
        "/v0.1/servers/a%00b/versions",
        "/v0.1/servers/io.x%252Fy/versions",
        "/v0.1/servers/io.x%5Cy/versions",
        "/v0.1/../v0.1/servers",
        "/v0.1/./servers",
        "/v0/servers/io.x/../versions",
        "/v0.1/servers/a%zz/versions",
        "/v0.1/servers/a%FF/versions",
    ] {
        let response = raw(addr, &get_request(path)).await;
        assert_eq!(status(&response), 400, "{path}: {response}");
        let problem = problem(&response);
        assert_eq!(problem["errors"][0]["location"], "path", "{path}: {problem}");
        assert_eq!(problem["errors"][0]["value"], path, "the path as sent is named: {problem}");
    }

    // An encoded slash inside a segment is how server names travel: routed as usual.
    let response = raw(addr, &get_request("/v0.1/servers/io.github.x%2Fy/versions")).await;
    assert_eq!(status(&response), 404, "{response}");
    let seed = thv_testkit::read_json(&workspace_root().join("examples/data/seed-358-servers.json")).unwrap();
    let name = seed[0]["name"].as_str().unwrap().replace('/', "%2F");
    let response = raw(addr, &get_request(&format!("/v0.1/servers/{name}/versions"))).await;
    assert_eq!(status(&response), 200, "{response}");
    prober.finish().await;
    assert!(logged(&srv, 400).await, "rejections are logged like any request");
}

#[tokio::test]
async fn a_slow_handler_is_cut_off_by_the_request_timeout() {
    // A Kubernetes API server that accepts connections and never answers.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = black_hole.accept().await {
            open.push(stream);
        }
    });
    let app = seed();
    app.write_bytes(
        "kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hole\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: hole\n  context:\n    cluster: hole\n    user: u\ncurrent-context: hole\nusers:\n- name: u\n  user:\n    token: t\n"
        )
        .as_bytes(),
    );
    let kubernetes = json!({"kubeconfig": app.path("kubeconfig"), "timeout": "30s"});
    let (srv, _addr) = start(app.set("kubernetes", kubernetes)).await;
    let prober = Prober::start(&srv.base_url());

    let started = Instant::now();
    let reply = srv.get("/api/v0/deployed").await.unwrap();
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.content_type().starts_with("application/problem+json"));
    assert!(reply.json().unwrap()["detail"].as_str().unwrap().contains("request timed out"), "{}", reply.body);
    assert!(took < Duration::from_secs(1) + SLACK, "answered after {took:?}");
    prober.finish().await;
    held.abort();
}

#[tokio::test]
async fn cors_for_reads_only_and_security_headers_everywhere() {
    let (_srv, addr) = start(seed()).await;
    let with_origin = |method: &str, path: &str, extra: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n{extra}Connection: close\r\n\r\n").into_bytes()
    };

    let response = raw(addr, &with_origin("GET", "/v0.1/servers?limit=1", "")).await;
    assert_eq!(status(&response), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"), "{response}");
    assert_eq!(header(&response, "access-control-expose-headers"), Some("ETag, WWW-Authenticate"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    let preflight = raw(
        addr,
        &with_origin(
            "OPTIONS",
            "/v0.1/servers",
            "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: if-none-match\r\n",
        ),
    )
    .await;
    assert_eq!(status(&preflight), 204, "{preflight}");
    assert_eq!(header(&preflight, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&preflight, "access-control-allow-methods"), Some("GET, OPTIONS"));
    assert_eq!(header(&preflight, "access-control-allow-headers"), Some("Authorization, Content-Type, If-None-Match"));
    assert_eq!(header(&preflight, "access-control-max-age"), Some("86400"));

    let write =
        raw(addr, &with_origin("OPTIONS", "/v1/sources/seed/sync", "Access-Control-Request-Method: POST\r\n")).await;
    assert_ne!(status(&write), 204, "{write}");
    assert_eq!(header(&write, "access-control-allow-origin"), None, "{write}");
    let post = raw(addr, &with_origin("POST", "/v1/sources/seed/sync", "Content-Length: 0\r\n")).await;
    assert_eq!(header(&post, "access-control-allow-origin"), None, "{post}");

    for (path, want) in [("/v0.1/servers?limit=1", 200), ("/v0.1/nope", 404)] {
        let response = raw(addr, &get_request(path)).await;
        assert_eq!(status(&response), want, "{response}");
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
            ("cross-origin-resource-policy", "cross-origin"),
        ] {
            assert_eq!(header(&response, name), Some(value), "{path}: {name}");
        }
        assert_eq!(header(&response, "strict-transport-security"), None);
    }
    let docs = raw(addr, &get_request("/docs")).await;
    assert_eq!(status(&docs), 200);
    assert!(header(&docs, "content-security-policy").unwrap().contains("script-src 'unsafe-inline'"));
}

/// What VS Code and GitHub Copilot document for a private MCP registry: the three `v0.1` read
/// routes, and CORS on them for `GET, OPTIONS` with `Authorization` from any origin — the
/// preflight answered, the allowances on every read response, the 401 of a missing token readable
/// by the page (`WWW-Authenticate` exposed). A CLI asking for `application/json` gets JSON.
#[tokio::test]
async fn a_private_registry_meets_what_vs_code_and_github_expect() {
    let world = crate::publish::World::start().await;
    let srv = world.app().spawn().await.unwrap();
    srv.wait_ready().await.unwrap();
    let name = "io.github.example/private";
    let published = crate::publish::publish(&srv, Some(&world.writer()), &crate::publish::doc(name, "1.0.0")).await;
    assert_eq!(published.status, 200, "{}", published.body);
    let http = srv.client();
    let token = format!("Bearer {}", world.reader());
    let encoded = name.replace('/', "%2F");
    let origin = "vscode-file://vscode-app";
    let allowances = |h: &reqwest::header::HeaderMap, what: &str| {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(get("access-control-allow-origin"), "*", "{what}: {h:?}");
        let methods = get("access-control-allow-methods");
        assert!(methods.contains("GET") && methods.contains("OPTIONS"), "{what}: methods {methods:?}");
        let headers = get("access-control-allow-headers").to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"), "{what}: headers {headers:?}");
    };

    for path in [
        "/v0.1/servers".to_owned(),
        format!("/v0.1/servers/{encoded}/versions/latest"),
        format!("/v0.1/servers/{encoded}/versions/1.0.0"),
    ] {
        let url = format!("{}{path}", srv.base_url());
        let preflight = http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "preflight {path}");
        allowances(preflight.headers(), &format!("preflight {path}"));

        let read = http.get(&url).header("origin", origin).header("authorization", &token).send().await.unwrap();
        assert_eq!(read.status(), 200, "GET {path}");
        allowances(read.headers(), &format!("GET {path}"));
        let body: Value = read.json().await.unwrap();
        let server = if path == "/v0.1/servers" { &body["servers"][0]["server"] } else { &body["server"] };
        assert_eq!(server["name"], name, "GET {path}: {body}");

        let refused = http.get(&url).header("origin", origin).send().await.unwrap();
        assert_eq!(refused.status(), 401, "GET {path} without a token");
        allowances(refused.headers(), &format!("401 {path}"));
        let exposed = refused.headers()["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("WWW-Authenticate"), "{exposed}");
    }

    // GitHub Copilot CLI's lookup: the latest version, asking for JSON.
    let url = format!("{}/v0.1/servers/{encoded}/versions/latest", srv.base_url());
    let cli = http.get(&url).header("accept", "application/json").header("authorization", &token).send().await.unwrap();
    assert_eq!(cli.status(), 200);
    assert!(cli.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let missing = format!("{}/v0.1/servers/io.github.example%2Fabsent/versions/latest", srv.base_url());
    let absent =
        http.get(&missing).header("accept", "application/json").header("authorization", &token).send().await.unwrap();
    assert_eq!(absent.status(), 404);
    assert!(absent.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}
