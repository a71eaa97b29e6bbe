//! Compressed reads through the real binary: `Accept-Encoding` gzip, br and zstd get the same
//! JSON as identity, with `Content-Encoding`, `Vary: Accept-Encoding` and an `ETag` of their own;
//! `If-None-Match` gets a 304 for the representation it names only.

#![expect(clippy::unwrap_used, reason = "test set-up fails the test on purpose")]

use std::io::Read as _;

use reqwest::header::HeaderMap;
use serde_json::Value;
use thv_testkit::{TestServer, workspace_root};

fn decode(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
        }
        Some("br") => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        Some("zstd") => out = zstd::stream::decode_all(body).unwrap(),
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

/// `GET url` with `Accept-Encoding: accept` (none when empty): status, headers, raw body.
async fn get(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
    if_none_match: Option<&str>,
) -> (u16, HeaderMap, Vec<u8>) {
    let mut req = http.get(url);
    if !accept.is_empty() {
        req = req.header("accept-encoding", accept);
    }
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn compressed_reads_carry_the_same_json_with_an_etag_of_their_own() {
    let root = workspace_root();
    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let first = srv.get_json("/v0.1/servers?limit=1").await.unwrap();
    let name = first["servers"][0]["server"]["name"].as_str().unwrap().replace('/', "%2F");
    let http = crate::raw_client();

    for path in [
        "/v0.1/servers?limit=30".to_owned(),
        "/registry/seed/v0.1/servers?limit=100&search=server".to_owned(),
        "/api/v0/servers?limit=50".to_owned(),
        format!("/v0.1/servers/{name}/versions"),
        format!("/v0.1/servers/{name}/versions/latest"),
    ] {
        let url = format!("{}{path}", srv.base_url());
        let (status, identity_headers, identity) = get(&http, &url, "", None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&identity_headers, "content-encoding"), None, "{path}");
        assert!(
            identity_headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Accept-Encoding")),
            "{path}: {identity_headers:?}"
        );
        let json: Value = serde_json::from_slice(&identity).unwrap();
        let identity_tag = header(&identity_headers, "etag").unwrap().to_owned();
        let big = identity.len() >= 1024;

        let mut tags = vec![identity_tag.clone()];
        for (accept, coding) in [("gzip", "gzip"), ("br", "br"), ("zstd", "zstd"), ("gzip, deflate, br, zstd", "br")] {
            let (status, headers, body) = get(&http, &url, accept, None).await;
            assert_eq!(status, 200, "{path} {accept}");
            let sent = header(&headers, "content-encoding");
            if !big {
                assert_eq!(sent, None, "{path}: a body under 1 KiB goes out as it is");
                continue;
            }
            assert_eq!(sent, Some(coding), "{path} {accept}");
            assert!(body.len() < identity.len(), "{path} {accept}: {} of {}", body.len(), identity.len());
            let decoded: Value = serde_json::from_slice(&decode(sent, &body)).unwrap();
            assert_eq!(decoded, json, "{path} {accept}: the same JSON as identity");
            let tag = header(&headers, "etag").unwrap().to_owned();
            assert_eq!(tag, format!("{}-{coding}\"", identity_tag.trim_end_matches('"')), "{path} {accept}");
            if !tags.contains(&tag) {
                tags.push(tag.clone());
            }

            // 304 for the tag of this representation, 200 for another representation's tag.
            let (status, headers, body) = get(&http, &url, accept, Some(&tag)).await;
            assert_eq!(status, 304, "{path} {accept}");
            assert_eq!(header(&headers, "etag"), Some(tag.as_str()));
            assert!(body.is_empty());
            let (status, _, _) = get(&http, &url, accept, Some(&identity_tag)).await;
            assert_eq!(status, 200, "{path} {accept}: the identity ETag names another representation");
        }
        if big {
            assert_eq!(tags.len(), 4, "{path}: identity, gzip, br, zstd: {tags:?}");
        }
        let (status, _, _) = get(&http, &url, "", Some(&identity_tag)).await;
        assert_eq!(status, 304, "{path}: identity");
        let (status, headers, _) = get(&http, &url, "deflate, compress", None).await;
        assert_eq!((status, header(&headers, "content-encoding")), (200, None), "{path}: no coding we make");
    }

    // Problems are not compressed.
    let (status, headers, body) =
        get(&http, &format!("{}/v0.1/servers/io.github.nobody%2Fnothing", srv.base_url()), "gzip", None).await;
    assert_eq!((status, header(&headers, "content-encoding")), (404, None));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["status"], 404);
}

/// The Swagger UI page is kept compressed: gzip as it is to a client that takes it, the same page
/// inflated to one that does not, with the served document in it either way.
#[tokio::test]
async fn the_docs_page_is_the_same_page_compressed_or_not() {
    let root = workspace_root();
    let srv = TestServer::start(&root.join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    let http = crate::raw_client();
    let url = format!("{}/docs", srv.base_url());
    let (status, headers, identity) = get(&http, &url, "", None).await;
    assert_eq!((status, header(&headers, "content-encoding")), (200, None));
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"));
    assert!(header(&headers, "vary").unwrap().contains("Accept-Encoding"));
    let (_, _, spec) = get(&http, &format!("{}/openapi.json", srv.base_url()), "", None).await;
    let page = String::from_utf8(identity.clone()).unwrap();
    assert!(page.contains("SwaggerUIBundle") && page.contains(std::str::from_utf8(&spec).unwrap()));
    for accept in ["gzip", "gzip, deflate, br, zstd"] {
        let (status, headers, body) = get(&http, &url, accept, None).await;
        assert_eq!((status, header(&headers, "content-encoding")), (200, Some("gzip")), "{accept}");
        assert!(body.len() * 3 < identity.len(), "{accept}: {} bytes", body.len());
        assert_eq!(decode(Some("gzip"), &body), identity, "{accept}");
    }
}
