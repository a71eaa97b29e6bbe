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
//! gix is blocking for http(s) and spawns `git upload-pack` for `file://` and local paths, so all
//! work runs in [`tokio::task::spawn_blocking`], one fetch of a source at a time.

use std::borrow::Cow;
use std::fmt;
use std::io::ErrorKind;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use gix::bstr::ByteSlice;
use gix::protocol::transport::client::blocking_io::http::Options as HttpOptions;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};
use thv_domain::Revision;
use thv_ports::{Fetched, Source, SourceError};

use crate::file::DEFAULT_MAX_BYTES;

/// A file in the cache directory naming the repository the clone was made from, so a changed
/// `repository` setting starts a fresh clone instead of resolving commits of another repository.
const ORIGIN_FILE: &str = "thv-origin";

/// Which commit of the repository to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The tip of a branch, followed as it moves (`main`, or `refs/heads/main`).
    Branch(String),
    /// The commit a tag points to (`v1.2.0`, or `refs/tags/v1.2.0`).
    Tag(String),
    /// A fixed commit: a full or abbreviated (at least 4 digits) hex SHA-1.
    Commit(String),
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(name) => write!(f, "branch {name}"),
            Self::Tag(name) => write!(f, "tag {name}"),
            Self::Commit(id) => write!(f, "commit {id}"),
        }
    }
}

/// Basic credentials for http(s) repositories.
#[derive(Clone)]
pub struct GitAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// Reads one file from a git repository at a branch, tag or commit; see the [module docs](self).
pub struct GitSource {
    inner: Arc<Inner>,
    /// Held by the blocking task for the whole fetch, so two fetches never touch the cache at once
    /// (even when the future of the first one was dropped while its task still runs).
    lock: Arc<Mutex<()>>,
}

#[derive(Clone)]
struct Inner {
    /// The repository as configured, without userinfo: handed to gix and shown in messages.
    shown: String,
    reference: GitRef,
    /// `path` as configured, for messages.
    path: String,
    /// The configured credentials, or those of the URL's userinfo.
    auth: Option<GitAuth>,
    /// `Authorization: Basic …`, sent with every request to an http(s) repository with `auth`.
    auth_header: Option<String>,
    cache_dir: PathBuf,
    max_bytes: u64,
    /// Strings replaced by `***` in every message (the password, and the encoded header).
    secrets: Vec<String>,
}

impl GitSource {
    /// `cache_dir`: a directory this source owns (created if missing) for its bare clone.
    ///
    /// `repository` is an `https://` or `http://` URL, a `file://` URL, or a local path (absolute or
    /// relative to the working directory). Credentials in an http(s) URL's userinfo are used when
    /// `auth` is `None`, and are never shown.
    pub fn new(repository: String, reference: GitRef, path: String, auth: Option<GitAuth>, cache_dir: PathBuf) -> Self {
        let (shown, url_auth) = strip_userinfo(repository);
        let auth = auth.or(url_auth);
        let is_http = shown.starts_with("http://") || shown.starts_with("https://");
        let encoded =
            auth.as_ref().filter(|_| is_http).map(|a| base64(format!("{}:{}", a.username, a.password).as_bytes()));
        let auth_header = encoded.as_ref().map(|e| format!("Authorization: Basic {e}"));
        let mut secrets: Vec<String> = auth.iter().map(|a| a.password.clone()).chain(encoded).collect();
        secrets.retain(|s| !s.is_empty());
        // The longest first, so a secret containing another one is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let inner =
            Inner { shown, reference, path, auth, auth_header, cache_dir, max_bytes: DEFAULT_MAX_BYTES, secrets };
        Self { inner: Arc::new(inner), lock: Arc::new(Mutex::new(())) }
    }

    /// Overrides the upper bound on the file's size (default 256 MiB).
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
        tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            inner.fetch(since.as_ref()).map_err(|e| inner.scrub_error(e))
        })
        .await
        .map_err(|e| SourceError::Internal(format!("reading git repository {} failed: {e}", self.inner.shown)))?
    }

    fn describe(&self) -> String {
        let inner = &self.inner;
        format!("git {} ({}) path {}", inner.shown, inner.reference, inner.path)
    }
}

