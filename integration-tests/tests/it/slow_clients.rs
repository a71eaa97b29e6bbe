//! Slow and silent clients against the binary, with short connection timeouts: hundreds of
//! connections that send a request and never read the answer, send nothing, or send half a
//! request head are all closed by the server within its timeouts, while `/health` keeps answering
//! on fresh connections; and `http.maxConnections` refuses connections beyond it at once (the
//! internal listener keeps its own allowance).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail the test on purpose")]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thv_testkit::{SourceSpec, TestApp, TestServer, WAIT, wait_until, workspace_root};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the server on the seed catalogue (registry `seed`, hourly) with the `http` section
/// `http`. It is not waited for to be ready: that would leave a pooled connection of the test
/// client open (one more against `maxConnections`).
async fn start(http: Value, args: &[&str]) -> (TestServer, SocketAddr) {
    let seed = workspace_root().join("examples/data/seed-358-servers.json");
    let app = TestApp::new().source(SourceSpec::file("seed", &seed).interval("1h")).set("http", http);
    let srv = app.spawn_with(&[], args).await.unwrap();
    let addr = srv.base_url().trim_start_matches("http://").parse().unwrap();
    (srv, addr)
}

/// Connects with a small receive buffer, so a client that does not read stops the server's
/// writes after a few KiB instead of after the kernel's default window.
async fn connect(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Waits, without reading, until the server has closed the connection (a FIN after whatever it
/// sent, or a reset).
async fn closed(stream: &TcpStream) -> io::Result<()> {
    loop {
        if stream.ready(Interest::READABLE).await?.is_read_closed() {
            return Ok(());
        }
        // Data arrived (an answer this client leaves unread): forget that and wait for the next
        // event. The closed state, once seen, is never forgotten.
        let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
    }
}

/// `GET /health` on a fresh connection, fully read; the status code (0: closed with no answer).
async fn health(addr: SocketAddr) -> u16 {
    status(addr, "/health").await
}

/// `GET <path>` on a fresh connection, fully read; the status code (0: closed with no answer).
async fn status(addr: SocketAddr, path: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr).await else { return 0 };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `GET /health` on fresh connections, one after the other, until stopped; every one must be a
/// 200 within 5 s.
struct Prober {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Prober {
    fn start(addr: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), served.clone());
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_secs(5), health(addr)).await {
                    Ok(200) => count.fetch_add(1, Ordering::Relaxed),
                    Ok(other) => return Err(format!("GET /health answered {other}")),
                    Err(_) => return Err("GET /health took longer than 5 s".to_owned()),
                };
            }
            Ok(())
        });
        Self { stop, served, task }
    }

    /// Stops; fails unless every probe was a 200 and at least `min` were served.
    async fn finish(self, min: usize) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap().unwrap();
        let served = self.served.load(Ordering::Relaxed);
        assert!(served >= min, "only {served} health probes were served");
        served
    }
}

