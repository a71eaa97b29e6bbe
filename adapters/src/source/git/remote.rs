//! Talking to the remote: fetching a branch or tag (shallow), resolving a pinned commit, receiving
//! packs within the run's budget, reading the file from a commit, and turning gix's errors into
//! source errors without secrets.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use gix::bstr::ByteSlice;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http::Transport as HttpTransport;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};
use thv_ports::SourceError;

use super::transport::StoppableHttp;
use super::{GitPin, Inner, Run, cache, is_http};

impl Inner {
    /// Fetches the single ref `full_name` (shallow, depth 1) and returns the commit it points to.
    pub(super) fn fetch_ref(
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
    pub(super) fn resolve_pinned_commit(
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
    pub(super) fn find_local_commit(
        &self,
        repo: &gix::Repository,
        hex: &str,
    ) -> Result<Option<gix::ObjectId>, SourceError> {
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
    pub(super) fn remote<'r>(&self, repo: &'r gix::Repository, url: &str) -> Result<gix::Remote<'r>, SourceError> {
        let remote = repo
            .remote_at(url)
            .map_err(|e| SourceError::NotFound(format!("{} is not a valid repository URL or path: {e}", self.shown)))?;
        Ok(remote.with_fetch_tags(Tags::None))
    }

    /// Connects, lists the remote's refs, and, when `wanted` accepts the ref map, receives the
    /// pack; returns what `wanted` said.
    pub(super) fn receive(
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
    pub(super) fn read_file(&self, repo: &gix::Repository, commit: gix::ObjectId) -> Result<Bytes, SourceError> {
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
    pub(super) fn fetch_error(&self, run: &Run, err: &gix::Error) -> SourceError {
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
