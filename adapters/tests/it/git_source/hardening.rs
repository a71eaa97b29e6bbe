//! The git source under hostile conditions: a server that stalls mid-fetch, packs larger than
//! the bound, a branch that moves many times, stale lock files, and credentials echoed back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener as TokioListener, TcpStream};
use tokio::sync::watch;

use super::*;

/// Upper bound on waiting for a state the code under test must reach; a failure, never a pause.
const PATIENCE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut).await.unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"))
}

/// A TCP proxy in front of a git HTTP server. While `stall` is set, it forwards a pack request
/// (a request body with `want `) to the server but never passes the answer back, like a server
/// that hangs mid-fetch. It counts the requests it held back and the held-back connections the
/// client has closed since.
struct StallingProxy {
    base: String,
    stall: Arc<AtomicBool>,
    held: watch::Receiver<u32>,
    closed: watch::Receiver<u32>,
}

impl StallingProxy {
    async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream.strip_prefix("http://").unwrap().parse().unwrap();
        let listener = TokioListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stall = Arc::new(AtomicBool::new(true));
        let (held_tx, held) = watch::channel(0);
        let (closed_tx, closed) = watch::channel(0);
        let (held_tx, closed_tx) = (Arc::new(held_tx), Arc::new(closed_tx));
        let flag = Arc::clone(&stall);
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect(upstream).await.unwrap();
                let (stall, held_tx, closed_tx) = (Arc::clone(&flag), Arc::clone(&held_tx), Arc::clone(&closed_tx));
                tokio::spawn(proxy_connection(client, server, stall, held_tx, closed_tx));
            }
        });
        Self { base, stall, held, closed }
    }
}

async fn proxy_connection(
    client: TcpStream,
    server: TcpStream,
    stall: Arc<AtomicBool>,
    held_tx: Arc<watch::Sender<u32>>,
    closed_tx: Arc<watch::Sender<u32>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let holding = Arc::new(AtomicBool::new(false));
    let holding_up = Arc::clone(&holding);
    tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = client_read.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            if stall.load(Ordering::SeqCst)
                && !holding_up.load(Ordering::SeqCst)
                && tail.windows(5).any(|w| w == b"want ")
            {
                holding_up.store(true, Ordering::SeqCst);
                held_tx.send_modify(|n| *n += 1);
            }
            tail.drain(..tail.len().saturating_sub(4));
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        // The client closed (or reset) its side.
        if holding_up.load(Ordering::SeqCst) {
            closed_tx.send_modify(|n| *n += 1);
        }
    });
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = server_read.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        if holding.load(Ordering::SeqCst) {
            continue;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn a_fetch_dropped_mid_pack_stops_and_the_next_fetch_works() {
    let origin = new_origin();
    let server = serve_git(origin.path.parent().unwrap().to_owned()).await;
    let mut proxy = StallingProxy::start(&server).await;
    let (src, _cache) = source(format!("{}/repo.git", proxy.base), branch("main"), "registry.json");

    // The caller's sync timeout drops the fetch future once the server has stalled on the pack.
    let mut fetch = src.fetch(None);
    tokio::select! {
        result = &mut fetch => panic!("the fetch ended although the server held the pack back: {result:?}"),
        held = proxy.held.wait_for(|n| *n == 1) => { held.unwrap(); }
    }
    assert!(tokio::time::timeout(Duration::from_millis(10), &mut fetch).await.is_err(), "still stalled");
    drop(fetch);

    // The blocking fetch gives up: its connection is closed, not left to the server's mercy.
    within("the stalled connection is closed", proxy.closed.wait_for(|n| *n == 1)).await.unwrap();

    // The same source (same cache, same one-fetch-at-a-time lock) fetches again once the server is healthy.
    proxy.stall.store(false, Ordering::SeqCst);
    let second = origin.commit("registry.json", V2);
    let (revision, doc) = within("the next fetch", documents(&src, None)).await;
    assert_eq!((revision, doc), (rev(&second), Bytes::from_static(V2)));
}

#[tokio::test]
async fn lock_files_left_by_a_crash_do_not_block_the_next_fetch() {
    let origin = new_origin();
    let cache = tempfile::tempdir().unwrap();
    let clone = cache.path().join("clone");
    let src = GitSource::new(origin.url(), branch("main"), "registry.json".into(), None, clone.clone());
    let (revision, _) = documents(&src, None).await;
    for lock in ["refs/heads/main.lock", "shallow.lock", "packed-refs.lock", "HEAD.lock", "config.lock"] {
        std::fs::write(clone.join(lock), b"").unwrap();
    }
    let second = origin.commit("registry.json", V2);
    assert_eq!(documents(&src, Some(&revision)).await, (rev(&second), Bytes::from_static(V2)));
}

/// `len` bytes that do not compress (xorshift), so a pack holding them is at least that large.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The packs in a bare clone: how many, and their total size in bytes.
fn packs(clone: &Path) -> (usize, u64) {
    let dir = clone.join("objects/pack");
    let Ok(items) = std::fs::read_dir(&dir) else { return (0, 0) };
    items
        .map(|item| item.unwrap())
        .filter(|item| item.path().extension().is_some_and(|e| e == "pack"))
        .fold((0, 0), |(n, bytes), item| (n + 1, bytes + item.metadata().unwrap().len()))
}

/// The size of every file under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|item| item.unwrap())
        .map(
            |item| {
                if item.file_type().unwrap().is_dir() {
                    tree_bytes(&item.path())
                } else {
                    item.metadata().unwrap().len()
                }
            },
        )
        .sum()
}

