//! A source that reads a registry file from a git repository.
//!
//! The source keeps a **bare** clone in a cache directory it owns and reads one file (a blob) from
//! the tree of the configured commit; no working tree is ever checked out. The revision is the
//! full hex id of that commit, so a sync whose commit did not move is a cheap no-op.
//!
//! - A **branch** is fetched shallowly (depth 1) on every sync, only that branch: new commits are
//!   picked up, and an unchanged branch costs one ref advertisement and no pack.
//! - A **tag** is fetched the same way (tags may be moved, re-resolving one is cheap).
//! - A **commit** never moves: once the clone holds it, syncs read it without touching the
//!   network. The first time, a full 40-hex id is asked for directly (a shallow fetch of that one
//!   commit, which most hosts allow); otherwise, and for abbreviated ids, all branches and tags are
//!   fetched with their history and the id is resolved in that clone.
//!
//! Bounds: one sync receives at most `max_bytes` of packs (the same bound as the file's size), so
//! a huge repository or history fails the sync with [`SourceError::TooLarge`] instead of filling
//! the disk; a clone whose packs pile up is started over (`cache`).
//!
//! gix is blocking, so all work runs in [`tokio::task::spawn_blocking`], one fetch of a source at a
//! time. When the caller drops the future (a sync timeout), the blocking work is told to stop
//! (`limits`): gix checks the flag between reads, and the http(s) transport (`transport`)
//! ends a request that is waiting on a silent server at once. `file://` and local paths are
//! served by a `git upload-pack` child that gix kills when the fetch stops.

mod cache;
mod credentials;
mod limits;
mod remote;
mod transport;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use thv_domain::Revision;
pub use thv_domain::spec::GitPin;
use thv_ports::{Document, Fetched, Source, SourceError};

pub use self::credentials::GitAuth;
use self::credentials::{Secrets, basic_auth, strip_userinfo};
use self::limits::{PackBudget, Stop, StopOnDrop};
use super::file::DEFAULT_MAX_BYTES;

/// A file in the cache directory naming the repository the clone was made from, so a changed
/// `repository` setting starts a fresh clone instead of resolving commits of another repository.
const ORIGIN_FILE: &str = "thv-origin";

/// Reads one file from a git repository at a branch, tag or commit; see the [module docs](self).
pub struct GitSource {
    inner: Arc<Inner>,
    /// Held by the blocking task for the whole fetch, so two fetches never touch the cache at once
    /// (even when the future of the first one was dropped while its task still runs).
    lock: Arc<Mutex<()>>,
}

#[derive(Clone)]
struct Inner {
    /// The repository as configured, without userinfo: handed to gix.
    repository: String,
    /// `repository` with its query values redacted, for messages and logs.
    shown: String,
    reference: GitPin,
    /// `path` as configured, for messages.
    path: String,
    /// The configured credentials, or those of the URL's userinfo.
    auth: Option<GitAuth>,
    /// `Authorization: Basic …`, sent with every request to an http(s) repository with `auth`.
    auth_header: Option<String>,
    cache_dir: PathBuf,
    /// The most bytes of one file, and of the packs one sync receives.
    max_bytes: u64,
    /// Replaced by `***` in every message.
    secrets: Secrets,
}

impl GitSource {
    /// `cache_dir`: a directory this source owns (created if missing) for its bare clone.
    ///
    /// `repository` is an `https://` or `http://` URL, a `file://` URL, or a local path (absolute or
    /// relative to the working directory). Credentials in an http(s) URL's userinfo are used when
    /// `auth` is `None`, and are never shown.
    pub fn new(repository: String, reference: GitPin, path: String, auth: Option<GitAuth>, cache_dir: PathBuf) -> Self {
        let (repository, url_auth) = strip_userinfo(repository);
        let shown = thv_domain::redact::location(&repository);
        let auth = auth.or(url_auth);
        let auth_header =
            auth.as_ref().filter(|_| is_http(&shown)).map(|a| format!("Authorization: {}", basic_auth(a)));
        let secrets = Secrets::of(auth.as_ref());
        let inner = Inner {
            repository,
            shown,
            reference,
            path,
            auth,
            auth_header,
            cache_dir,
            max_bytes: DEFAULT_MAX_BYTES,
            secrets,
        };
        Self { inner: Arc::new(inner), lock: Arc::new(Mutex::new(())) }
    }

