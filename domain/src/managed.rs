//! Writes to a managed source: publishing a version, editing one, changing the status of one or
//! of every version of a name. Each takes the current versions of one name (sorted by version)
//! and returns every version of it after the write, with `isLatest` recomputed and `updatedAt`
//! moved on each row whose flag changed ([`relatest`]), or says why the write is refused.
//!
//! The rules follow the official registry (`reference/mcp-registry/PUBLISH.md`):
//! - a `(name, version)` is published once for all time (deleted versions included);
//! - at most [`MAX_VERSIONS`] versions per name; publisher `_meta` at most [`MAX_PUBLISHER_META`];
//! - a status message (at most [`MAX_STATUS_MESSAGE`] characters) goes only with `deprecated` or
//!   `deleted` and is cleared on the way back to `active`; a change that changes nothing is
//!   refused; `statusChangedAt` moves only when the status does, `updatedAt` on every change;
//! - an edit replaces the document of an existing version, keeps `publishedAt` and the status.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::entry::{Entry, OfficialMeta, Status};
use crate::latest::relatest;
use crate::names::SourceName;
use crate::server_json::{PUBLISHER_PROVIDED, ServerJson};

/// Most versions one name may have.
pub const MAX_VERSIONS: usize = 10_000;
/// Largest publisher-provided `_meta` block, in bytes of compact JSON.
pub const MAX_PUBLISHER_META: usize = 4096;
/// Longest status message, in characters.
pub const MAX_STATUS_MESSAGE: usize = 500;

/// Why a write is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The version was published before (it may be deleted now): versions are never reused.
    #[error(
        "cannot publish duplicate version: {name}@{version} exists already (published versions are never reused, deleted ones included); publish a new version"
    )]
    Duplicate { name: String, version: String },
    #[error("server {name} has no version {version}")]
    NoVersion { name: String, version: String },
    #[error("server {name} not found")]
    NoServer { name: String },
    #[error("server {name} has {MAX_VERSIONS} versions, the most one server may have")]
    TooManyVersions { name: String },
    #[error("the publisher-provided `_meta` block is {size} bytes; at most {MAX_PUBLISHER_META} are allowed")]
    PublisherMetaTooLarge { size: usize },
    /// A status change or edit that would leave everything as it is.
    #[error("no changes to apply: {0}")]
    NoChange(String),
    /// The status message does not go with the status, or is too long.
    #[error("{0}")]
    StatusMessage(String),
    /// The document's name or version is not the one the path names.
    #[error("the document is {found}, but the path names {path}; they must match")]
    PathMismatch { found: String, path: String },
}

/// A requested status: the status and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: Status,
    pub message: Option<String>,
}

impl StatusChange {
    /// Checks the message against the status.
    ///
    /// # Errors
    /// [`Refusal::StatusMessage`] for a message with `active` or one that is too long.
    pub fn check(&self) -> Result<(), Refusal> {
        match &self.message {
            Some(_) if self.status == Status::Active => Err(Refusal::StatusMessage(
                "`statusMessage` goes only with `deprecated` or `deleted`; leave it out when setting `active`".into(),
            )),
            Some(m) if m.chars().count() > MAX_STATUS_MESSAGE => Err(Refusal::StatusMessage(format!(
                "`statusMessage` is {} characters; at most {MAX_STATUS_MESSAGE} are allowed",
                m.chars().count()
            ))),
            _ => Ok(()),
        }
    }
}

