//! Real git repositories for the tests: made with the `git` CLI (isolated from the user's and the
//! system's configuration), and served over HTTP by `git http-backend` behind a small poem CGI
//! endpoint on a [`Loopback`], in the open and behind basic auth.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use poem::http::StatusCode;
use poem::{Request, Response};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt as _;

use crate::Loopback;

/// Runs `git` in `dir`, isolated from the user's configuration, and returns its trimmed stdout.
/// Panics (failing the test) when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("running git {args:?}: {e}"));
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A repository with a working tree on branch `main`, named `repo.git` so that [`serve_http`]
/// serves it as `/repo.git` (and `/private/repo.git`). Removed when dropped.
#[derive(Debug)]
pub struct Repo {
    _root: TempDir,
    /// The repository's directory (`…/repo.git`); its parent is the root to serve.
    pub path: PathBuf,
}

impl Repo {
    /// `git init -b main`, with an identity and no signing; no commit yet.
    pub fn init() -> Self {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
        let path = root.path().join("repo.git");
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        git(&path, &["init", "-q", "-b", "main"]);
        git(&path, &["config", "user.name", "Test"]);
        git(&path, &["config", "user.email", "test@example.com"]);
        git(&path, &["config", "commit.gpgsign", "false"]);
        Self { _root: root, path }
    }

    /// Writes `file` (creating directories) and commits it; returns the new commit id.
    pub fn commit(&self, file: &str, bytes: &[u8]) -> String {
        let target = self.path.join(file);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(&target, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("update {file}")]);
        self.head()
    }

    /// The commit id of `HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs `git` in the repository.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }

    /// `file://…/repo.git`.
    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// The directory holding the repository: what [`serve_http`] serves.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(&self.path)
    }
}

/// Serves the repositories under `root` at `http://127.0.0.1:PORT/<name>`, and again at
/// `/private/<name>` behind basic auth with `user` and `password`, until the test's runtime ends.
/// Returns the base URL.
pub async fn serve_http(root: PathBuf, user: &str, password: &str) -> anyhow::Result<String> {
    let listener = Loopback::bind().await?;
    let base = listener.url();
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    let app = poem::endpoint::make(move |req| {
        let (root, expected) = (root.clone(), expected.clone());
        async move { cgi(req, &root, &expected).await.unwrap_or_else(|e| server_error(&e)) }
    });
    listener.serve(app);
    Ok(base)
}

fn server_error(e: &anyhow::Error) -> Response {
    Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(format!("git http-backend: {e:#}"))
}

/// One request through `git http-backend` (CGI).
async fn cgi(mut req: Request, root: &Path, expected_auth: &str) -> anyhow::Result<Response> {
    let path = req.uri().path().to_owned();
    let path_info = match path.strip_prefix("/private") {
        Some(rest) => {
            let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
            if auth != Some(expected_auth) {
                return Ok(Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("WWW-Authenticate", "Basic realm=\"git\"")
                    .body("authentication required"));
            }
            rest.to_owned()
        }
        None => path,
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, encoding, protocol) =
        (header("content-type"), header("content-encoding"), header("git-protocol"));
    let body = req.take_body().into_vec().await?;
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", req.uri().query().unwrap_or_default())
        .env("REQUEST_METHOD", req.method().as_str())
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("HTTP_GIT_PROTOCOL", protocol)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    // Written concurrently with reading stdout; the backend may stop reading early.
    let writer = tokio::spawn(async move { stdin.write_all(&body).await.ok() });
    let output = child.wait_with_output().await?;
    writer.await?;
    cgi_response(&output.stdout)
}

/// Splits a CGI response into its headers (`Status:` and others) and body.
fn cgi_response(out: &[u8]) -> anyhow::Result<Response> {
    let (head, body) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| out.windows(sep.len()).position(|w| w == *sep).map(|i| (i, sep.len())))
        .min()
        .map_or((&out[..0], out), |(i, len)| (&out[..i], &out[i + len..]));
    let mut response = Response::builder();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default().parse::<u16>()?;
            response = response.status(StatusCode::from_u16(code)?);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    Ok(response.body(body.to_vec()))
}
