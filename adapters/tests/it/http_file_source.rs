//! `HttpFileSource` against a real HTTP server on 127.0.0.1 whose behaviour each test changes
//! between fetches.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use poem::http::{HeaderMap, StatusCode};
use poem::{Body, Request, Response};
use sha2::{Digest, Sha256};
use thv_adapters::source::http_file::HttpFileSource;
use thv_domain::Revision;
use thv_ports::{Fetched, Source, SourceError};
use thv_testkit::{Loopback, Stalled};

#[derive(Debug, Default)]
struct Scenario {
    body: Bytes,
    /// Sent as `ETag` when set; a matching `If-None-Match` gets a 304.
    etag: Option<String>,
    /// Answer 200 even when `If-None-Match` matches.
    ignore_if_none_match: bool,
    /// Answer with this status instead.
    status: Option<u16>,
    /// Wait this long before answering.
    sleep: Option<Duration>,
    /// `Some(false)`: an endless body; `Some(true)`: a 2 MB `Content-Length` and a stalled body.
    huge: Option<bool>,
    requests: Vec<HeaderMap>,
}

struct TestServer {
    url: String,
    state: Arc<Mutex<Scenario>>,
}

impl TestServer {
    async fn start(scenario: Scenario) -> Self {
        let state = Arc::new(Mutex::new(scenario));
        let listener = Loopback::bind().await.unwrap();
        let url = format!("{}/registry.json", listener.url());
        let shared = state.clone();
        listener.serve(poem::endpoint::make(move |req: Request| handle(shared.clone(), req)));
        Self { url, state }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Scenario) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn take_requests(&self) -> Vec<HeaderMap> {
        self.with(|s| std::mem::take(&mut s.requests))
    }
}

async fn handle(state: Arc<Mutex<Scenario>>, req: Request) -> Response {
    let (sleep, response) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req.headers().clone());
        let response = if let Some(status) = s.status {
            Response::builder().status(StatusCode::from_u16(status).unwrap()).body("nope")
        } else if let Some(content_length) = s.huge {
            if content_length {
                Response::builder().header("content-length", "2000000").body(Body::from_async_read(Stalled))
            } else {
                Response::builder().body(Body::from_async_read(tokio::io::repeat(b'x')))
            }
        } else {
            let if_none_match = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
            match &s.etag {
                Some(etag) if !s.ignore_if_none_match && if_none_match == Some(etag.as_str()) => {
                    Response::builder().status(StatusCode::NOT_MODIFIED).header("etag", etag).finish()
                }
                Some(etag) => Response::builder().header("etag", etag).body(s.body.clone()),
                None => Response::builder().body(s.body.clone()),
            }
        };
        (s.sleep, response)
    };
    if let Some(d) = sleep {
        tokio::time::sleep(d).await;
    }
    response
}

const BODY: &[u8] = br#"{"data":{"servers":[{"name":"io.example/s1","description":"d","version":"1.0.0"}]}}"#;

fn source(url: &str) -> HttpFileSource {
    HttpFileSource::new(url.to_owned(), Duration::from_secs(20), "thv-test/1".to_owned(), 1024 * 1024).unwrap()
}

fn documents(fetched: Fetched) -> (Revision, Vec<Bytes>, bool) {
    match fetched {
        Fetched::Documents { revision, documents, complete } => (revision, crate::in_memory(documents), complete),
        Fetched::Unchanged => panic!("expected documents, got Unchanged"),
    }
}