/// Publishes `server` as a new version, `active`, with every timestamp `now`.
///
/// # Errors
/// [`Refusal::Duplicate`], [`Refusal::TooManyVersions`], [`Refusal::PublisherMetaTooLarge`].
pub fn publish(
    current: &[Entry],
    server: ServerJson,
    source: &SourceName,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, Refusal> {
    let (name, version) = (server.name().to_string(), server.version().clone());
    if current.iter().any(|e| *e.server.version() == version) {
        return Err(Refusal::Duplicate { name, version: version.to_string() });
    }
    if current.len() >= MAX_VERSIONS {
        return Err(Refusal::TooManyVersions { name });
    }
    check_publisher_meta(&server)?;
    let mut next = current.to_vec();
    let at = next.partition_point(|e| *e.server.version() < version);
    next.insert(
        at,
        Entry { server: Arc::new(server), official: OfficialMeta::new_active(now), source: source.clone() },
    );
    relatest(current, &mut next, now);
    Ok(next)
}

/// Replaces the document of an existing version. An identical document changes nothing and is
/// returned as it is (`Ok` with the current versions).
///
/// # Errors
/// [`Refusal::PathMismatch`], [`Refusal::NoVersion`], [`Refusal::PublisherMetaTooLarge`].
pub fn edit(
    current: &[Entry],
    name: &str,
    version: &str,
    server: ServerJson,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, Refusal> {
    if server.name().as_str() != name || server.version().as_str() != version {
        return Err(Refusal::PathMismatch {
            found: format!("{}@{}", server.name(), server.version()),
            path: format!("{name}@{version}"),
        });
    }
    let Some(i) = current.iter().position(|e| e.server.version().as_str() == version) else {
        return Err(Refusal::NoVersion { name: name.to_owned(), version: version.to_owned() });
    };
    check_publisher_meta(&server)?;
    let mut next = current.to_vec();
    if *next[i].server == server {
        return Ok(next);
    }
    next[i].server = Arc::new(server);
    next[i].official.updated_at = now;
    relatest(current, &mut next, now);
    Ok(next)
}

/// Sets the status of one version (`Some(version)`) or of every version of the name.
///
/// # Errors
/// [`Refusal::StatusMessage`], [`Refusal::NoVersion`] / [`Refusal::NoServer`], and
/// [`Refusal::NoChange`] when every addressed version has that status and message already.
pub fn set_status(
    current: &[Entry],
    name: &str,
    version: Option<&str>,
    change: &StatusChange,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, Refusal> {
    change.check()?;
    if current.is_empty() {
        return Err(Refusal::NoServer { name: name.to_owned() });
    }
    if let Some(v) = version
        && !current.iter().any(|e| e.server.version().as_str() == v)
    {
        return Err(Refusal::NoVersion { name: name.to_owned(), version: v.to_owned() });
    }
    let mut next = current.to_vec();
    let mut changed = false;
    for e in next.iter_mut().filter(|e| version.is_none_or(|v| e.server.version().as_str() == v)) {
        let meta = &mut e.official;
        if meta.status == change.status && meta.status_message == change.message {
            continue;
        }
        if meta.status != change.status {
            meta.status = change.status;
            meta.status_changed_at = now;
        }
        meta.status_message.clone_from(&change.message);
        meta.updated_at = now;
        changed = true;
    }
    if !changed {
        let what = version.map_or_else(|| format!("every version of {name}"), |v| format!("{name}@{v}"));
        return Err(Refusal::NoChange(format!("{what} is {} already", change.status.as_str())));
    }
    relatest(current, &mut next, now);
    Ok(next)
}

/// The versions whose rows a write changed (new rows included), in version order.
pub fn changed<'a>(current: &[Entry], next: &'a [Entry]) -> Vec<&'a Entry> {
    next.iter().filter(|n| !current.iter().any(|c| c.server.version() == n.server.version() && c == *n)).collect()
}

/// The first `remotes[].url` of `server` that a live (not deleted) version of another name in
/// `entries` uses, with that name.
pub fn remote_in_use<'a>(entries: &'a [Entry], server: &ServerJson) -> Option<(String, &'a str)> {
    let mine = remote_urls(server);
    if mine.is_empty() {
        return None;
    }
    entries.iter().filter(|e| !e.is_deleted() && e.server.name() != server.name()).find_map(|e| {
        remote_urls(&e.server).into_iter().find(|u| mine.contains(u)).map(|u| (u, e.server.name().as_str()))
    })
}

/// Where the versions of `name` are in entries sorted by (name, version).
pub fn name_range(entries: &[Entry], name: &crate::names::ServerName) -> std::ops::Range<usize> {
    let start = entries.partition_point(|e| e.server.name() < name);
    let len = entries[start..].iter().take_while(|e| e.server.name() == name).count();
    start..start + len
}

