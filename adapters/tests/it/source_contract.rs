//! The `Source` contract (`thv_testkit::contract::source`) on every source adapter, each against
//! the real thing: a file in a temporary directory, an HTTP server on 127.0.0.1, a git repository
//! made with `git` and served by `git http-backend` behind basic auth, and an upstream registry
//! API. The table at the end runs every check on every kind it applies to.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use poem::http::StatusCode;
use poem::{Request, Response};
use tempfile::TempDir;
use thv_adapters::SystemClock;
use thv_adapters::source::api::ApiSource;
use thv_adapters::source::file::FileSource;
use thv_adapters::source::git::{GitAuth, GitPin, GitSource};
use thv_adapters::source::http_file::HttpFileSource;
use thv_domain::spec::ApiConfig;
use thv_ports::Source;
use thv_testkit::Loopback;
use thv_testkit::contract::source::{self, Listing, SourceFixture, api_rows, catalogue};
use thv_testkit::git::{Repo, serve_http};
use thv_testkit::upstream::Upstream;

/// The size limit of the oversized sources: below the catalogue's size in every form.
const LIMIT: u64 = 64;
/// The credentials the http-file, git and api sources are configured with.
const USER: &str = "registry-contract-bot";
const PASSWORD: &str = "c0ntract-Pa55word";
/// A token in the query of the http-file URL.
const QUERY_SECRET: &str = "qu3ry-t0ken-secret";
/// The token of the api source with a bearer token file.
const BEARER_TOKEN: &str = "c0ntract-bearer-t0ken";

/// The password, the user name and the `Authorization: Basic` value they make.
fn credentials() -> Vec<String> {
    let header = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    vec![PASSWORD.to_owned(), USER.to_owned(), header]
}

/// `http://USER:PASSWORD@host:port` from `http://host:port`.
fn with_credentials(base: &str) -> String {
    format!("http://{USER}:{PASSWORD}@{}", base.strip_prefix("http://").unwrap())
}

// ---------------------------------------------------------------------------------------------
// file: a file in a temporary directory.

struct FileFixture {
    dir: TempDir,
}

impl FileFixture {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.json"), catalogue(false)).unwrap();
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("registry.json")
    }
}

impl SourceFixture for FileFixture {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn present(&self) -> Box<dyn Source> {
        Box::new(FileSource::new(self.path()))
    }

    fn missing(&self) -> (Box<dyn Source>, String) {
        (Box::new(FileSource::new(self.dir.path().join("absent.json"))), "absent.json".to_owned())
    }

    fn oversized(&self) -> (Box<dyn Source>, u64) {
        (Box::new(FileSource::new(self.path()).with_max_bytes(LIMIT)), LIMIT)
    }

    fn change(&self) {
        std::fs::write(self.path(), catalogue(true)).unwrap();
    }

    fn listing(&self) -> Listing {
        Listing::Whole
    }

    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------
// http-file: `/registry.json` behind basic auth, with an ETag; the URL holds the credentials and
// a query token.

struct HttpFileFixture {
    base: String,
    /// The body and its ETag.
    served: Arc<Mutex<(Vec<u8>, &'static str)>>,
}

impl HttpFileFixture {
    async fn start() -> Self {
        let served = Arc::new(Mutex::new((catalogue(false), "\"v1\"")));
        let listener = Loopback::bind().await.unwrap();
        let base = listener.url();
        let state = Arc::clone(&served);
        let expected = format!("Basic {}", credentials()[2]);
        listener.serve(poem::endpoint::make(move |req: Request| {
            let (state, expected) = (Arc::clone(&state), expected.clone());
            async move {
                if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                    return Response::builder().status(StatusCode::UNAUTHORIZED).body("who are you?");
                }
                if req.uri().path() != "/registry.json" {
                    return Response::builder().status(StatusCode::NOT_FOUND).body("no such file");
                }
                let (body, etag) = state.lock().unwrap().clone();
                if req.headers().get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag) {
                    return Response::builder().status(StatusCode::NOT_MODIFIED).header("etag", etag).finish();
                }
                Response::builder().header("etag", etag).content_type("application/json").body(body)
            }
        }));
        Self { base, served }
    }

