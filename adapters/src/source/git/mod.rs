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
mod transport;

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use gix::bstr::ByteSlice;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http::Transport as HttpTransport;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};
use thv_domain::Revision;
pub use thv_domain::spec::GitPin;
use thv_ports::{Fetched, Source, SourceError};

pub use self::credentials::GitAuth;
use self::credentials::{Secrets, basic_auth, strip_userinfo};
use self::limits::{PackBudget, Stop, StopOnDrop};
use self::transport::StoppableHttp;
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
            .field("auth", &inner.auth)
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
        Ok(Fetched::Documents { revision, documents: vec![bytes], complete: true })
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

    /// Fetches the single ref `full_name` (shallow, depth 1) and returns the commit it points to.
    fn fetch_ref(
        &self,
        run: &Run,
        repo: &gix::Repository,
        url: &str,
        full_name: &str,
        kind: &str,
        name: &str,
    ) -> Result<gix::ObjectId, SourceError> {
        let spec = format!("+{full_name}:{full_name}");
        let invalid = |e: gix::Error| SourceError::NotFound(format!("`{name}` is not a valid {kind} name: {e}"));
        gix::refs::FullName::try_from(full_name).map_err(|e| invalid(gix::Error::from_error(e)))?;
        let remote = self.remote(repo, url)?.with_refspecs([spec.as_str()], Direction::Fetch).map_err(invalid)?;
        let found = self.receive(run, &remote, Shallow::DepthAtRemote(NonZeroU32::MIN), |ref_map| {
            ref_map.mappings.iter().any(|m| m.remote.as_name() == Some(full_name.as_bytes().as_bstr()))
        })?;
        if !found {
            return Err(SourceError::NotFound(format!(
                "{kind} `{name}` does not exist in {}; check the configured {kind}",
                self.shown
            )));
        }
        let id = repo.find_reference(full_name).and_then(|mut r| r.peel_to_id()).map_err(|e| {
            SourceError::Internal(format!("fetched {kind} `{name}` of {} is unreadable: {e}", self.shown))
        })?;
        let object = repo.find_object(id).map_err(|e| {
            SourceError::Internal(format!("fetched {kind} `{name}` of {} is unreadable: {e}", self.shown))
        })?;
        match object.peel_to_commit() {
            Ok(commit) => Ok(commit.id),
            Err(_) => {
                Err(SourceError::NotFound(format!("{kind} `{name}` of {} does not point to a commit", self.shown)))
            }
        }
    }

    /// Resolves a pinned commit in the clone, fetching only when the clone does not hold it yet.
    fn resolve_pinned_commit(
        &self,
        run: &Run,
        repo: &gix::Repository,
        url: &str,
        id: &str,
    ) -> Result<gix::ObjectId, SourceError> {
        let hex = id.trim().to_ascii_lowercase();
        if !(4..=40).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SourceError::NotFound(format!(
                "commit `{id}` is not a commit id: use 4 to 40 hex digits of a commit of {}",
                self.shown
            )));
        }
        if let Some(commit) = self.find_local_commit(repo, &hex)? {
            return Ok(commit);
        }
        let not_found = || SourceError::NotFound(format!("commit {hex} is not in {}", self.shown));
        // A full id can be asked for directly; hosts that refuse that get the full fetch below.
        if hex.len() == 40
            && let Ok(remote) = self.remote(repo, url)?.with_refspecs([hex.as_str()], Direction::Fetch)
        {
            let mut connected = false;
            let direct = self.receive(run, &remote, Shallow::DepthAtRemote(NonZeroU32::MIN), |_| {
                connected = true;
                true
            });
            match direct {
                Ok(_) => {
                    if let Some(commit) = self.find_local_commit(repo, &hex)? {
                        return Ok(commit);
                    }
                }
                // Unreachable, access refused, too large or stopped: the full fetch would fail too.
                Err(e) if !connected || run.stop.is_set() => return Err(e),
                Err(e) => tracing::debug!(repository = %self.shown, "fetching commit {hex} directly failed: {e}"),
            }
        }
        let shallow = if repo.is_shallow().unwrap_or(false) { Shallow::undo() } else { Shallow::NoChange };
        let remote = self
            .remote(repo, url)?
            .with_refspecs(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], Direction::Fetch)
            .map_err(|e| SourceError::Internal(format!("invalid refspec: {e}")))?;
        let any = self.receive(run, &remote, shallow, |ref_map| !ref_map.mappings.is_empty())?;
        if !any {
            return Err(SourceError::NotFound(format!(
                "commit {hex} is not in {}: the repository has no branches or tags",
                self.shown
            )));
        }
        self.find_local_commit(repo, &hex)?.ok_or_else(not_found)
    }

    /// Finds a commit by (abbreviated) hex id in the clone.
    fn find_local_commit(&self, repo: &gix::Repository, hex: &str) -> Result<Option<gix::ObjectId>, SourceError> {
        let internal = |e: &dyn fmt::Display| {
            SourceError::Internal(format!("cannot look up commit {hex} in the git cache of {}: {e}", self.shown))
        };
        let candidates: Vec<gix::ObjectId> = if hex.len() == 40 {
            vec![gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| internal(&e))?]
        } else {
            let prefix = gix::hash::Prefix::from_hex(hex).map_err(|e| internal(&e))?;
            let mut found = std::collections::HashSet::new();
            repo.objects.lookup_prefix(prefix, Some(&mut found)).map_err(|e| internal(&e))?;
            found.into_iter().collect()
        };
        let mut commits = Vec::new();
        for id in candidates {
            let header = repo.try_find_header(id).map_err(|e| internal(&e))?;
            if header.is_some_and(|h| h.kind() == gix::object::Kind::Commit) {
                commits.push(id);
            }
        }
        match commits.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(SourceError::NotFound(format!(
                "commit {hex} is ambiguous in {}: {} commits start with it; use more hex digits",
                self.shown,
                commits.len()
            ))),
        }
    }

    /// A remote for `url` fetching no tags besides what the refspecs name.
    fn remote<'r>(&self, repo: &'r gix::Repository, url: &str) -> Result<gix::Remote<'r>, SourceError> {
        let remote = repo
            .remote_at(url)
            .map_err(|e| SourceError::NotFound(format!("{} is not a valid repository URL or path: {e}", self.shown)))?;
        Ok(remote.with_fetch_tags(Tags::None))
    }

    /// Connects, lists the remote's refs, and, when `wanted` accepts the ref map, receives the
    /// pack; returns what `wanted` said.
    fn receive(
        &self,
        run: &Run,
        remote: &gix::Remote<'_>,
        shallow: Shallow,
        wanted: impl FnOnce(&gix::remote::fetch::RefMap) -> bool,
    ) -> Result<bool, SourceError> {
        let failed = |e: &gix::Error| self.fetch_error(run, e);
        let connection = if is_http(&self.repository) {
            let (url, version) = remote.sanitized_url_and_version(Direction::Fetch).map_err(|e| failed(&e))?;
            let headers = self.auth_header.iter().cloned().collect();
            let http = StoppableHttp::new(Arc::clone(&run.stop), headers)
                .map_err(|e| SourceError::Internal(format!("cannot set up the HTTP client for {}: {e}", self.shown)))?;
            let transport: Box<dyn Transport + Send> = Box::new(HttpTransport::new_http(http, url, version, false));
            remote.to_connection_with_transport(transport)
        } else {
            remote.connect(Direction::Fetch).map_err(|e| failed(&e))?
        };
        // Never ask git's credential helpers or a terminal: a server has none, and the
        // configured credentials go in a header (gix refuses to send them over plain http).
        let connection = connection.with_credentials(|_| Ok(None));
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
            .map_err(|e| failed(&e))?;
        if !wanted(prepare.ref_map()) {
            return Ok(false);
        }
        prepare.with_shallow(shallow).receive(run.budget.clone(), run.stop.flag()).map_err(|e| {
            if e.is_corrupted() && !run.stop.is_set() {
                // Possibly the clone's own data: start over on the next fetch.
                let detail = self.scrub(describe_error(&e));
                tracing::warn!(repository = %self.shown, "discarding git cache after a failed fetch: {detail}");
                drop(cache::clear_dir(&self.cache_dir));
            }
            failed(&e)
        })?;
        Ok(true)
    }

    /// Reads the configured file from the tree of `commit`.
    fn read_file(&self, repo: &gix::Repository, commit: gix::ObjectId) -> Result<Bytes, SourceError> {
        let short = commit.to_hex_with_len(7);
        let shown = &self.shown;
        let path = self.path.as_str();
        let unreadable = |e: gix::Error| SourceError::Internal(format!("commit {short} of {shown} is unreadable: {e}"));
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        if components.is_empty() || components.contains(&"..") {
            return Err(SourceError::NotFound(format!(
                "path `{path}` does not name a file in a repository; use a path like `registry.json` or `data/servers.json`"
            )));
        }
        let tree = repo.find_commit(commit).and_then(|c| c.tree()).map_err(unreadable)?;
        let entry = tree.lookup_entry(components.iter().map(|c| c.as_bytes())).map_err(unreadable)?;
        let Some(entry) = entry else {
            return Err(SourceError::NotFound(format!("file `{path}` not found at commit {short} of {shown}")));
        };
        let mode = entry.mode();
        if mode.is_tree() {
            return Err(SourceError::NotFound(format!(
                "`{path}` is a directory at commit {short} of {shown}, not a file"
            )));
        }
        if !mode.is_blob() {
            return Err(SourceError::NotFound(format!(
                "`{path}` is not a regular file at commit {short} of {shown} (a symbolic link or submodule)"
            )));
        }
        let size = repo.find_header(entry.object_id()).map_err(unreadable)?.size();
        if size > self.max_bytes {
            return Err(SourceError::TooLarge(format!(
                "file `{path}` at commit {short} of {shown} is {size} bytes, more than the limit of {} bytes \
                 (`git.maxBytes`)",
                self.max_bytes
            )));
        }
        let blob = repo.find_blob(entry.object_id()).map_err(unreadable)?;
        Ok(Bytes::from(blob.detach().data))
    }

    /// Turns a gix error of connecting or fetching into a message saying what to check.
    fn fetch_error(&self, run: &Run, err: &gix::Error) -> SourceError {
        let shown = &self.shown;
        if run.budget.exceeded() {
            let what = match &self.reference {
                GitPin::Commit(_) => "the history it needs to find the commit",
                GitPin::Branch(_) | GitPin::Tag(_) => "the files at its tip",
            };
            return SourceError::TooLarge(format!(
                "fetching {} from {shown} to read `{}` received more than the limit of {} bytes: {what} are \
                 larger than that (raise `git.maxBytes`, or keep the registry file in a smaller repository)",
                self.reference,
                self.path,
                run.budget.limit(),
            ));
        }
        if run.stop.is_set() {
            return SourceError::Unavailable(format!("fetching from {shown} was stopped: the sync gave up waiting"));
        }
        let detail = self.scrub(describe_error(err));
        if err.is_unauthenticated() || err.is_permission_denied() {
            tracing::debug!(repository = %shown, "access refused: {detail}");
            return SourceError::Unavailable(if self.auth.is_some() {
                format!("{shown} refused access with the configured credentials; check the username and password")
            } else {
                format!("{shown} requires authentication; configure a username and password for it")
            });
        }
        if self.is_local() && err.is_not_found() {
            return SourceError::NotFound(format!(
                "{shown} is not a git repository ({detail}); check the repository path"
            ));
        }
        SourceError::Unavailable(format!(
            "cannot fetch from {shown} ({detail}); check that the repository URL is right and reachable"
        ))
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

/// The messages of an error and its causes, one after the other, without repeats.
fn describe_error(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.iter_errors() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || parts.iter().any(|p| p.contains(text)) {
            continue;
        }
        parts.push(text.to_owned());
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

/// An `http://` or `https://` URL: fetched through [`StoppableHttp`].
fn is_http(repository: &str) -> bool {
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