    /// Overrides the upper bound on the file's size and on the bytes of packs one sync may
    /// receive (default 256 MiB).
    #[must_use]
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        let inner = Inner { max_bytes, ..Arc::unwrap_or_clone(self.inner) };
        Self { inner: Arc::new(inner), lock: self.lock }
    }
}

impl fmt::Debug for GitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("GitSource")
            .field("repository", &inner.shown)
            .field("reference", &inner.reference)
            .field("path", &inner.path)
            .field("auth", &inner.auth.as_ref().map(|_| "<redacted>"))
            .field("cache_dir", &inner.cache_dir)
            .field("max_bytes", &inner.max_bytes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Source for GitSource {
    async fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError> {
        let inner = Arc::clone(&self.inner);
        let lock = Arc::clone(&self.lock);
        let since = since.cloned();
        // Dropped with this future: a caller that stops waiting stops the blocking work too.
        let stop = StopOnDrop(Arc::new(Stop::default()));
        let task_stop = Arc::clone(&stop.0);
        tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if task_stop.is_set() {
                return Err(SourceError::Unavailable(format!("fetching {} was given up", inner.shown)));
            }
            inner.fetch(since.as_ref(), &task_stop).map_err(|e| inner.scrub_error(e))
        })
        .await
        .map_err(|e| SourceError::Internal(format!("reading git repository {} failed: {e}", self.inner.shown)))?
    }

    fn describe(&self) -> String {
        let inner = &self.inner;
        format!("git {} ({}) path {}", inner.shown, inner.reference, inner.path)
    }
}

/// What one fetch may still do: whether it was told to stop, and the bytes it may receive.
struct Run {
    stop: Arc<Stop>,
    budget: PackBudget,
}

impl Inner {
    fn fetch(&self, since: Option<&Revision>, stop: &Arc<Stop>) -> Result<Fetched, SourceError> {
        let url = self.url()?;
        let moving = matches!(self.reference, GitPin::Branch(_) | GitPin::Tag(_));
        // A moving ref's clone whose packs piled up is started over (see `cache`).
        let mut repo = self.open_cache(&url, moving && cache::is_bloated(&self.cache_dir))?;
        let run = Run { stop: Arc::clone(stop), budget: PackBudget::new(self.max_bytes, Arc::clone(stop)) };
        // Ref updates may want a reflog identity, which a server's git configuration may lack.
        repo.committer_or_set_generic_fallback()
            .map_err(|e| SourceError::Internal(format!("cannot configure the git cache of {}: {e}", self.shown)))?;
        let commit = match &self.reference {
            GitPin::Branch(name) => {
                let name = name.strip_prefix("refs/heads/").unwrap_or(name);
                self.fetch_ref(&run, &repo, &url, &format!("refs/heads/{name}"), "branch", name)?
            }
            GitPin::Tag(name) => {
                let name = name.strip_prefix("refs/tags/").unwrap_or(name);
                self.fetch_ref(&run, &repo, &url, &format!("refs/tags/{name}"), "tag", name)?
            }
            GitPin::Commit(id) => self.resolve_pinned_commit(&run, &repo, &url, id)?,
        };
        let revision = Revision(commit.to_string());
        if since == Some(&revision) {
            return Ok(Fetched::Unchanged);
        }
        let bytes = self.read_file(&repo, commit).inspect_err(|e| {
            if matches!(e, SourceError::Internal(_)) {
                // Objects the clone should hold cannot be read: start over on the next fetch.
                tracing::warn!(repository = %self.shown, cache = %self.cache_dir.display(), "discarding git cache");
                drop(cache::clear_dir(&self.cache_dir));
            }
        })?;
        Ok(Fetched::Documents { revision, documents: vec![Document::from_bytes(bytes)], complete: true })
    }