impl Inner {
    fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError> {
        let url = self.url()?;
        let mut repo = self.open_cache(&url)?;
        // Ref updates may want a reflog identity, which a server's git configuration may lack.
        repo.committer_or_set_generic_fallback()
            .map_err(|e| SourceError::Internal(format!("cannot configure the git cache of {}: {e}", self.shown)))?;
        let commit = match &self.reference {
            GitRef::Branch(name) => {
                let name = name.strip_prefix("refs/heads/").unwrap_or(name);
                self.fetch_ref(&repo, &url, &format!("refs/heads/{name}"), "branch", name)?
            }
            GitRef::Tag(name) => {
                let name = name.strip_prefix("refs/tags/").unwrap_or(name);
                self.fetch_ref(&repo, &url, &format!("refs/tags/{name}"), "tag", name)?
            }
            GitRef::Commit(id) => self.resolve_pinned_commit(&repo, &url, id)?,
        };
        let revision = Revision(commit.to_string());
        if since == Some(&revision) {
            return Ok(Fetched::Unchanged);
        }
        let bytes = self.read_file(&repo, commit).inspect_err(|e| {
            if matches!(e, SourceError::Internal(_)) {
                // Objects the clone should hold cannot be read: start over on the next fetch.
                tracing::warn!(repository = %self.shown, cache = %self.cache_dir.display(), "discarding git cache");
                drop(clear_dir(&self.cache_dir));
            }
        })?;
        Ok(Fetched::Documents { revision, documents: vec![bytes], complete: true })
    }

    /// The URL handed to gix: local paths are made absolute (gix resolves nothing relative to the
    /// cache's repository that way).
    fn url(&self) -> Result<String, SourceError> {
        let repository = self.shown.as_str();
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
    /// missing, unusable, or was made from another repository.
    fn open_cache(&self, url: &str) -> Result<gix::Repository, SourceError> {
        let dir = &self.cache_dir;
        let shown_dir = dir.display();
        std::fs::create_dir_all(dir)
            .map_err(|e| SourceError::Unavailable(format!("cannot create the git cache directory {shown_dir}: {e}")))?;
        let origin = url;
        let origin_file = dir.join(ORIGIN_FILE);
        match gix::open(dir) {
            Ok(repo) if repo.is_bare() => {
                if std::fs::read_to_string(&origin_file).is_ok_and(|recorded| recorded == origin) {
                    return Ok(repo);
                }
                tracing::info!(cache = %shown_dir, repository = %self.shown, "git cache holds another repository, cloning again");
            }
            Ok(_) => tracing::warn!(cache = %shown_dir, "git cache is not a bare repository, cloning again"),
            Err(e) if is_empty_dir(dir) => tracing::debug!(cache = %shown_dir, "new git cache: {e}"),
            Err(e) => tracing::warn!(cache = %shown_dir, "git cache is unusable, cloning again: {e}"),
        }
        clear_dir(dir)
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
        let found = self.receive(&remote, Shallow::DepthAtRemote(NonZeroU32::MIN), |ref_map| {
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
    fn resolve_pinned_commit(&self, repo: &gix::Repository, url: &str, id: &str) -> Result<gix::ObjectId, SourceError> {
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
            let direct = self.receive(&remote, Shallow::DepthAtRemote(NonZeroU32::MIN), |_| {
                connected = true;
                true
            });
            match direct {
                Ok(_) => {
                    if let Some(commit) = self.find_local_commit(repo, &hex)? {
                        return Ok(commit);
                    }
                }
                // Unreachable, or access refused: the full fetch would fail the same way.
                Err(e) if !connected => return Err(e),
                Err(e) => tracing::debug!(repository = %self.shown, "fetching commit {hex} directly failed: {e}"),
            }
        }
        let shallow = if repo.is_shallow().unwrap_or(false) { Shallow::undo() } else { Shallow::NoChange };
        let remote = self
            .remote(repo, url)?
            .with_refspecs(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], Direction::Fetch)
            .map_err(|e| SourceError::Internal(format!("invalid refspec: {e}")))?;
        let any = self.receive(&remote, shallow, |ref_map| !ref_map.mappings.is_empty())?;
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
        remote: &gix::Remote<'_>,
        shallow: Shallow,
        wanted: impl FnOnce(&gix::remote::fetch::RefMap) -> bool,
    ) -> Result<bool, SourceError> {
        let mut connection = remote
            .connect(Direction::Fetch)
            .map_err(|e| self.network_error(&e))?
            // Never ask git's credential helpers or a terminal: a server has none, and the
            // configured credentials go in a header (gix refuses to send them over plain http).
            .with_credentials(|_| Ok(None));
        if let Some(header) = &self.auth_header {
            let url = remote.url(Direction::Fetch).map(gix::Url::to_bstring).unwrap_or_default();
            let options = remote.repo().transport_options(url.as_bstr(), None).map_err(|e| {
                SourceError::Internal(format!("cannot configure the HTTP transport for {}: {e}", self.shown))
            })?;
            if let Some(mut options) = options {
                if let Some(http) = options.downcast_mut::<HttpOptions>() {
                    http.extra_headers.push(header.clone());
                }
                connection = connection.with_transport_options(options);
            }
        }
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
            .map_err(|e| self.network_error(&e))?;
        if !wanted(prepare.ref_map()) {
            return Ok(false);
        }
        prepare.with_shallow(shallow).receive(gix::progress::Discard, &AtomicBool::new(false)).map_err(|e| {
            if e.is_corrupted() {
                // Possibly the clone's own data: start over on the next fetch.
                let detail = self.scrub(describe_error(&e));
                tracing::warn!(repository = %self.shown, "discarding git cache after a failed fetch: {detail}");
                drop(clear_dir(&self.cache_dir));
            }
            self.network_error(&e)
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
                "file `{path}` at commit {short} of {shown} is {size} bytes, more than the limit of {} bytes",
                self.max_bytes
            )));
        }
        let blob = repo.find_blob(entry.object_id()).map_err(unreadable)?;
        Ok(Bytes::from(blob.detach().data))
    }