#[tokio::test]
async fn a_pack_larger_than_the_bound_fails_the_sync_and_names_the_bound() {
    const LIMIT: u64 = 1 << 20;
    let origin = new_origin();
    origin.commit("big.bin", &noise(3 << 20, 7));
    let cache = tempfile::tempdir().unwrap();
    let clone = cache.path().join("clone");
    let src =
        GitSource::new(origin.url(), branch("main"), "registry.json".into(), None, clone.clone()).with_max_bytes(LIMIT);
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::TooLarge(m) if m.contains("1048576 bytes") && m.contains(&origin.url())),
        "{err:?}"
    );
    assert!(tree_bytes(&clone) < LIMIT, "nothing of the refused pack is kept: {} bytes", tree_bytes(&clone));

    // The big file leaves the tip: a shallow fetch no longer needs it.
    origin.git(&["rm", "-q", "big.bin"]);
    origin.git(&["commit", "-q", "-m", "drop big.bin"]);
    let tip = origin.head();
    assert_eq!(documents(&src, None).await.0, rev(&tip));
    let (full, _c) = source(origin.url(), GitPin::Commit(tip.clone()), "registry.json");
    assert_eq!(documents(&full.with_max_bytes(LIMIT), None).await.0, rev(&tip), "a full id is fetched shallowly");

    // An abbreviated pin needs the whole history, which holds the big file: bounded the same way.
    let (short, _c) = source(origin.url(), GitPin::Commit(tip[..8].to_owned()), "registry.json");
    let err = fetch_err(&short.with_max_bytes(LIMIT)).await;
    assert!(matches!(&err, SourceError::TooLarge(m) if m.contains("1048576 bytes")), "{err:?}");
    let (short, _c) = source(origin.url(), GitPin::Commit(tip[..8].to_owned()), "registry.json");
    assert_eq!(documents(&short.with_max_bytes(8 * LIMIT), None).await.0, rev(&tip), "a larger bound lets it through");
}

#[tokio::test]
async fn many_syncs_of_a_moving_branch_keep_the_cache_bounded() {
    let origin = new_origin();
    let cache = tempfile::tempdir().unwrap();
    let clone = cache.path().join("clone");
    let src = GitSource::new(origin.url(), branch("main"), "registry.json".into(), None, clone.clone());
    let mut revision = documents(&src, None).await.0;
    let mut most_packs = 0;
    for i in 0..50 {
        // Each commit rewrites the file with 16 KiB of fresh data, so each fetch brings a new pack.
        let hex = hex::encode(noise(8 << 10, i + 1));
        let doc = format!(r#"[{{"name":"io.github.example/one","version":"1.0.{i}","description":"{hex}"}}]"#);
        let head = origin.commit("registry.json", doc.as_bytes());
        let (next, got) = documents(&src, Some(&revision)).await;
        assert_eq!((next.clone(), got), (rev(&head), Bytes::from(doc)), "fetch {i}");
        revision = next;
        most_packs = most_packs.max(packs(&clone).0);
    }
    let (fresh, fresh_cache) = source(origin.url(), branch("main"), "registry.json");
    documents(&fresh, None).await;
    let fresh_bytes = tree_bytes(&fresh_cache.path().join("clone"));
    assert!(most_packs <= 10, "at most 10 packs at any time, saw {most_packs}");
    let bytes = tree_bytes(&clone);
    assert!(bytes <= 4 * fresh_bytes, "the cache holds {bytes} bytes, a fresh clone {fresh_bytes}");
}

/// A git HTTP server that answers the ref advertisement with an `ERR` line echoing what the
/// client sent, credentials included, like a misbehaving proxy or server.
async fn serve_echo() -> String {
    let listener = thv_testkit::Loopback::bind().await.unwrap();
    let base = listener.url();
    let app = poem::endpoint::make(|req: Request| async move {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let decoded = auth
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let pkt = |text: &str| format!("{:04x}{text}", text.len() + 4);
        let err = format!("ERR access denied for `{auth}` ({decoded}) at {}\n", req.uri());
        let body = format!("{}0000{}", pkt("# service=git-upload-pack\n"), pkt(&err));
        Response::builder().header("Content-Type", "application/x-git-upload-pack-advertisement").body(body)
    });
    listener.serve(app);
    base
}

#[tokio::test]
async fn credentials_echoed_by_a_server_never_reach_the_error() {
    let base = serve_echo().await;
    let url = format!("{base}/repo.git");
    let cache = tempfile::tempdir().unwrap();
    let auth = GitAuth::new(USER, PASSWORD);
    let src = GitSource::new(url.clone(), branch("main"), "registry.json".into(), Some(auth), cache.path().join("a"));
    let err = fetch_err(&src).await;
    let text = format!("{err} {err:?}");
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&url)), "{err:?}");
    assert!(text.contains("access denied"), "the server's message is kept: {text}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(!text.contains(PASSWORD) && !text.contains(&encoded) && !text.contains(USER), "{text}");
    assert!(!src.describe().contains(USER) && !src.describe().contains(PASSWORD));
}