#[tokio::test]
async fn an_etag_is_revalidated_and_a_304_is_unchanged() {
    let server = TestServer::start(Scenario {
        body: Bytes::from_static(BODY),
        etag: Some(r#""v1""#.to_owned()),
        ..Scenario::default()
    })
    .await;
    let src = source(&server.url);
    assert_eq!(src.describe(), format!("file {}", server.url));

    let (revision, docs, complete) = documents(src.fetch(None).await.unwrap());
    assert_eq!(revision, Revision(r#"etag:"v1""#.to_owned()));
    assert_eq!(docs, [Bytes::from_static(BODY)]);
    assert!(complete);
    let requests = server.take_requests();
    assert_eq!(requests[0].get("if-none-match"), None);
    assert_eq!(requests[0]["user-agent"], "thv-test/1");

    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));
    assert_eq!(server.take_requests()[0]["if-none-match"], r#""v1""#);

    // A server that ignores If-None-Match but sends the same ETag: still unchanged.
    server.with(|s| s.ignore_if_none_match = true);
    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));

    // A new version.
    server.with(|s| {
        s.body = Bytes::from_static(b"[]");
        s.etag = Some(r#"W/"v2""#.to_owned());
    });
    let (revision, docs, _) = documents(src.fetch(Some(&revision)).await.unwrap());
    assert_eq!(revision, Revision(r#"etag:W/"v2""#.to_owned()));
    assert_eq!(docs, [Bytes::from_static(b"[]")]);
}

#[tokio::test]
async fn without_an_etag_the_revision_is_the_body_digest() {
    let server = TestServer::start(Scenario { body: Bytes::from_static(BODY), ..Scenario::default() }).await;
    let src = source(&server.url);

    let (revision, _, complete) = documents(src.fetch(None).await.unwrap());
    assert!(complete);
    assert_eq!(revision, Revision(format!("sha256:{}", hex::encode(Sha256::digest(BODY)))));
    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));
    assert!(server.take_requests().iter().all(|h| h.get("if-none-match").is_none()));

    server.with(|s| s.body = Bytes::from_static(b"[]"));
    let (changed, docs, _) = documents(src.fetch(Some(&revision)).await.unwrap());
    assert_ne!(changed, revision);
    assert_eq!(docs, [Bytes::from_static(b"[]")]);
}

#[tokio::test]
async fn http_errors_are_classified() {
    let server = TestServer::start(Scenario { status: Some(404), ..Scenario::default() }).await;
    let src = source(&server.url);
    let err = src.fetch(None).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::NotFound(m) if m.contains(&server.url) && m.contains("does not exist") && m.contains("404")),
        "{err}"
    );

    server.with(|s| s.status = Some(500));
    let err = src.fetch(None).await.unwrap_err();
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&server.url) && m.contains("500")), "{err}");

    server.with(|s| s.status = Some(403));
    let err = src.fetch(None).await.unwrap_err();
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains("403") && m.contains("credentials")), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = source(&format!("http://127.0.0.1:{port}/r.json")).fetch(None).await.unwrap_err();
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains("cannot connect")), "{err}");
}

#[tokio::test]
async fn a_file_larger_than_the_limit_is_refused_promptly() {
    let server = TestServer::start(Scenario::default()).await;
    let src = source(&server.url);
    for content_length in [false, true] {
        server.with(|s| s.huge = Some(content_length));
        let started = Instant::now();
        let err = src.fetch(None).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::TooLarge(m) if m.contains(&server.url) && m.contains("limit of 1048576 bytes")),
            "content_length {content_length}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = TestServer::start(Scenario {
        body: Bytes::from_static(BODY),
        sleep: Some(Duration::from_secs(30)),
        ..Scenario::default()
    })
    .await;
    let src = HttpFileSource::new(server.url.clone(), Duration::from_millis(300), "t/1".to_owned(), 1024).unwrap();
    let err = src.fetch(None).await.unwrap_err();
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains("timed out after 300ms")), "{err}");
}

#[tokio::test]
async fn urls_are_checked_and_credentials_never_shown() {
    let err =
        HttpFileSource::new("file:///etc/passwd".to_owned(), Duration::from_secs(1), "t/1".to_owned(), 1).unwrap_err();
    assert!(matches!(&err, SourceError::NotFound(m) if m.contains("not a valid http(s) URL")), "{err}");
    let src =
        HttpFileSource::new("https://me:s3cret@example.com/r.json".to_owned(), Duration::from_secs(1), "t/1".into(), 1)
            .unwrap();
    assert_eq!(src.describe(), "file https://example.com/r.json");
}
