//! The real `thv-registry-api` binary on a random port ([`TestServer`]): started in the
//! workspace root against real files, its output collected, and HTTP helpers to talk to it
//! (replies read whole: [`Reply`]) and to wait for its states.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::{WAIT, binary, first_source, wait_until, workspace_root};

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
    /// The directory of the [`crate::TestApp`] it was spawned from, kept as long as the server.
    app_dir: Option<Arc<TempDir>>,
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

    /// Like [`TestServer::start_in`] with extra environment and `serve` arguments (e.g.
    /// `DATABASE_URL`, `--internal-address`).
    pub async fn start_in_args(
        config: &Path,
        data_dir: &Path,
        extra_env: &[(&str, &str)],
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let mut env: Vec<(OsString, OsString)> = vec![("THV_REGISTRY_DATA_DIR".into(), data_dir.into())];
        env.extend(extra_env.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        Self::spawn_args(config, env, None, args).await
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
        Ok(Self { child, addr, client, output, _data_dir: data_dir, app_dir: None })
    }

    /// Keeps `dir` (its config, files and store) for as long as the server lives.
    #[must_use]
    pub(crate) fn keeping(mut self, dir: Arc<TempDir>) -> Self {
        self.app_dir = Some(dir);
        self
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTP client the handle's requests go through (timeouts, no proxy, no redirects).
    #[must_use]
    pub fn client(&self) -> &reqwest::Client {
        &self.client
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
        self.request(method, path, token, None).await
    }

    /// A request with an optional bearer token and a JSON body; the path is sent as given.
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> anyhow::Result<Reply> {
        self.request(method, path, token, Some(body)).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.client.request(method.clone(), &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await?;
        Ok(Reply { status, headers, body })
    }

    /// The `fields` of the server's JSON log lines whose message is `message`, in order.
    pub fn log_events(&self, message: &str) -> Vec<Value> {
        lock(&self.output)
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line.strip_prefix("[stdout] ").unwrap_or(line)).ok())
            .filter(|v| v["fields"]["message"] == message)
            .map(|v| v["fields"].clone())
            .collect()
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
