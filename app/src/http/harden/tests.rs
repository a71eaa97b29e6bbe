use std::time::Duration;

use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, handler};

use super::{PathFault, check_path, harden};
use crate::config::http::HttpLimits;
use crate::http::problem::problem_middleware;

#[test]
fn paths_are_checked_strictly() {
    use PathFault::{Backslash, BadEncoding, Control, DotSegment, DoubleEncoded, NotUtf8};
    let accepted = [
        "/",
        "/v0.1/servers",
        "/v0.1/servers/io.github.x%2Fy/versions",
        "/v0.1/servers/io.github.x%2fy/versions/1.0.0",
        "/registry/seed/v0.1/servers",
        "/v0.1/servers/a.b.c%2F...%2Fd/versions",
        "/v0.1/servers/..x/versions",
        "/v0.1/servers/x../versions",
        "/v0.1/servers/100%25/versions",
        "/v0.1/servers/%25zz/versions",
        "/v0.1/servers/caf%C3%A9%2Fx/versions",
        "/v0.1/servers/café/versions",
        "/docs/",
        "//double//slashes",
    ];
    for path in accepted {
        assert_eq!(check_path(path), Ok(()), "{path}");
    }
    let rejected = [
        ("/v0.1/../v0.1/servers", DotSegment),
        ("/v0.1/./servers", DotSegment),
        ("/v0.1/servers/..", DotSegment),
        ("/v0.1/servers/..%2F..%2Fetc", DotSegment),
        ("/v0.1/servers/%2e%2e/versions", DotSegment),
        ("/v0.1/servers/%2E%2E/versions", DotSegment),
        ("/v0.1/servers/.%2e/versions", DotSegment),
        ("/v0.1/servers/%2e/versions", DotSegment),
        ("/registry/%2e%2e/v0.1/servers", DotSegment),
        ("/v0.1/servers/io.x%2F..%2Fy/versions", DotSegment),
        ("/v0.1/servers/io.x%2F./versions", DotSegment),
        ("/v0.1/servers/a%00b/versions", Control),
        ("/v0.1/servers/a\0b/versions", Control),
        ("/v0.1/servers/a%0Ab/versions", Control),
        ("/v0.1/servers/a%7Fb/versions", Control),
        ("/v0.1/servers/a%C2%85b/versions", Control),
        ("/v0.1/servers/io.x%5Cy/versions", Backslash),
        ("/v0.1/servers/io.x%5cy/versions", Backslash),
        ("/v0.1/servers/io.x\\y/versions", Backslash),
        ("/v0.1/servers/io.x%252Fy/versions", DoubleEncoded),
        ("/v0.1/servers/%252e%252e/versions", DoubleEncoded),
        ("/v0.1/servers/%2541/versions", DoubleEncoded),
        ("/v0.1/servers/%25%32%46/versions", DoubleEncoded),
        ("/v0.1/servers/a%/versions", BadEncoding),
        ("/v0.1/servers/a%2/versions", BadEncoding),
        ("/v0.1/servers/a%zz/versions", BadEncoding),
        ("/v0.1/servers/a%FFb/versions", NotUtf8),
        ("/v0.1/servers/a%C3/versions", NotUtf8),
    ];
    for (path, fault) in rejected {
        assert_eq!(check_path(path), Err(fault), "{path}");
    }
}

#[handler]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[handler]
async fn echo(body: Body) -> poem::Result<String> {
    Ok(body.into_bytes().await?.len().to_string())
}

#[handler]
fn fine() -> &'static str {
    "ok"
}

fn limits() -> HttpLimits {
    HttpLimits {
        max_body_bytes: 16,
        max_header_bytes: 1024,
        request_timeout: Duration::from_millis(200),
        ..HttpLimits::default()
    }
}

async fn call(req: Request) -> (StatusCode, poem::http::HeaderMap, String) {
    let app = Route::new()
        .at("/slow", poem::get(slow))
        .at("/echo", poem::post(echo))
        .at("/fine", poem::get(fine).post(fine))
        .at("/docs", poem::get(fine))
        .around(problem_middleware)
        .around(|ep, req| harden(ep, req, limits()));
    let resp: Response = match app.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.into_body().into_string().await.unwrap())
}

fn is_problem(headers: &poem::http::HeaderMap, body: &str, status: u16) -> bool {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    headers.get("content-type").is_some_and(|c| c == "application/problem+json") && json["status"] == status
}

