//! Repeated anonymous reads, answered by the listener from what the whole stack answered before:
//! the same status, headers and bytes as the stack gives, a log line and a count for every
//! request, and never a response from before a change of the catalogue.

#![expect(clippy::unwrap_used, reason = "test set-up fails the test on purpose")]

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use thv_testkit::{Fixture, TestServer, WAIT, server_json, wait_until};

fn catalogue(extra: &[Value]) -> Value {
    let mut servers = vec![
        server_json("io.github.example/one", "1.0.0", "First server"),
        server_json("io.github.example/one", "1.1.0", "First server, newer"),
        server_json("io.github.example/two", "0.3.0", "Second server"),
        server_json("com.example/three", "2024.01.01", "Third server"),
    ];
    servers.extend_from_slice(extra);
    Value::Array(servers)
}

/// Status, headers but `date`, and body of `GET url` with `headers`.
async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = http.get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, without_date(resp.headers()), resp.bytes().await.unwrap().to_vec())
}

fn without_date(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect()
}

/// Request log lines for `route` so far.
fn logged(srv: &TestServer, route: &str) -> usize {
    srv.log_events("request").iter().filter(|f| f["route"] == route).count()
}

async fn source_name(srv: &TestServer) -> String {
    srv.source_status().await.unwrap()["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_repeated_read_gets_what_the_stack_gave_and_is_logged_and_counted() {
    let fixture = Fixture::new("test", "1h", &catalogue(&[])).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();
    let http = crate::raw_client();
    let base = srv.base_url();
    let lines_before = logged(&srv, "/v0.1/servers");
    let first = get(&http, &format!("{base}/v0.1/servers?limit=2"), &[]).await;
    let etag = first.1.iter().find(|(n, _)| n == "etag").unwrap().1.clone();

    let paths = [
        "/v0.1/servers?limit=2",
        "/v0/servers?limit=2",
        "/v0.1/servers?search=first&version=latest",
        "/registry/test/v0.1/servers?limit=3",
        "/v0.1/servers/io.github.example%2Fone/versions",
        "/v0.1/servers/io.github.example%2Fone/versions/latest",
        "/v0.1/servers/io.github.example%2Fnothing/versions",
        "/v0.1/servers?limit=0",
    ];
    let variants: [&[(&str, &str)]; 5] = [
        &[],
        &[("accept-encoding", "gzip")],
        &[("accept-encoding", "br"), ("accept", "application/json")],
        &[("if-none-match", etag.as_str())],
        // Not replayable (an Origin): the stack, every time.
        &[("origin", "https://example.com")],
    ];
    let mut list_requests = 1;
    for path in paths {
        for headers in variants {
            let url = format!("{base}{path}");
            let answers =
                [get(&http, &url, headers).await, get(&http, &url, headers).await, get(&http, &url, headers).await];
            let stack = &answers[0];
            for again in &answers[1..] {
                assert_eq!(again, stack, "{path} {headers:?}: a repeated read differs from the first");
            }
            if path.starts_with("/v0.1/servers?") || path.starts_with("/v0/servers?") {
                list_requests += answers.len();
            }
        }
    }
    // One line per request, replayed or not (the log is written in batches).
    wait_until("a request line for every list request", WAIT, || async {
        Ok((logged(&srv, "/v0.1/servers") - lines_before == list_requests).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}: {} lines", logged(&srv, "/v0.1/servers") - lines_before));
    // And counted: 200s and 304s alike.
    let metrics = srv.get("/metrics").await.unwrap().body;
    let counted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{method=\"GET\",route=\"/v0.1/servers\","))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(counted >= list_requests as u64, "{counted} counted for {list_requests} requests:\n{metrics}");
}

#[tokio::test]
async fn a_change_of_the_catalogue_is_seen_at_once_by_a_repeated_read() {
    let fixture = Fixture::new("test", "1h", &catalogue(&[])).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();
    let name = source_name(&srv).await;
    let http = crate::raw_client();
    let list = format!("{}/v0.1/servers?version=latest", srv.base_url());
    let latest = format!("{}/v0.1/servers/io.github.example%2Fone/versions/latest", srv.base_url());
    for round in 0..3 {
        let extra = match round {
            0 => vec![],
            1 => vec![server_json("io.github.example/one", "1.2.0", "First server, newest")],
            _ => vec![
                server_json("io.github.example/one", "1.2.0", "First server, newest"),
                server_json("io.github.example/five", "5.0.0", "Fifth server"),
            ],
        };
        if round > 0 {
            let before = srv.source_status().await.unwrap()["revision"].clone();
            fixture.write_data(&catalogue(&extra)).unwrap();
            srv.trigger_sync(&name).await.unwrap();
            srv.wait_source("the new file synced", |s| s["phase"] == "synced" && s["revision"] != before)
                .await
                .unwrap();
        }
        let want_latest = if round == 0 { "1.1.0" } else { "1.2.0" };
        let want_servers = if round == 2 { 4 } else { 3 };
        // The first answer after the sync is already the new one, and so is every repeat.
        for _ in 0..3 {
            for headers in [&[][..], &[("accept-encoding", "gzip")][..]] {
                let (status, _, body) = get(&http, &latest, headers).await;
                assert_eq!(status, 200);
                if headers.is_empty() {
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(body["server"]["version"], want_latest, "round {round}");
                }
            }
            let (status, _, body) = get(&http, &list, &[]).await;
            assert_eq!(status, 200);
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["metadata"]["count"], json!(want_servers), "round {round}: {body}");
        }
    }
}
