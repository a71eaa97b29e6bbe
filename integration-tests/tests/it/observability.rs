//! Operations: Prometheus metrics that move with traffic, the internal address, request logs with
//! trace ids, graceful shutdown with a slow client, and OpenTelemetry export to a real OTLP/HTTP
//! receiver on 127.0.0.1.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::{EndpointExt, Route, handler, web::Data};
use serde_json::{Value, json};
use thv_testkit::{Loopback, SourceSpec, TestApp, TestServer, WAIT, wait_until, workspace_root};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A counter or gauge holding a whole number.
fn whole(text: &str, name_and_labels: &str) -> i64 {
    #[expect(clippy::cast_possible_truncation, reason = "test values are small whole numbers")]
    let n = metric(text, name_and_labels).round() as i64;
    n
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_with_traffic_on_the_internal_address() {
    let server = TestServer::start_args(
        &workspace_root().join("examples/config-file.yaml"),
        &[],
        &["--internal-address", "127.0.0.1:0"],
    )
    .await
    .unwrap();
    server.wait_ready().await.unwrap();
    let internal = wait_until("the internal address is logged", WAIT, || async {
        Ok(server.log_field("internal endpoints listening", "address"))
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let scrape =
        || async { client.get(format!("http://{internal}/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    let list = "http_requests_total{method=\"GET\",route=\"/v0.1/servers\",status=\"200\"}";
    let count = "http_request_duration_seconds_count{method=\"GET\",route=\"/v0.1/servers\",status=\"200\"}";
    let bad = "http_requests_total{method=\"GET\",route=\"/v0.1/servers\",status=\"422\"}";
    for _ in 0..5 {
        assert_eq!(server.get("/v0.1/servers?limit=3").await.unwrap().status, 200);
    }
    assert_eq!(server.get("/v0.1/servers?limit=0").await.unwrap().status, 422);
    let after = scrape().await;
    assert_eq!(whole(&after, list) - whole(&before, list), 5, "{after}");
    assert_eq!(whole(&after, count) - whole(&before, count), 5);
    assert_eq!(whole(&after, bad) - whole(&before, bad), 1);
    assert!(after.contains(
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v0.1/servers\",status=\"200\",le=\"0.005\"}"
    ));
    assert_eq!(whole(&after, "registry_servers{registry=\"seed\"}"), 358);
    assert_eq!(whole(&after, "registry_source_servers{source=\"seed\"}"), 358);
    assert!(whole(&after, "registry_syncs_total{source=\"seed\",outcome=\"updated\"}") >= 1);
    assert!(metric(&after, "registry_source_last_success_timestamp_seconds{source=\"seed\"}") > 1.7e9);
    assert!(after.contains("registry_sync_duration_seconds_bucket{source=\"seed\",outcome=\"updated\""));
    assert!(after.contains("thv_registry_api_build_info{version=\""));
    assert!(after.contains("http_requests_in_flight"));

    // The internal address serves the operations endpoints only.
    for (path, status) in [("/health", 200), ("/readiness", 200), ("/version", 200), ("/v0.1/servers", 404)] {
        let got = client.get(format!("http://{internal}{path}")).send().await.unwrap().status().as_u16();
        assert_eq!(got, status, "{path}");
    }
    // The public port serves /metrics too.
    assert_eq!(server.get("/metrics").await.unwrap().status, 200);

    // Request logs: method, route template, status, duration and bytes (request lines are written
    // in batches, at the latest 100 ms after the request).
    let line = wait_until("the request is logged", WAIT, || async {
        Ok(server.stderr().lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| {
            v["fields"]["message"] == "request"
                && v["fields"]["status"] == 200
                && v["fields"]["route"] == "/v0.1/servers"
        }))
    })
    .await
    .unwrap();
    assert_eq!(line["fields"]["method"], "GET");
    assert!(line["fields"]["duration_ms"].is_number() && line["fields"]["bytes"].as_u64().unwrap() > 100);
}

#[tokio::test]
async fn request_logs_carry_the_callers_trace_id() {
    let server = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("{}/v0.1/servers?limit=1", server.base_url()))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let line = wait_until("the request is logged", WAIT, || async {
        Ok(server
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["fields"]["message"] == "request" && v["fields"]["route"] == "/v0.1/servers"))
    })
    .await
    .unwrap();
    assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
    // The span's export-only attributes are not repeated in the log line.
    assert!(
        line["span"].as_object().unwrap().keys().all(|k| !k.starts_with("otel.") && !k.starts_with("http.")),
        "{line}"
    );
}

#[tokio::test]
async fn sigterm_drains_a_slow_request_and_stops_accepting() {
    let mut server = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    let addr: std::net::SocketAddr = server.base_url().trim_start_matches("http://").parse().unwrap();

    // A slow client: a tiny receive buffer and nobody reading, so the ~150 KB page is still being
    // written when the signal arrives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(b"GET /v0.1/servers?limit=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    // The response is in flight once its first bytes arrive (waiting for that, not for a while).
    let mut response = vec![0u8; 512];
    let first = stream.read(&mut response).await.unwrap();
    assert!(first > 0, "the server closed before answering");
    response.truncate(first);
    let started = std::time::Instant::now();
    server.signal("TERM").unwrap();

    // New connections are refused soon after the signal.
    wait_until("the listener closes", Duration::from_secs(5), || async {
        Ok(tokio::net::TcpStream::connect(addr).await.is_err().then_some(()))
    })
    .await
    .unwrap();

    // The in-flight response completes, whole.
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(length > 100_000, "the page must not fit in socket buffers: {length}");
    assert_eq!(body.len(), length);
    let page: Value = serde_json::from_str(body).unwrap();
    assert_eq!(page["metadata"]["count"], 100);

    let status = server.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(12), "bounded drain");
    wait_until("the shutdown is logged", WAIT, || async { Ok(server.log_field("stopped", "message").map(|_| ())) })
        .await
        .unwrap();
}

type Received = Arc<Mutex<Vec<(String, Value)>>>;

#[handler]
#[expect(clippy::needless_pass_by_value, reason = "poem extractors are taken by value")]
fn otlp(req: &poem::Request, body: String, got: Data<&Received>) -> &'static str {
    let value = serde_json::from_str(&body).unwrap_or(Value::Null);
    got.lock().unwrap().push((req.uri().path().to_owned(), value));
    "{}"
}

fn spans(received: &Received) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/v1/traces")
        .flat_map(|(_, v)| {
            v["resourceSpans"].as_array().cloned().unwrap_or_default().into_iter().flat_map(|rs| {
                rs["scopeSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
            })
        })
        .collect()
}

fn metric_names(received: &Received) -> Vec<String> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/v1/metrics")
        .flat_map(|(_, v)| {
            v.to_string().match_indices("\"name\":\"").map(|(i, _)| i).collect::<Vec<_>>().into_iter().map({
                let s = v.to_string();
                move |i| s[i + 8..].split('"').next().unwrap_or("").to_owned()
            })
        })
        .collect()
}

fn attr(span: &Value, key: &str) -> Value {
    span["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .map_or(Value::Null, |a| a["value"].clone())
}

#[tokio::test]
async fn spans_and_metrics_reach_an_otlp_receiver() {
    let received: Received = Arc::default();
    let listener = Loopback::bind().await.unwrap();
    let port = listener.addr.port();
    listener.serve(
        Route::new().at("/v1/traces", poem::post(otlp)).at("/v1/metrics", poem::post(otlp)).data(received.clone()),
    );

    let seed = workspace_root().join("examples/data/seed-358-servers.json");
    let telemetry = json!({
        "enabled": true,
        "serviceName": "registry-under-test",
        "endpoint": format!("127.0.0.1:{port}"),
        "insecure": true,
        "protocol": "http/json",
        "tracing": {"enabled": true, "sampling": 1.0},
        "metrics": {"enabled": true, "interval": "1s"},
    });
    let app = TestApp::new()
        .source(SourceSpec::file("seed", &seed).format("upstream").interval("1h"))
        .set("telemetry", telemetry);
    let mut server = app.spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("{}/registry/seed/v0.1/servers?limit=2", server.base_url()))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.post("/v1/sources/seed/sync").await.unwrap().status, 202);
    wait_until("metrics are exported", WAIT, || async {
        let names = metric_names(&received);
        Ok((names.iter().any(|n| n == "http.server.request.duration")
            && names.iter().any(|n| n == "registry.sync.duration"))
        .then_some(()))
    })
    .await
    .unwrap();
    // Shutdown flushes the spans still buffered.
    server.signal("TERM").unwrap();
    assert!(server.wait_exit(Duration::from_secs(15)).await.unwrap().success());

    let spans = wait_until("spans arrive", WAIT, || async {
        let s = spans(&received);
        Ok((s.iter().any(|s| s["name"] == "GET /registry/{registry}/v0.1/servers")
            && s.iter().any(|s| s["name"] == "sync seed"))
        .then_some(s))
    })
    .await
    .unwrap_or_else(|e| {
        let got: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(p, v)| format!("{p}: {}", &v.to_string()[..v.to_string().len().min(300)]))
            .collect();
        panic!(
            "{e}\nreceived: {got:#?}\nspans: {:?}\nserver:\n{}",
            spans(&received).iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
            server.stderr()
        )
    });
    let request = spans.iter().find(|s| s["name"] == "GET /registry/{registry}/v0.1/servers").unwrap();
    assert_eq!(request["traceId"].as_str().unwrap().to_lowercase(), "4bf92f3577b34da6a3ce929d0e0e4736", "{request}");
    assert_eq!(request["parentSpanId"].as_str().unwrap().to_lowercase(), "00f067aa0ba902b7", "{request}");
    assert_eq!(attr(request, "http.route")["stringValue"], "/registry/{registry}/v0.1/servers");
    let sync = spans.iter().find(|s| s["name"] == "sync seed").unwrap();
    assert_eq!(attr(sync, "source.name")["stringValue"], "seed");
    assert!(matches!(attr(sync, "sync.outcome")["stringValue"].as_str(), Some("updated" | "unchanged")), "{sync}");
    let resource = received.lock().unwrap().iter().find(|(p, _)| p == "/v1/traces").unwrap().1.to_string();
    assert!(resource.contains("registry-under-test"), "service.name is exported");
}
