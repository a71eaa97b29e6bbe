//! Black-box test helpers: run the real `thv-registry-api` binary on a random port against real
//! files, and talk to it over HTTP.
//!
//! The binary is taken from `THV_REGISTRY_API_BIN` when set; otherwise it is built once per test
//! process with `cargo build -p thv-app --bin thv-registry-api`.

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub mod kubernetes;
pub mod oidc;
pub mod pg;
pub mod upstream;

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// How long to wait for anything asynchronous (start-up, a re-read, readiness).
pub const WAIT: Duration = Duration::from_secs(30);

/// Key of the official registry metadata under `_meta`.
pub const OFFICIAL: &str = "io.modelcontextprotocol.registry/official";

/// The `$schema` written into the server.json documents of the test catalogues.
pub const SERVER_SCHEMA: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

const POLL: Duration = Duration::from_millis(50);

/// The workspace root (`CARGO_MANIFEST_DIR/..`); the server runs with it as working directory, so
/// the relative paths of `examples/*.yaml` resolve.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.join(".."), Path::to_path_buf)
}

/// A file of this crate (`integration-tests/<rel>`).
pub fn crate_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Path of the server binary: `THV_REGISTRY_API_BIN`, or built once per process.
pub fn binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if let Some(bin) = std::env::var_os("THV_REGISTRY_API_BIN") {
        return Ok(PathBuf::from(bin));
    }
    BUILT.get_or_init(build_binary).clone().map_err(|e| anyhow!(e))
}

