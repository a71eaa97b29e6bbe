//! The raw-TCP side of the hardening tests: a prober of normal traffic, one raw HTTP/1.1
//! exchange, reading a raw response's status, headers and problem body, stalling a connection,
//! and waiting for a request log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use thv_testkit::{TestServer, WAIT, wait_until};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Normal traffic during an attack: a GET every 50 ms on fresh connections, each of which must
/// be a 200 within 5 s.
pub(super) struct Prober {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    task: JoinHandle<Result<(), String>>,
}

impl Prober {
    pub(super) fn start(base: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let url = format!("{base}/v0.1/servers?limit=1");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .unwrap();
        let (flag, count) = (stop.clone(), served.clone());
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => count.fetch_add(1, Ordering::Relaxed),
                    Ok(r) => return Err(format!("normal GET answered {}", r.status())),
                    Err(e) => return Err(format!("normal GET failed: {e}")),
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        });
        Self { stop, served, task }
    }

    /// Waits for two more probes (so some ran after the attack too), then stops; fails unless
    /// every probe was a 200.
    pub(super) async fn finish(self) {
        let target = self.served.load(Ordering::Relaxed) + 2;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.served.load(Ordering::Relaxed) < target && !self.task.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap().unwrap();
        let served = self.served.load(Ordering::Relaxed);
        assert!(served >= target, "only {served} normal requests were served");
    }
}

/// A raw HTTP/1.1 exchange: sends `request`, reads until the server closes (at most 10 s: a hang
/// fails the test). A reset after a partial answer keeps what was read.
pub(super) async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(elapsed) => {
                panic!("the server neither answered nor closed ({elapsed}); got {:?}", String::from_utf8_lossy(&out))
            }
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Status code of a raw response (0 when there is none).
pub(super) fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A header of a raw response, by lower-case name.
pub(super) fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The problem+json body of a raw response (`Connection: close`, so not chunked).
pub(super) fn problem(response: &str) -> Value {
    assert_eq!(header(response, "content-type"), Some("application/problem+json"), "{response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let problem: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    assert_eq!(problem["status"], status(response), "{response}");
    problem
}

/// Whether the server logged a request line with this status (request lines are written in
/// batches, so this waits for it).
pub(super) async fn logged(srv: &TestServer, status: u16) -> bool {
    wait_until("the request line", WAIT, || async {
        Ok(srv
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["fields"]["message"] == "request" && v["fields"]["status"] == status)
            .then_some(()))
    })
    .await
    .is_ok()
}

/// Sends `head` and stalls; returns how long the server took to close the connection.
pub(super) async fn stall(addr: SocketAddr, head: &[u8]) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "expected the connection to be closed, got {read:?}");
    started.elapsed()
}

/// Reads one response with a `Content-Length` from a keep-alive connection.
pub(super) async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = header(&format!("{head}\r\n\r\n"), "content-length").unwrap().parse().unwrap();
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed mid-response: {text}");
        out.extend_from_slice(&buf[..n]);
    }
}