    /// Turns a gix error of connecting or fetching into a message saying what to check.
    fn network_error(&self, err: &gix::Error) -> SourceError {
        let detail = self.scrub(describe_error(err));
        let shown = &self.shown;
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
        self.is_local_path() || self.shown.starts_with("file://")
    }

    /// Not a URL, nor scp-like `host:path` (which gix reads as ssh).
    fn is_local_path(&self) -> bool {
        let repository = self.shown.as_str();
        let scp_like = repository.split_once(':').is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
        !repository.is_empty() && !repository.contains("://") && !scp_like
    }

    /// Replaces every secret in a message with `***`.
    fn scrub(&self, text: String) -> String {
        self.secrets.iter().fold(text, |t, secret| if t.contains(secret) { t.replace(secret, "***") } else { t })
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

/// `repository` without userinfo, and the credentials it held, if any.
fn strip_userinfo(repository: String) -> (String, Option<GitAuth>) {
    match url::Url::parse(&repository) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let auth = GitAuth {
                username: percent_decode(url.username()).into_owned(),
                password: percent_decode(url.password().unwrap_or_default()).into_owned(),
            };
            // Cannot fail for URLs that had userinfo (they have a host).
            url.set_username("").ok();
            url.set_password(None).ok();
            (url.to_string(), Some(auth))
        }
        _ => (repository, None),
    }
}

/// Standard base64 with padding, for the basic auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes `%XX` escapes (a password in a URL is percent-encoded).
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// Removes everything inside `dir`, keeping `dir` itself (it may be a mount point).
fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let result = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match result {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_encoded_like_rfc_4648() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg==")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn userinfo_is_taken_out_of_urls_and_decoded() {
        let (shown, auth) = strip_userinfo("https://bot:p%40ss%3Aword@example.com/r.git".into());
        assert_eq!(shown, "https://example.com/r.git");
        let auth = auth.unwrap();
        assert_eq!((auth.username.as_str(), auth.password.as_str()), ("bot", "p@ss:word"));
        for plain in ["https://example.com/r.git", "file:///srv/r", "/srv/r", ".", "git@example.com:r.git"] {
            let (shown, auth) = strip_userinfo(plain.into());
            assert_eq!(shown, plain);
            assert!(auth.is_none(), "{plain}");
        }
        assert_eq!(percent_decode("100%"), "100%");
    }
}