#[tokio::test]
async fn unread_silent_and_half_sent_connections_are_closed_within_the_timeouts() {
    let http = json!({
        "readHeaderTimeout": format!("{}ms", READ_HEADER_TIMEOUT.as_millis()),
        "idleTimeout": format!("{}ms", IDLE_TIMEOUT.as_millis()),
        "writeTimeout": format!("{}ms", WRITE_TIMEOUT.as_millis()),
    });
    let (srv, addr) = start(http, &[]).await;
    srv.wait_ready().await.unwrap();
    // A page of 100 servers is ~110 KiB; 64 of them pipelined are far more than the kernel
    // buffers on both sides, so the server's writes stall on a client that does not read.
    let big = "GET /v0.1/servers?limit=100 HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(64);
    let small = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut kinds: Vec<(&str, &[u8])> = Vec::new();
    kinds.extend(std::iter::repeat_n(("a complete request for big pages, never read", big.as_bytes()), 20));
    kinds.extend(std::iter::repeat_n(("a complete request, never read", small.as_bytes()), 180));
    kinds.extend(std::iter::repeat_n(("nothing", &b""[..]), 200));
    kinds.extend(std::iter::repeat_n(("half a request line", &b"GET /v0.1/serv"[..]), 10));
    kinds.extend(std::iter::repeat_n(("half a head", &b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Half: "[..]), 10));

    let started = Instant::now();
    let mut streams = Vec::new();
    for (what, sent) in kinds {
        let mut stream = connect(addr).await;
        stream.write_all(sent).await.unwrap();
        streams.push((what, stream));
    }
    assert_eq!(health(addr).await, 200, "a fresh connection is served while {} hang", streams.len());
    let prober = Prober::start(addr);

    let bound = READ_HEADER_TIMEOUT.max(IDLE_TIMEOUT).max(WRITE_TIMEOUT) * 10;
    let mut waits = JoinSet::new();
    for (i, (what, stream)) in streams.into_iter().enumerate() {
        waits.spawn(async move {
            let result = tokio::time::timeout(bound, closed(&stream)).await;
            (i, what, result.map_err(|_| ()).and_then(|r| r.map_err(|_| ())).is_ok())
        });
    }
    let mut open = Vec::new();
    while let Some(done) = waits.join_next().await {
        let (i, what, closed) = done.unwrap();
        if !closed {
            open.push(format!("#{i} ({what})"));
        }
    }
    let took = started.elapsed();
    prober.finish(1).await;
    assert!(open.is_empty(), "still open after {took:?}: {}\n{}", open.len(), open.join(", "));
    assert_eq!(health(addr).await, 200);
    drop(srv);
}

/// A keep-alive connection that has been served `GET /health` and is now idle.
async fn served_and_held(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains("\"status\"") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
    stream
}

/// Connects, sends `GET /health` and reads until the server closes; what it answered (nothing,
/// for a refused connection). Bounded by `WAIT`: a connection left waiting fails the test.
async fn answer(addr: SocketAddr) -> Vec<u8> {
    // A connection the server resets at once may fail already while connecting (on a loaded
    // machine the reset can arrive before connect returns): that is no answer too.
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Vec::new(),
        Err(e) => panic!("cannot connect to {addr}: {e}"),
    };
    let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("neither answered nor closed") {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn warnings(srv: &TestServer) -> usize {
    srv.stderr().lines().filter(|l| l.contains("connection limit reached")).count()
}

#[tokio::test]
async fn connections_over_max_connections_are_closed_at_once_and_the_internal_port_keeps_its_own() {
    // Timeouts far longer than the test: a connection closed here is closed by the cap.
    let http = json!({"readHeaderTimeout": "10m", "idleTimeout": "10m", "maxConnections": 5});
    let (srv, addr) = start(http, &["--internal-address", "127.0.0.1:0"]).await;
    let internal: SocketAddr = wait_until("the internal address is logged", WAIT, || async {
        Ok(srv.log_field("internal endpoints listening", "address"))
    })
    .await
    .unwrap()
    .parse()
    .unwrap();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(served_and_held(addr).await);
    }

    let started = Instant::now();
    for i in 0..3 {
        let got = answer(addr).await;
        assert!(got.is_empty(), "connection #{} over the cap was answered: {}", 6 + i, String::from_utf8_lossy(&got));
    }
    let refused_in = started.elapsed();
    assert!(refused_in < Duration::from_secs(10), "refusing took {refused_in:?}");
    assert_eq!(health(internal).await, 200, "the internal port has its own allowance");
    // Three refusals within REFUSAL_WARNING_EVERY (10 s): one warning. Warnings are written
    // before the connection is reset, so before the log line of a later request: wait for one.
    assert_eq!(status(internal, "/version").await, 200);
    wait_until("the log line of GET /version", WAIT, || async {
        Ok(srv.stderr().contains("\"route\":\"/version\"").then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(warnings(&srv), 1, "{}", srv.stderr());
    assert!(srv.stderr().contains("\"max_connections\":5"), "{}", srv.stderr());

    // One of the five leaves: a new connection is served (once the server has seen it go).
    drop(held.pop());
    let reply = wait_until("a connection is served again", WAIT, || async {
        let got = answer(addr).await;
        Ok((!got.is_empty()).then_some(got))
    })
    .await
    .unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
    drop(held);
}
