//! The semantic rules of PUBLISH.md that the schemas cannot express, for the top-level fields;
//! `packages[]` and `remotes[]` have their own modules.
//!
//! Each rule looks only at values of the right JSON type: a wrong type or a missing required
//! field is the schema's to report, so a rule never reports it twice.

use serde_json::{Map, Value};

use super::url::parts;
use super::{Issue, Keys, Loc, packages, remotes};
use crate::names::ServerName;
use crate::version::{Version, VersionError};

/// Every semantic issue of a document whose fields are spelled as `keys` says.
pub(super) fn check(doc: &Map<String, Value>, keys: Keys) -> Vec<Issue> {
    let mut out = Vec::new();
    let body = Loc::body();
    if let Some(name) = doc.get("name").and_then(Value::as_str)
        && let Err(e) = ServerName::parse(name)
    {
        out.push(body.key("name").issue(format!("{e}, e.g. `io.github.user/weather`")));
    }
    if let Some(version) = doc.get("version").and_then(Value::as_str) {
        exact_version(version, "server", &body.key("version"), &mut out);
    }
    if let Some(title) = doc.get("title").and_then(Value::as_str)
        && title.trim().is_empty()
    {
        out.push(body.key("title").issue("`title` must not be blank: give a display name, or leave `title` out"));
    }
    let website = keys.of("websiteUrl");
    if let Some(url) = doc.get(website).and_then(Value::as_str) {
        https(url, &format!("`{website}`"), &body.key(website), &mut out);
    }
    for (i, icon) in array(doc.get("icons")).iter().enumerate() {
        if let Some(src) = icon.get("src").and_then(Value::as_str) {
            https(src, "an icon's `src`", &body.key("icons").index(i).key("src"), &mut out);
        }
    }
    if let Some(Value::Object(repository)) = doc.get("repository") {
        self::repository(repository, &body.key("repository"), &mut out);
    }
    packages::check(array(doc.get("packages")), keys, &mut out);
    remotes::check(array(doc.get("remotes")), &mut out);
    out
}

/// The items of an array value; nothing for anything else.
pub(super) fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A version that is one exact version: not empty, not `latest`, not a range (the rule of
/// [`Version::parse`]). `what` is `server` or `package`.
pub(super) fn exact_version(raw: &str, what: &str, at: &Loc, out: &mut Vec<Issue>) {
    let message = match Version::parse(raw) {
        Ok(_) => return,
        Err(VersionError::Empty) => {
            format!("the {what} version must not be empty: give one exact version, e.g. `1.0.2`")
        }
        Err(VersionError::TooLong) => format!("the {what} version must be at most 255 characters"),
        Err(VersionError::Latest) => {
            format!("`latest` is not a version: give the exact {what} version, e.g. `1.0.2`")
        }
        Err(VersionError::Range(range)) => {
            format!("`{range}` is a version range: give one exact {what} version, e.g. `1.0.2`")
        }
    };
    out.push(at.issue(message));
}

/// An absolute `https://` URL with a host.
fn https(raw: &str, what: &str, at: &Loc, out: &mut Vec<Issue>) {
    if parts(raw).is_none_or(|p| p.scheme != "https") {
        out.push(at.issue(format!("{what} must be an absolute https URL, like `https://example.com/…`")));
    }
}

fn repository(repository: &Map<String, Value>, at: &Loc, out: &mut Vec<Issue>) {
    let host = match repository.get("source").and_then(Value::as_str) {
        Some("github") => Some("github.com"),
        Some("gitlab") => Some("gitlab.com"),
        Some(other) => {
            out.push(
                at.key("source")
                    .issue(format!("repository source `{other}` is not supported: use `github` or `gitlab`")),
            );
            None
        }
        None => None,
    };
    if let (Some(host), Some(url)) = (host, repository.get("url").and_then(Value::as_str))
        && !is_repository_url(host, url)
    {
        out.push(
            at.key("url")
                .issue(format!("the repository url must have the form `https://{host}/owner/repo` (no deeper path)")),
        );
    }
    if let Some(subfolder) = repository.get("subfolder").and_then(Value::as_str)
        && let Some(problem) = subfolder_problem(subfolder)
    {
        out.push(at.key("subfolder").issue(format!("the subfolder {problem}, e.g. `src/weather`")));
    }
}

/// `https://[www.]host/owner/repo[/]`, owner and repo made of letters, digits, `_`, `.`, `-`.
fn is_repository_url(host: &str, url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else { return false };
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let Some(path) = rest.strip_prefix(host).and_then(|r| r.strip_prefix('/')) else { return false };
    let path = path.strip_suffix('/').unwrap_or(path);
    let segment = |s: &str| {
        !s.is_empty()
            && !s.bytes().all(|c| c == b'.')
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    };
    matches!(path.split_once('/'), Some((owner, repo)) if segment(owner) && segment(repo))
}

/// What is wrong with a subfolder, if anything. Empty means the repository root.
fn subfolder_problem(subfolder: &str) -> Option<&'static str> {
    if subfolder.is_empty() {
        None
    } else if subfolder.starts_with('/') {
        Some("must be relative to the repository root: remove the leading `/`")
    } else if subfolder.ends_with('/') {
        Some("must not end with `/`")
    } else if subfolder.split('/').any(|part| part == "..") {
        Some("must stay inside the repository: remove `..`")
    } else if subfolder.split('/').any(|part| part.is_empty() || part == ".") {
        Some("must be a clean path, without empty or `.` parts")
    } else if !subfolder.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/')) {
        Some("may only contain letters, digits, `_`, `.`, `-` and `/`")
    } else {
        None
    }
}