#[tokio::test]
async fn a_slow_handler_is_cut_off_with_a_503() {
    let started = std::time::Instant::now();
    let (status, headers, body) = call(Request::builder().uri_str("/slow").finish()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(is_problem(&headers, &body, 503) && body.contains("request timed out"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(call(Request::builder().uri_str("/fine").finish()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let post = |body: Body| Request::builder().method(Method::POST).uri_str("/echo").body(body);
    let (status, _, body) = call(post(Body::from_bytes(bytes::Bytes::from_static(b"0123456789abcdef")))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "16"), "exactly the limit is fine");

    let req = Request::builder()
        .method(Method::POST)
        .uri_str("/echo")
        .header("content-length", "17")
        .body(Body::from_bytes(bytes::Bytes::from_static(b"0123456789abcdefg")));
    let (status, headers, body) = call(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(is_problem(&headers, &body, 413), "{body}");
    assert_eq!(headers.get("connection").unwrap(), "close");

    // Unknown length (chunked): read up to the limit, then refused, whether or not the route reads it.
    let unknown_length = |n: usize| Body::from_async_read(std::io::Cursor::new(vec![b'x'; n]));
    for path in ["/echo", "/fine"] {
        let req = Request::builder().method(Method::POST).uri_str(path).body(unknown_length(20));
        let (status, headers, body) = call(req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
        assert!(is_problem(&headers, &body, 413), "{body}");
    }
    let req = Request::builder().method(Method::POST).uri_str("/echo").body(unknown_length(10));
    assert_eq!(call(req).await.2, "10");
}

#[tokio::test]
async fn headers_over_the_limit_are_431() {
    let req = Request::builder().uri_str("/fine").header("x-big", "x".repeat(2000)).finish();
    let (status, headers, body) = call(req).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{body}");
    assert!(is_problem(&headers, &body, 431), "{body}");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff", "rejections get the security headers");
}

#[tokio::test]
async fn bad_paths_are_400_problems() {
    let (status, headers, body) = call(Request::builder().uri_str("/v0.1/servers/%2e%2e/versions").finish()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(is_problem(&headers, &body, 400) && body.contains("\"location\":\"path\""), "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["errors"][0]["value"], "/v0.1/servers/%2e%2e/versions", "the refused path is named");
}

#[tokio::test]
async fn cors_allows_reads_from_anywhere_and_nothing_else() {
    let (status, h, _) = call(Request::builder().uri_str("/fine").header("origin", "https://a.example").finish()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
    assert_eq!(h.get("access-control-expose-headers").unwrap(), "ETag, WWW-Authenticate");
    assert_eq!(h.get("vary").unwrap(), "Origin");
    assert!(h.get("access-control-allow-credentials").is_none());

    let (_, h, _) = call(Request::builder().uri_str("/fine").finish()).await;
    assert!(h.get("access-control-allow-origin").is_none(), "no Origin, no CORS");
    assert_eq!(h.get("vary").unwrap(), "Origin");

    let preflight = |method: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri_str("/fine")
            .header("origin", "https://a.example")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "if-none-match")
            .finish()
    };
    let (status, h, _) = call(preflight("GET")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
    assert_eq!(h.get("access-control-allow-methods").unwrap(), "GET, OPTIONS");
    assert_eq!(h.get("access-control-allow-headers").unwrap(), "Authorization, Content-Type, If-None-Match");
    assert_eq!(h.get("access-control-max-age").unwrap(), "86400");
    for write in ["POST", "PUT", "PATCH", "DELETE"] {
        let (status, h, _) = call(preflight(write)).await;
        assert_ne!(status, StatusCode::NO_CONTENT, "{write}");
        assert!(h.keys().all(|k| !k.as_str().starts_with("access-control-")), "{write}: {h:?}");
    }
    let post = Request::builder().method(Method::POST).uri_str("/fine").header("origin", "https://a.example").finish();
    let (status, h, _) = call(post).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none(), "writes get no CORS headers");
}

#[tokio::test]
async fn every_response_has_the_security_headers() {
    for path in ["/fine", "/nope", "/docs"] {
        let (_, h, _) = call(Request::builder().uri_str(path).finish()).await;
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert_eq!(h.get("cross-origin-resource-policy").unwrap(), "cross-origin", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "{path}");
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        if path == "/docs" {
            assert!(csp.contains("script-src 'unsafe-inline'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        } else {
            assert_eq!(csp, "default-src 'none'; frame-ancestors 'none'", "{path}");
        }
    }
}
