//! `ApiSource` when the upstream fails or misbehaves: error statuses, slowness, bodies that are
//! not server lists, looping or endless cursors, bodies over the byte limit, a closed port.

use std::time::Instant;

use poem::{Request, Response};
use thv_testkit::Loopback;

use super::stub::Fault;
use super::*;

#[tokio::test]
async fn server_errors_name_the_status_and_the_url() {
    let (server, _) = server_with(3).await;
    server.with(|s| s.fault = Fault::Status(500));
    let err = fetch_err(&source(options(&server), &clock())).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m)
            if m.contains("500") && m.contains(&format!("{}/v0.1/servers", server.base)) && m.contains("the database is down")),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let (server, _) = server_with(3).await;
    server.with(|s| s.fault = Fault::Sleep(Duration::from_secs(30)));
    let mut opts = options(&server);
    opts.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = fetch_err(&source(opts, &clock())).await;
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains("timed out after 300ms")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn truncated_json_and_html_are_not_server_lists() {
    let (server, _) = server_with(3).await;
    let src = source(options(&server), &clock());

    server.with(|s| s.fault = Fault::Truncated);
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m)
            if m.contains(&format!("page 1 of {}/v0.1/servers is not a server list", server.base)) && m.contains("EOF")),
        "{err}"
    );

    server.with(|s| s.fault = Fault::Html);
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains("is not a server list") && m.contains("HTML")),
        "{err}"
    );
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_not_a_server_list() {
    // A registry file served where the API should be: JSON, but no `servers` array.
    let listener = Loopback::bind().await.unwrap();
    let base = listener.url();
    listener.serve(poem::endpoint::make(|_: Request| async {
        Response::builder().content_type("application/json").body(r#"{"data":{"servers":[]}}"#)
    }));
    let src = source(ApiConfig::new(base), &clock());
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains("is not a server list") && m.contains("servers")),
        "{err}"
    );
}

#[tokio::test]
async fn a_repeating_cursor_is_a_loop() {
    let (server, _) = server_with(3).await;
    server.with(|s| s.fault = Fault::RepeatCursor);
    let err = fetch_err(&source(options(&server), &clock())).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains(r#"cursor "same" repeats"#) && m.contains("loops")),
        "{err}"
    );
    assert_eq!(server.take().0.len(), 2);
}

#[tokio::test]
async fn an_endless_cursor_chain_is_too_large() {
    let (server, _) = server_with(3).await;
    server.with(|s| s.fault = Fault::EndlessCursor);
    let mut opts = options(&server);
    opts.max_pages = 5;
    let err = fetch_err(&source(opts, &clock())).await;
    assert!(
        matches!(&err, SourceError::TooLarge(m) if m.contains("more than 5 pages") && m.contains("does not end")),
        "{err}"
    );
    assert_eq!(server.take().0.len(), 5, "stops at max_pages");
}

#[tokio::test]
async fn huge_bodies_are_refused_while_streaming() {
    let (server, _) = server_with(3).await;
    let mut opts = options(&server);
    opts.max_bytes = 1024 * 1024;
    let src = source(opts, &clock());
    // An endless body, and a 2 MB Content-Length whose body never comes: both end promptly
    // (the 20 s request timeout would otherwise make them Unavailable).
    for content_length in [false, true] {
        server.with(|s| s.fault = Fault::Huge { content_length });
        let started = Instant::now();
        let err = fetch_err(&src).await;
        assert!(
            matches!(&err, SourceError::TooLarge(m) if m.contains("limit of 1048576 bytes") && m.contains("page 1")),
            "content_length {content_length}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn the_byte_limit_spans_all_pages() {
    let (server, _) = server_with(30).await;
    let mut opts = options(&server);
    opts.page_size = 10;
    let src = source(opts.clone(), &clock());
    src.fetch(None).await.unwrap();
    let (_, pages) = server.take();
    let sizes: Vec<u64> = pages.iter().map(|b| b.len() as u64).collect();
    // Room for two pages and a half: the third page crosses the line.
    opts.max_bytes = sizes[0] + sizes[1] + sizes[2] / 2;
    let err = fetch_err(&source(opts, &clock())).await;
    assert!(matches!(&err, SourceError::TooLarge(m) if m.contains("at page 3")), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = source(ApiConfig::new(format!("http://127.0.0.1:{port}")), &clock());
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains(&format!("127.0.0.1:{port}")) && m.contains("connect")),
        "{err}"
    );
}