fn build_binary() -> Result<PathBuf, String> {
    let root = workspace_root();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", "thv-app", "--bin", "thv-registry-api"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("running `{cargo} build`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build -p thv-app --bin thv-registry-api` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = if target.is_relative() { root.join(target) } else { target };
    let bin = target.join("debug").join(format!("thv-registry-api{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() { Ok(bin) } else { Err(format!("built, but {} does not exist", bin.display())) }
}

/// An HTTP reply, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("body is not JSON (status {}): {}", self.status, self.body))
    }

    /// The `content-type` header, or `""`.
    pub fn content_type(&self) -> &str {
        self.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct TestServer {
    child: Child,
    addr: SocketAddr,
    client: reqwest::Client,
    output: Arc<Mutex<Vec<String>>>,
    _data_dir: Option<TempDir>,
}

impl TestServer {
    /// Starts `serve --config <config> --address 127.0.0.1:0` in the workspace root. Unless
    /// `extra_env` sets `THV_REGISTRY_DATA_DIR`, it points at a fresh temporary directory owned
    /// by the handle.
    pub async fn start(config: &Path, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut env: Vec<(OsString, OsString)> = extra_env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut owned = None;
        if !extra_env.iter().any(|(k, _)| *k == "THV_REGISTRY_DATA_DIR") {
            let dir = tempfile::tempdir().context("creating a data dir")?;
            env.push(("THV_REGISTRY_DATA_DIR".into(), dir.path().into()));
            owned = Some(dir);
        }
        Self::spawn(config, env, owned).await
    }

    /// Starts the server with `THV_REGISTRY_DATA_DIR=<data_dir>` (kept by the caller, e.g. to
    /// restart on the same store).
    pub async fn start_in(config: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn(config, vec![("THV_REGISTRY_DATA_DIR".into(), data_dir.into())], None).await
    }

    /// Like [`TestServer::start`] with extra `serve` arguments (e.g. `--internal-address`).
    pub async fn start_args(config: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> anyhow::Result<Self> {
        let mut env: Vec<(OsString, OsString)> = extra_env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let dir = tempfile::tempdir().context("creating a data dir")?;
        env.push(("THV_REGISTRY_DATA_DIR".into(), dir.path().into()));
        Self::spawn_args(config, env, Some(dir), args).await
    }

    async fn spawn(config: &Path, env: Vec<(OsString, OsString)>, data_dir: Option<TempDir>) -> anyhow::Result<Self> {
        Self::spawn_args(config, env, data_dir, &[]).await
    }

    async fn spawn_args(
        config: &Path,
        env: Vec<(OsString, OsString)>,
        data_dir: Option<TempDir>,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let bin = binary()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--address")
            .arg("127.0.0.1:0")
            .args(args)
            .current_dir(workspace_root())
            .env("RUST_LOG", "info")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("spawning {}", bin.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect_lines(stderr, "", Arc::clone(&output), Some(tx)));
        }
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect_lines(stdout, "[stdout] ", Arc::clone(&output), None));
        }
        let addr = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(addr)) => addr,
            Ok(Err(_)) => {
                // stderr closed before the line: the process (probably) exited.
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                let lines = lock(&output).join("\n");
                bail!("server closed stderr before logging `listening` (exit: {status:?}); output:\n{lines}");
            }
            Err(_) => {
                let lines = lock(&output).join("\n");
                bail!("no `listening` log line within {WAIT:?}; output:\n{lines}");
            }
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent("thv-integration-tests")
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Self { child, addr, client, output, _data_dir: data_dir })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the server wrote so far (stderr lines, then stdout lines prefixed `[stdout] `).
    pub fn stderr(&self) -> String {
        lock(&self.output).join("\n")
    }

    /// `GET <base><path_and_query>` (the path is sent as given: encode it yourself).
    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<Reply> {
        let url = format!("{}{path_and_query}", self.base_url());
        self.fetch(&url).await
    }

    /// `POST <base><path>` with an empty body.
    pub async fn post(&self, path: &str) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base_url());
        let resp = self.client.post(&url).send().await.with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await?;
        Ok(Reply { status, headers, body })
    }

    /// A request with an optional bearer token; the path is sent as given.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.client.request(method.clone(), &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await?;
        Ok(Reply { status, headers, body })
    }

    /// `GET /v1/sources/{name}`.
    pub async fn source(&self, name: &str) -> anyhow::Result<Value> {
        self.get_json(&format!("/v1/sources/{name}")).await
    }

    /// Waits until source `name` (from `/v1/sources/{name}`) satisfies `pred`; returns it.
    pub async fn wait_named_source(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        wait_until(what, WAIT, || async {
            let source = self.source(name).await?;
            Ok(pred(&source).then_some(source))
        })
        .await
        .with_context(|| format!("server output:\n{}", self.stderr()))
    }

    /// Triggers a sync of `name`, retrying while one is already running (409).
    pub async fn trigger_sync(&self, name: &str) -> anyhow::Result<()> {
        wait_until("sync accepted", WAIT, || async {
            let reply = self.post(&format!("/v1/sources/{name}/sync")).await?;
            match reply.status {
                202 => Ok(Some(())),
                409 => Ok(None),
                other => Err(anyhow!("POST sync of {name}: {other} {}", reply.body)),
            }
        })
        .await
    }

    /// `GET <base><path>?<params>`, the parameters form-encoded.
    pub async fn get_query(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base_url()))?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        self.fetch(url.as_str()).await
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<Reply> {
        let resp = self.client.get(url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.with_context(|| format!("reading the body of GET {url}"))?;
        Ok(Reply { status, headers, body })
    }

    /// `GET`, expecting 200 with a JSON body.
    pub async fn get_json(&self, path_and_query: &str) -> anyhow::Result<Value> {
        let reply = self.get(path_and_query).await?;
        ensure!(reply.status == 200, "GET {path_and_query}: status {} body {}", reply.status, reply.body);
        reply.json()
    }

    /// `GET` with parameters, expecting 200 with a JSON body.
    pub async fn get_json_query(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let reply = self.get_query(path, params).await?;
        ensure!(reply.status == 200, "GET {path} {params:?}: status {} body {}", reply.status, reply.body);
        reply.json()
    }

    /// `GET /readiness`: status code and body.
    pub async fn readiness(&self) -> anyhow::Result<(u16, Value)> {
        let reply = self.get("/readiness").await?;
        Ok((reply.status, reply.json()?))
    }

    /// Waits until `/readiness` answers 200 with `"status":"ready"`; returns the body.
    pub async fn wait_ready(&self) -> anyhow::Result<Value> {
        wait_until("readiness 200", WAIT, || async {
            let (status, body) = self.readiness().await?;
            Ok((status == 200 && body["status"] == "ready").then_some(body))
        })
        .await
        .with_context(|| format!("server output:\n{}", self.stderr()))
    }

    /// The status of the first source of the first registry, from `/readiness`.
    pub async fn source_status(&self) -> anyhow::Result<Value> {
        let (_, body) = self.readiness().await?;
        first_source(&body)
    }

    /// Waits until the first source's status (from `/readiness`) satisfies `pred`; returns it.
    pub async fn wait_source(&self, what: &str, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        wait_until(what, WAIT, || async {
            let source = self.source_status().await?;
            Ok(pred(&source).then_some(source))
        })
        .await
        .with_context(|| format!("server output:\n{}", self.stderr()))
    }

    /// Walks every page of a list endpoint with `limit`, following `metadata.nextCursor`;
    /// checks `count` == number of rows, full pages before the last, `nextCursor` absent exactly
    /// on the last page. Returns every row.
    pub async fn list_all(&self, path: &str, params: &[(&str, &str)], limit: usize) -> anyhow::Result<Vec<Value>> {
        Ok(self.list_pages(path, params, limit).await?.into_iter().flatten().collect())
    }

    /// Like [`TestServer::list_all`], but returns the rows page by page.
    pub async fn list_pages(
        &self,
        path: &str,
        params: &[(&str, &str)],
        limit: usize,
    ) -> anyhow::Result<Vec<Vec<Value>>> {
        let limit_text = limit.to_string();
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            ensure!(pages.len() < 10_000, "more than 10000 pages: the cursor does not advance");
            let mut query: Vec<(&str, &str)> = params.to_vec();
            query.push(("limit", &limit_text));
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let body = self.get_json_query(path, &query).await?;
            let rows =
                body["servers"].as_array().with_context(|| format!("`servers` is not an array: {body}"))?.clone();
            let count = body["metadata"]["count"].as_u64().with_context(|| format!("no metadata.count: {body}"))?;
            ensure!(
                usize::try_from(count)? == rows.len(),
                "metadata.count {count} but {} rows (page {})",
                rows.len(),
                pages.len() + 1
            );
            ensure!(rows.len() <= limit, "{} rows on a page with limit {limit}", rows.len());
            let next = body["metadata"].get("nextCursor");
            pages.push(rows);
            match next {
                None => return Ok(pages),
                Some(Value::String(next)) if !next.is_empty() => {
                    let n = pages.last().map_or(0, Vec::len);
                    ensure!(n == limit, "page {} has nextCursor but only {n} of {limit} rows", pages.len());
                    ensure!(cursor.as_deref() != Some(next.as_str()), "nextCursor repeats the cursor {next:?}");
                    cursor = Some(next.clone());
                }
                Some(other) => bail!("nextCursor present but not a non-empty string: {other}"),
            }
        }
    }

    /// Kills the process and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("killing the server")
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`) to the server.
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the server has exited")?;
        let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status()?;
        ensure!(status.success(), "kill -{name} {pid} failed");
        Ok(())
    }

    /// Waits for the server to exit, at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .context("the server did not exit in time")?
            .context("waiting for the server")
    }

    /// The value of `field` in the first JSON log line whose message is `message`.
    pub fn log_field(&self, message: &str, field: &str) -> Option<String> {
        lock(&self.output).iter().find_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            (v["fields"]["message"] == message).then(|| v["fields"][field].as_str().map(str::to_owned))?
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn collect_lines<R: AsyncRead + Unpin>(
    reader: R,
    prefix: &'static str,
    output: Arc<Mutex<Vec<String>>>,
    mut listening: Option<oneshot::Sender<SocketAddr>>,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if listening.is_some()
            && let Some(addr) = listening_address(&line)
            && let Some(tx) = listening.take()
        {
            let _ = tx.send(addr);
        }
        lock(&output).push(format!("{prefix}{line}"));
    }
}