    fn source(&self, file: &str, max_bytes: u64) -> Box<dyn Source> {
        let url = format!("{}/{file}?token={QUERY_SECRET}", with_credentials(&self.base));
        Box::new(HttpFileSource::new(url, Duration::from_secs(20), "thv-contract/1".to_owned(), max_bytes).unwrap())
    }
}

impl SourceFixture for HttpFileFixture {
    fn kind(&self) -> &'static str {
        "http-file"
    }

    fn present(&self) -> Box<dyn Source> {
        self.source("registry.json", 1 << 20)
    }

    fn missing(&self) -> (Box<dyn Source>, String) {
        (self.source("absent.json", 1 << 20), "absent.json".to_owned())
    }

    fn oversized(&self) -> (Box<dyn Source>, u64) {
        (self.source("registry.json", LIMIT), LIMIT)
    }

    fn change(&self) {
        *self.served.lock().unwrap() = (catalogue(true), "\"v2\"");
    }

    fn listing(&self) -> Listing {
        Listing::Whole
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = credentials();
        secrets.push(QUERY_SECRET.to_owned());
        secrets
    }
}

// ---------------------------------------------------------------------------------------------
// git: a repository made with `git`, served over HTTP behind basic auth (the configured `auth`).

struct GitFixture {
    repo: Repo,
    url: String,
    caches: TempDir,
    next_cache: AtomicUsize,
}

impl GitFixture {
    async fn start() -> Self {
        let repo = Repo::init();
        repo.commit("registry.json", &catalogue(false));
        let base = serve_http(repo.root().to_owned(), USER, PASSWORD).await.unwrap();
        let url = format!("{base}/private/repo.git");
        Self { repo, url, caches: tempfile::tempdir().unwrap(), next_cache: AtomicUsize::new(0) }
    }

    /// A source with a cache directory of its own.
    fn source(&self, path: &str) -> GitSource {
        let cache = self.caches.path().join(self.next_cache.fetch_add(1, Ordering::SeqCst).to_string());
        let auth = GitAuth::new(USER, PASSWORD);
        GitSource::new(self.url.clone(), GitPin::Branch("main".to_owned()), path.to_owned(), Some(auth), cache)
    }
}

impl SourceFixture for GitFixture {
    fn kind(&self) -> &'static str {
        "git"
    }

    fn present(&self) -> Box<dyn Source> {
        Box::new(self.source("registry.json"))
    }

    fn missing(&self) -> (Box<dyn Source>, String) {
        (Box::new(self.source("absent.json")), "absent.json".to_owned())
    }

    fn oversized(&self) -> (Box<dyn Source>, u64) {
        (Box::new(self.source("registry.json").with_max_bytes(LIMIT)), LIMIT)
    }

    fn change(&self) {
        self.repo.commit("registry.json", &catalogue(true));
    }

    fn listing(&self) -> Listing {
        Listing::Whole
    }

    fn secrets(&self) -> Vec<String> {
        credentials()
    }
}

// ---------------------------------------------------------------------------------------------
// api: an upstream registry (`thv_testkit::upstream`, honouring `updated_since`); the endpoint
// holds the credentials.

struct ApiFixture {
    upstream: Upstream,
}

impl ApiFixture {
    async fn start() -> Self {
        Self { upstream: Upstream::start(api_rows(false)).await.unwrap() }
    }

    fn source(&self, path: &str, max_bytes: u64) -> Box<dyn Source> {
        let mut options = ApiConfig::new(format!("{}{path}", with_credentials(&self.upstream.base_url())));
        options.timeout = Duration::from_secs(20);
        options.max_bytes = max_bytes;
        Box::new(ApiSource::new(options, Arc::new(SystemClock)).unwrap())
    }
}