    /// The URL handed to gix: local paths are made absolute (gix resolves nothing relative to the
    /// cache's repository that way).
    fn url(&self) -> Result<String, SourceError> {
        let repository = self.repository.as_str();
        if !self.is_local_path() {
            return Ok(repository.to_owned());
        }
        let absolute = std::path::absolute(repository)
            .map_err(|e| SourceError::Unavailable(format!("cannot resolve the repository path {repository}: {e}")))?;
        absolute
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| SourceError::NotFound(format!("repository path {} is not valid UTF-8", absolute.display())))
    }

    /// Opens the bare clone in the cache directory, or (re)creates an empty one when it is
    /// missing, unusable, made from another repository, or `start_over` says so.
    fn open_cache(&self, url: &str, start_over: bool) -> Result<gix::Repository, SourceError> {
        let dir = &self.cache_dir;
        let shown_dir = dir.display();
        std::fs::create_dir_all(dir)
            .map_err(|e| SourceError::Unavailable(format!("cannot create the git cache directory {shown_dir}: {e}")))?;
        let origin = url;
        let origin_file = dir.join(ORIGIN_FILE);
        cache::remove_leftovers(dir);
        match gix::open(dir) {
            Ok(_) if start_over => {
                tracing::info!(cache = %shown_dir, repository = %self.shown, "git cache holds many packs, cloning again");
            }
            Ok(repo) if repo.is_bare() => {
                if std::fs::read_to_string(&origin_file).is_ok_and(|recorded| recorded == origin) {
                    return Ok(repo);
                }
                tracing::info!(cache = %shown_dir, repository = %self.shown, "git cache holds another repository, cloning again");
            }
            Ok(_) => tracing::warn!(cache = %shown_dir, "git cache is not a bare repository, cloning again"),
            Err(e) if cache::is_empty_dir(dir) => tracing::debug!(cache = %shown_dir, "new git cache: {e}"),
            Err(e) => tracing::warn!(cache = %shown_dir, "git cache is unusable, cloning again: {e}"),
        }
        cache::clear_dir(dir)
            .map_err(|e| SourceError::Unavailable(format!("cannot empty the git cache directory {shown_dir}: {e}")))?;
        let repo = gix::init_bare(dir).map_err(|e| {
            SourceError::Unavailable(format!("cannot create a git repository in the cache directory {shown_dir}: {e}"))
        })?;
        std::fs::write(&origin_file, origin).map_err(|e| {
            SourceError::Unavailable(format!("cannot write to the git cache directory {shown_dir}: {e}"))
        })?;
        Ok(repo)
    }

    /// A `file://` URL or a local path.
    fn is_local(&self) -> bool {
        self.is_local_path() || self.repository.starts_with("file://")
    }

    /// Not a URL, nor scp-like `host:path` (which gix reads as ssh).
    fn is_local_path(&self) -> bool {
        let repository = self.repository.as_str();
        let scp_like = repository.split_once(':').is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
        !repository.is_empty() && !repository.contains("://") && !scp_like
    }

    /// Replaces every secret in a message with `***`.
    fn scrub(&self, text: String) -> String {
        self.secrets.scrub(text)
    }

    fn scrub_error(&self, err: SourceError) -> SourceError {
        match err {
            SourceError::NotFound(m) => SourceError::NotFound(self.scrub(m)),
            SourceError::Unavailable(m) => SourceError::Unavailable(self.scrub(m)),
            SourceError::TooLarge(m) => SourceError::TooLarge(self.scrub(m)),
            SourceError::Internal(m) => SourceError::Internal(self.scrub(m)),
        }
    }
}

/// An `http://` or `https://` URL: fetched through [`StoppableHttp`].
pub(super) fn is_http(repository: &str) -> bool {
    repository.starts_with("http://") || repository.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_carries_no_secret_of_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let source = GitSource::new(
            "https://bot:s3cret@git.example.com/r.git?private_token=t0ken".to_owned(),
            GitPin::Branch("main".to_owned()),
            "registry.json".to_owned(),
            None,
            dir.path().join("cache"),
        );
        let shown = source.describe();
        assert_eq!(shown, "git https://git.example.com/r.git?private_token=*** (branch main) path registry.json");
        assert!(!shown.contains("s3cret") && !shown.contains("t0ken"), "{shown}");
    }
}