/// The address of a `"fields":{"message":"listening","address":…}` log line.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// The first source of the first registry of a `/readiness` body.
pub fn first_source(readiness: &Value) -> anyhow::Result<Value> {
    readiness["registries"][0]["sources"][0]
        .as_object()
        .map(|o| Value::Object(o.clone()))
        .with_context(|| format!("no registries[0].sources[0] in {readiness}"))
}

/// Polls `probe` every 50 ms until it returns `Ok(Some(_))`; errors count as "not yet" (the last
/// one is reported on timeout).
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if start.elapsed() > timeout {
            return match last_error {
                Some(e) => Err(e.context(format!("timed out after {timeout:?} waiting for {what}"))),
                None => Err(anyhow!("timed out after {timeout:?} waiting for {what}")),
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The official registry metadata of a row.
pub fn official(row: &Value) -> &Value {
    &row["_meta"][OFFICIAL]
}

/// `(name, version)` of a row.
pub fn name_version(row: &Value) -> (String, String) {
    let s = &row["server"];
    (s["name"].as_str().unwrap_or_default().to_owned(), s["version"].as_str().unwrap_or_default().to_owned())
}

/// Percent-encodes a path segment (everything but unreserved characters; `/` → `%2F`, `+` →
/// `%2B`).
pub fn enc(segment: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A minimal server.json.
pub fn server_json(name: &str, version: &str, description: &str) -> Value {
    json!({ "$schema": SERVER_SCHEMA, "name": name, "description": description, "version": version })
}

/// A temporary directory holding a config file, a data file and a store directory, for a
/// single-registry, single-file-source configuration.
#[derive(Debug)]
pub struct Fixture {
    dir: TempDir,
    registry: String,
}

impl Fixture {
    /// A fixture whose data file holds `data` (format `upstream`, re-read every `interval`).
    pub fn new(registry: &str, interval: &str, data: &Value) -> anyhow::Result<Self> {
        let fixture = Self::without_data(registry, "upstream", interval)?;
        fixture.write_data(data)?;
        Ok(fixture)
    }

    /// A fixture whose data file does not exist (yet).
    pub fn without_data(registry: &str, format: &str, interval: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a fixture dir")?;
        let fixture = Self { dir, registry: registry.to_owned() };
        std::fs::create_dir_all(fixture.data_dir())?;
        let config = format!(
            "registryName: {registry}\ndataDir: {}\nsource:\n  type: file\n  format: {format}\n  file:\n    path: {}\nsyncPolicy:\n  interval: \"{interval}\"\n",
            yaml_string(&fixture.data_dir())?,
            yaml_string(&fixture.data_file())?,
        );
        std::fs::write(fixture.config_file(), config)?;
        Ok(fixture)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn data_file(&self) -> PathBuf {
        self.dir.path().join("registry.json")
    }

    /// The store directory (`THV_REGISTRY_DATA_DIR`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Replaces the data file with `data` (written aside, then renamed over it).
    pub fn write_data(&self, data: &Value) -> anyhow::Result<()> {
        self.write_raw(serde_json::to_string_pretty(data)?.as_bytes())
    }

    /// Replaces the data file with `bytes` (written aside, then renamed over it).
    pub fn write_raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = self.dir.path().join("registry.json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.data_file())?;
        Ok(())
    }

    /// Deletes the data file.
    pub fn remove_data(&self) -> anyhow::Result<()> {
        std::fs::remove_file(self.data_file()).context("removing the data file")
    }

    /// Starts a server on this fixture's config and store.
    pub async fn start(&self) -> anyhow::Result<TestServer> {
        TestServer::start_in(&self.config_file(), &self.data_dir()).await
    }
}

/// Writes `yaml` as `config.yaml` in `dir`; returns its path.
pub fn write_config(dir: &Path, yaml: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn yaml_string(path: &Path) -> anyhow::Result<String> {
    let s = path.to_str().with_context(|| format!("non-UTF-8 path {}", path.display()))?;
    Ok(serde_json::to_string(s)?)
}

/// A listener on 127.0.0.1 with a free port, for the stub servers of the tests (an upstream
/// registry, an `OpenID` provider, a Kubernetes API, an OTLP receiver). The address is known before
/// the app is built, so the app can refer to itself.
pub struct Loopback {
    acceptor: poem::listener::TcpAcceptor,
    pub addr: SocketAddr,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Loopback {
    pub async fn bind() -> anyhow::Result<Self> {
        use poem::listener::{Acceptor as _, Listener as _};
        let acceptor =
            poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.context("binding 127.0.0.1")?;
        let addr = acceptor
            .local_addr()
            .into_iter()
            .find_map(|a| a.as_socket_addr().copied())
            .context("the listener has no socket address")?;
        Ok(Self { acceptor, addr })
    }

    /// Serves `app` until the returned task is aborted (or the test ends).
    pub fn serve<E>(self, app: E) -> tokio::task::JoinHandle<()>
    where
        E: poem::IntoEndpoint + Send + 'static,
        E::Endpoint: 'static,
    {
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(self.acceptor).run(app).await;
        })
    }
}