impl SourceFixture for ApiFixture {
    fn kind(&self) -> &'static str {
        "api"
    }

    fn present(&self) -> Box<dyn Source> {
        self.source("", 1 << 20)
    }

    fn missing(&self) -> (Box<dyn Source>, String) {
        (self.source("/absent", 1 << 20), "/absent/v0.1/servers".to_owned())
    }

    fn oversized(&self) -> (Box<dyn Source>, u64) {
        (self.source("", LIMIT), LIMIT)
    }

    fn change(&self) {
        self.upstream.set_rows(api_rows(true));
    }

    fn listing(&self) -> Listing {
        Listing::ChangesOnly
    }

    fn secrets(&self) -> Vec<String> {
        credentials()
    }
}

// ---------------------------------------------------------------------------------------------
// api_bearer: an upstream registry that answers 401 without `Authorization: Bearer
// BEARER_TOKEN`; the token comes from a file (and the endpoint holds no credentials).

struct ApiBearerFixture {
    upstream: Upstream,
    _dir: TempDir,
    token_file: PathBuf,
}

impl ApiBearerFixture {
    async fn start() -> Self {
        let upstream = Upstream::start(api_rows(false)).await.unwrap();
        upstream.require_bearer(Some(BEARER_TOKEN));
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{BEARER_TOKEN}\n")).unwrap();
        Self { upstream, _dir: dir, token_file }
    }

    fn source(&self, path: &str, max_bytes: u64) -> Box<dyn Source> {
        let mut options = ApiConfig::new(format!("{}{path}", self.upstream.base_url()));
        options.timeout = Duration::from_secs(20);
        options.max_bytes = max_bytes;
        options.bearer_token_file = Some(self.token_file.clone());
        Box::new(ApiSource::new(options, Arc::new(SystemClock)).unwrap())
    }
}

impl SourceFixture for ApiBearerFixture {
    fn kind(&self) -> &'static str {
        "api with a bearer token"
    }

    fn present(&self) -> Box<dyn Source> {
        self.source("", 1 << 20)
    }

    fn missing(&self) -> (Box<dyn Source>, String) {
        (self.source("/absent", 1 << 20), "/absent/v0.1/servers".to_owned())
    }

    fn oversized(&self) -> (Box<dyn Source>, u64) {
        (self.source("", LIMIT), LIMIT)
    }

    fn change(&self) {
        self.upstream.set_rows(api_rows(true));
    }

    fn listing(&self) -> Listing {
        Listing::ChangesOnly
    }

    fn secrets(&self) -> Vec<String> {
        vec![BEARER_TOKEN.to_owned(), format!("Bearer {BEARER_TOKEN}")]
    }
}

// ---------------------------------------------------------------------------------------------
// The table: one test per (kind, check), named `source_contract::<kind>::<check>`.

macro_rules! contract {
    ($kind:ident: $fixture:expr => $($check:ident),+ $(,)?) => {
        mod $kind {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    source::$check(&$fixture.await).await;
                }
            )+
        }
    };
}

// No `no_secret_shown` for file: a file source is configured with a path and a size limit only,
// it has no secret to show (see the suite's documentation).
contract!(file: FileFixture::start() =>
    unchanged_when_since_is_current, missing_is_not_found, over_the_limit_is_too_large, completeness_flag);
contract!(http_file: HttpFileFixture::start() =>
    unchanged_when_since_is_current, missing_is_not_found, over_the_limit_is_too_large, completeness_flag,
    no_secret_shown);
contract!(git: GitFixture::start() =>
    unchanged_when_since_is_current, missing_is_not_found, over_the_limit_is_too_large, completeness_flag,
    no_secret_shown);
contract!(api: ApiFixture::start() =>
    unchanged_when_since_is_current, missing_is_not_found, over_the_limit_is_too_large, completeness_flag,
    no_secret_shown);
contract!(api_bearer: ApiBearerFixture::start() =>
    unchanged_when_since_is_current, missing_is_not_found, over_the_limit_is_too_large, completeness_flag,
    no_secret_shown);