fn remote_urls(server: &ServerJson) -> Vec<String> {
    // Most documents have no remotes: skip parsing those.
    if !server.json().contains("\"remotes\"") {
        return Vec::new();
    }
    let doc = server.to_map();
    doc.get("remotes")
        .and_then(serde_json::Value::as_array)
        .map(|remotes| {
            remotes.iter().filter_map(|r| r.get("url").and_then(serde_json::Value::as_str).map(str::to_owned)).collect()
        })
        .unwrap_or_default()
}

fn check_publisher_meta(server: &ServerJson) -> Result<(), Refusal> {
    let doc = server.to_map();
    let size = doc
        .get("_meta")
        .and_then(|m| m.get(PUBLISHER_PROVIDED))
        .map_or(0, |block| serde_json::to_string(block).map_or(0, |s| s.len()));
    if size > MAX_PUBLISHER_META {
        return Err(Refusal::PublisherMetaTooLarge { size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(h)
    }

    fn doc(version: &str) -> ServerJson {
        ServerJson::from_value(json!({"name": "a.b/c", "description": "d", "version": version})).unwrap()
    }

    fn src() -> SourceName {
        SourceName::parse("internal").unwrap()
    }

    fn flags(es: &[Entry]) -> Vec<(String, bool, &'static str)> {
        es.iter().map(|e| (e.server.version().to_string(), e.official.is_latest, e.official.status.as_str())).collect()
    }

    #[test]
    fn publishing_adds_an_active_latest_version_and_moves_the_old_flag() {
        let one = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        assert_eq!(flags(&one), [("1.0.0".into(), true, "active")]);
        let two = publish(&one, doc("2.0.0"), &src(), t(1)).unwrap();
        assert_eq!(flags(&two), [("1.0.0".into(), false, "active"), ("2.0.0".into(), true, "active")]);
        assert_eq!(two[0].official.updated_at, t(1), "the row that lost the flag moved");
        assert_eq!(two[0].official.published_at, t(0));
        let o = &two[1].official;
        assert_eq!((o.published_at, o.updated_at, o.status_changed_at), (t(1), t(1), t(1)));
        assert_eq!(changed(&one, &two).len(), 2);
        let older = publish(&two, doc("0.9.0"), &src(), t(2)).unwrap();
        assert_eq!(changed(&two, &older).len(), 1, "an older version moves no flag");
    }

    #[test]
    fn a_version_is_published_once_for_all_time() {
        let one = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        let deleted =
            set_status(&one, "a.b/c", Some("1.0.0"), &StatusChange { status: Status::Deleted, message: None }, t(1))
                .unwrap();
        assert!(matches!(publish(&deleted, doc("1.0.0"), &src(), t(2)), Err(Refusal::Duplicate { .. })));
    }

    #[test]
    fn deleting_the_latest_moves_the_flag_to_the_next_version() {
        let mut es = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        es = publish(&es, doc("2.0.0"), &src(), t(1)).unwrap();
        let del = StatusChange { status: Status::Deleted, message: Some("broken".into()) };
        let next = set_status(&es, "a.b/c", Some("2.0.0"), &del, t(2)).unwrap();
        assert_eq!(flags(&next), [("1.0.0".into(), true, "active"), ("2.0.0".into(), false, "deleted")]);
        assert_eq!(next[0].official.updated_at, t(2));
        assert_eq!(next[1].official.status_changed_at, t(2));
        assert_eq!(next[1].official.status_message.as_deref(), Some("broken"));
        assert!(matches!(set_status(&next, "a.b/c", Some("2.0.0"), &del, t(3)), Err(Refusal::NoChange(_))));
        // Back to active: the message is cleared, the flag returns.
        let back =
            set_status(&next, "a.b/c", Some("2.0.0"), &StatusChange { status: Status::Active, message: None }, t(4))
                .unwrap();
        assert_eq!(flags(&back), [("1.0.0".into(), false, "active"), ("2.0.0".into(), true, "active")]);
        assert_eq!(back[1].official.status_message, None);
    }

    #[test]
    fn every_version_at_once_and_only_what_changes_moves() {
        let mut es = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        es = publish(&es, doc("2.0.0"), &src(), t(1)).unwrap();
        let dep = StatusChange { status: Status::Deprecated, message: Some("use b".into()) };
        es = set_status(&es, "a.b/c", Some("1.0.0"), &dep, t(2)).unwrap();
        let all = set_status(&es, "a.b/c", None, &dep, t(3)).unwrap();
        assert!(all.iter().all(|e| e.official.status == Status::Deprecated));
        assert_eq!(all[0].official.updated_at, t(2), "already deprecated with that message");
        assert_eq!(all[1].official.updated_at, t(3));
        assert!(matches!(set_status(&all, "a.b/c", None, &dep, t(4)), Err(Refusal::NoChange(_))));
    }

    #[test]
    fn status_messages_go_with_deprecated_or_deleted_only() {
        let es = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        let bad = StatusChange { status: Status::Active, message: Some("x".into()) };
        assert!(matches!(set_status(&es, "a.b/c", None, &bad, t(1)), Err(Refusal::StatusMessage(_))));
        let long = StatusChange { status: Status::Deprecated, message: Some("x".repeat(501)) };
        assert!(matches!(set_status(&es, "a.b/c", None, &long, t(1)), Err(Refusal::StatusMessage(_))));
        assert!(matches!(
            set_status(&es, "a.b/c", Some("9"), &StatusChange { status: Status::Deleted, message: None }, t(1)),
            Err(Refusal::NoVersion { .. })
        ));
        assert!(matches!(
            set_status(&[], "a.b/c", None, &StatusChange { status: Status::Deleted, message: None }, t(1)),
            Err(Refusal::NoServer { .. })
        ));
    }

    #[test]
    fn an_edit_replaces_the_document_and_keeps_published_at() {
        let es = publish(&[], doc("1.0.0"), &src(), t(0)).unwrap();
        let new = ServerJson::from_value(json!({"name": "a.b/c", "description": "new", "version": "1.0.0"})).unwrap();
        let next = edit(&es, "a.b/c", "1.0.0", new.clone(), t(5)).unwrap();
        assert_eq!(next[0].server.description(), "new");
        assert_eq!((next[0].official.published_at, next[0].official.updated_at), (t(0), t(5)));
        assert_eq!(edit(&next, "a.b/c", "1.0.0", new, t(6)).unwrap(), next, "the same document changes nothing");
        assert!(matches!(edit(&es, "a.b/c", "2.0.0", doc("1.0.0"), t(6)), Err(Refusal::PathMismatch { .. })));
        assert!(matches!(edit(&es, "a.b/c", "2.0.0", doc("2.0.0"), t(6)), Err(Refusal::NoVersion { .. })));
    }

    #[test]
    fn publisher_meta_is_bounded() {
        let big = ServerJson::from_value(json!({
            "name": "a.b/c", "description": "d", "version": "1",
            "_meta": {PUBLISHER_PROVIDED: {"x": "y".repeat(5000)}}
        }))
        .unwrap();
        assert!(matches!(publish(&[], big, &src(), t(0)), Err(Refusal::PublisherMetaTooLarge { .. })));
    }

    #[test]
    fn a_remote_url_belongs_to_one_name() {
        let remote = |name: &str| {
            ServerJson::from_value(json!({
                "name": name, "description": "d", "version": "1",
                "remotes": [{"type": "sse", "url": "https://mcp.example.com/sse"}]
            }))
            .unwrap()
        };
        let es = publish(&[], remote("a.b/one"), &src(), t(0)).unwrap();
        assert_eq!(remote_in_use(&es, &remote("a.b/two")), Some(("https://mcp.example.com/sse".into(), "a.b/one")));
        assert_eq!(remote_in_use(&es, &remote("a.b/one")), None, "the same name may reuse it");
        let gone =
            set_status(&es, "a.b/one", None, &StatusChange { status: Status::Deleted, message: None }, t(1)).unwrap();
        assert_eq!(remote_in_use(&gone, &remote("a.b/two")), None, "deleted versions free it");
    }
}
