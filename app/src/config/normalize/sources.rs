//! One source's part of the configuration: its name, kind (file, url, git, api, managed) with the kind's
//! own settings, sync policy and filter, validated into a [`SourceConfig`].

use std::path::PathBuf;

use thv_domain::SourceName;

use super::super::raw::RawApiAuth;
use super::super::{
    ApiConfig, DEFAULT_FETCH_TIMEOUT, DEFAULT_FULL_SYNC_INTERVAL, DEFAULT_HTTP_TIMEOUT, DEFAULT_INTERVAL,
    DEFAULT_MAX_BYTES, DEFAULT_MAX_INVALID_RATIO, DEFAULT_TOMBSTONE_RETENTION, GitAuth, GitPin, ManagedConfig,
    SourceConfig, SourceKind,
};
use super::{
    MAX_INTERVAL, MAX_RETENTION, MAX_TIMEOUT, MIN_INTERVAL, Problems, RawSource, compile_filter, parse_duration,
    required,
};

/// Validates one source. `single` is layout 1, where `type` may be given.
pub(super) fn source(raw: &RawSource, key: &str, single: bool, p: &mut Problems) -> Option<SourceConfig> {
    // In layout 1, `syncPolicy` and `filter` are written at the top level.
    let outer = if single { String::new() } else { format!("{key}.") };
    let before = p.0.len();
    let name = required(raw.name.as_deref(), &format!("{key}.name"), p)
        .and_then(|n| SourceName::parse(n).map_err(|e| p.push(&format!("{key}.name"), e)).ok());
    let present: Vec<&str> = [
        ("file", raw.file.is_some()),
        ("git", raw.git.is_some()),
        ("api", raw.api.is_some()),
        ("managed", raw.managed.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    match (&raw.kind, single) {
        (Some(_), false) => {
            p.push(&format!("{key}.type"), "is not used here; the `file`/`git`/`api`/`managed` section says the kind");
        }
        (Some(t), true) if !["file", "git", "api", "managed"].contains(&t.as_str()) => {
            p.push(
                &format!("{key}.type"),
                format!("`{t}` is not a source type; use `file`, `git`, `api` or `managed`"),
            );
        }
        (Some(t), true) if present.len() == 1 && present[0] != t => {
            p.push(
                &format!("{key}.type"),
                format!("is `{t}` but the `{}` section is set; make them agree", present[0]),
            );
        }
        _ => {}
    }
    let kind = match present.as_slice() {
        [] => {
            p.push(key, "has no data location; add one of `file`, `git`, `api` or `managed`");
            None
        }
        ["file"] => file_kind(raw, key, p),
        ["git"] => git_kind(raw, key, p),
        ["api"] => api_kind(raw, key, p),
        ["managed"] => Some(managed_kind(raw, key, &outer, p)),
        many => {
            p.push(key, format!("sets {}; a source reads from exactly one location", many.join(" and ")));
            None
        }
    };
    let policy = raw.sync_policy.clone().unwrap_or_default();
    let interval = parse_duration(
        policy.interval.as_deref(),
        DEFAULT_INTERVAL,
        MAX_INTERVAL,
        &format!("{outer}syncPolicy.interval"),
        p,
    );
    if interval < MIN_INTERVAL {
        p.push(&format!("{outer}syncPolicy.interval"), "must be at least 100ms");
    }
    let tombstone_retention = parse_duration(
        policy.tombstone_retention.as_deref(),
        DEFAULT_TOMBSTONE_RETENTION,
        MAX_RETENTION,
        &format!("{outer}syncPolicy.tombstoneRetention"),
        p,
    );
    let timeout = parse_duration(
        policy.timeout.as_deref(),
        DEFAULT_FETCH_TIMEOUT,
        MAX_TIMEOUT,
        &format!("{outer}syncPolicy.timeout"),
        p,
    );
    let max_invalid_ratio = policy.max_invalid_ratio.unwrap_or(DEFAULT_MAX_INVALID_RATIO);
    if !(0.0..=1.0).contains(&max_invalid_ratio) {
        p.push(
            &format!("{outer}syncPolicy.maxInvalidRatio"),
            format!("{max_invalid_ratio} is not a share of entries; use a number from 0 to 1, e.g. 0.5"),
        );
    }
    let filter_spec = raw.filter.clone().unwrap_or_default();
    let filter = compile_filter(&filter_spec, &format!("{outer}filter"), p);
    if p.0.len() > before {
        return None;
    }
    Some(SourceConfig {
        name: name?,
        kind: kind?,
        format: raw.format.unwrap_or_default(),
        interval,
        tombstone_retention,
        timeout,
        max_invalid_ratio,
        filter_spec,
        filter: filter?,
    })
}

fn file_kind(raw: &RawSource, key: &str, p: &mut Problems) -> Option<SourceKind> {
    let file = raw.file.clone().unwrap_or_default();
    let timeout =
        parse_duration(file.timeout.as_deref(), DEFAULT_HTTP_TIMEOUT, MAX_TIMEOUT, &format!("{key}.file.timeout"), p);
    if file.max_bytes == Some(0) {
        p.push(&format!("{key}.file.maxBytes"), "must be at least 1");
    }
    let max_bytes = file.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    match (file.path, file.url) {
        (Some(path), None) if !path.as_os_str().is_empty() => {
            if file.timeout.is_some() {
                p.push(&format!("{key}.file.timeout"), "only applies to `url`; remove it");
            }
            Some(SourceKind::File { path, max_bytes })
        }
        (None, Some(url)) => {
            http_url(&url, &format!("{key}.file.url"), p).map(|url| SourceKind::Url { url, timeout, max_bytes })
        }
        (Some(_), Some(_)) => {
            p.push(&format!("{key}.file"), "sets both `path` and `url`; a file source reads one of them");
            None
        }
        _ => {
            p.push(&format!("{key}.file.path"), "is required: the path of the registry JSON file (or set `url`)");
            None
        }
    }
}

/// An absolute http(s) URL.
fn http_url(raw: &str, key: &str, p: &mut Problems) -> Option<String> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Some(raw.trim_end_matches('/').to_owned())
        }
        Ok(u) => {
            p.push(key, format!("`{raw}` has scheme `{}`; use an http:// or https:// URL", u.scheme()));
            None
        }
        Err(e) => {
            p.push(key, format!("`{raw}` is not a URL ({e}); use e.g. https://registry.example.com"));
            None
        }
    }
}

fn git_kind(raw: &RawSource, key: &str, p: &mut Problems) -> Option<SourceKind> {
    let git = raw.git.clone().unwrap_or_default();
    let key = format!("{key}.git");
    let repository = required(git.repository.as_deref(), &format!("{key}.repository"), p)?.to_owned();
    let pins: Vec<GitPin> = [
        git.branch.clone().map(GitPin::Branch),
        git.tag.clone().map(GitPin::Tag),
        git.commit.clone().map(GitPin::Commit),
    ]
    .into_iter()
    .flatten()
    .collect();
    let pin = match <[GitPin; 1]>::try_from(pins) {
        Ok([pin]) => pin,
        Err(pins) if pins.is_empty() => {
            p.push(&key, "set one of `branch`, `tag` or `commit`");
            return None;
        }
        Err(_) => {
            p.push(&key, "sets more than one of `branch`, `tag` and `commit`; they are mutually exclusive");
            return None;
        }
    };
    match &pin {
        GitPin::Branch(v) | GitPin::Tag(v) if v.trim().is_empty() => {
            p.push(&key, "the branch or tag name is empty");
        }
        GitPin::Commit(c) if c.len() < 7 || c.len() > 40 || !c.bytes().all(|b| b.is_ascii_hexdigit()) => {
            p.push(&format!("{key}.commit"), format!("`{c}` is not a commit id; use 7 to 40 hex digits"));
        }
        _ => {}
    }
    let path = git.path.unwrap_or_else(|| "registry.json".to_owned());
    if path.starts_with('/') || path.split('/').any(|seg| seg == "..") {
        p.push(&format!("{key}.path"), "must be a relative path inside the repository, without `..`");
    }
    let auth = git.auth.and_then(|a| {
        let username = required(a.username.as_deref(), &format!("{key}.auth.username"), p)?.to_owned();
        let Some(password_file) = a.password_file else {
            p.push(&format!("{key}.auth.passwordFile"), "is required: a file holding the password or token");
            return None;
        };
        match std::fs::read_to_string(&password_file) {
            Ok(pw) => Some(GitAuth { username, password: pw.trim().to_owned(), password_file: Some(password_file) }),
            Err(e) => {
                p.push(&format!("{key}.auth.passwordFile"), format!("cannot read {}: {e}", password_file.display()));
                None
            }
        }
    });
    if git.max_bytes == Some(0) {
        p.push(&format!("{key}.maxBytes"), "must be at least 1");
    }
    let max_bytes = git.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    Some(SourceKind::Git { repository, pin, path, auth, max_bytes })
}

fn managed_kind(raw: &RawSource, key: &str, outer: &str, p: &mut Problems) -> SourceKind {
    let not_synced = "a managed source is written through the API, not synced; remove it";
    if raw.sync_policy.is_some() {
        p.push(&format!("{outer}syncPolicy"), not_synced);
    }
    if raw.format.is_some() {
        p.push(&format!("{key}.format"), "a managed source stores server.json as published; remove it");
    }
    let managed = raw.managed.clone().unwrap_or_default();
    SourceKind::Managed(ManagedConfig { allow_anonymous_writes: managed.allow_anonymous_writes.unwrap_or(false) })
}

fn api_kind(raw: &RawSource, key: &str, p: &mut Problems) -> Option<SourceKind> {
    let api = raw.api.clone().unwrap_or_default();
    let key = format!("{key}.api");
    let endpoint = required(api.endpoint.as_deref(), &format!("{key}.endpoint"), p)?;
    let endpoint = http_url(endpoint, &format!("{key}.endpoint"), p)?;
    let timeout =
        parse_duration(api.timeout.as_deref(), DEFAULT_HTTP_TIMEOUT, MAX_TIMEOUT, &format!("{key}.timeout"), p);
    let full_sync_interval = parse_duration(
        api.full_sync_interval.as_deref(),
        DEFAULT_FULL_SYNC_INTERVAL,
        MAX_INTERVAL,
        &format!("{key}.fullSyncInterval"),
        p,
    );
    if api.max_pages == Some(0) {
        p.push(&format!("{key}.maxPages"), "must be at least 1");
    }
    let bearer_token_file = api.auth.and_then(|auth| bearer_token_file(auth, &format!("{key}.auth"), p));
    if bearer_token_file.is_some()
        && url::Url::parse(&endpoint).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        p.push(
            &format!("{key}.auth"),
            "the endpoint URL holds credentials too; keep one of them (a request carries one Authorization header)",
        );
    }
    let defaults = ApiConfig::new(endpoint);
    Some(SourceKind::Api(ApiConfig {
        timeout,
        user_agent: api.user_agent.unwrap_or(defaults.user_agent.clone()),
        max_pages: api.max_pages.unwrap_or(defaults.max_pages),
        max_bytes: api.max_bytes.unwrap_or(defaults.max_bytes),
        full_sync_interval,
        bearer_token_file,
        ..defaults
    }))
}

/// The `bearerTokenFile` of an api source's `auth`: it must hold a token now, so a typo fails at
/// load rather than at the first sync. Only the path is kept; the source reads the token itself
/// (and again whenever the file changes). Like git's `passwordFile`, a relative path is relative
/// to the working directory.
fn bearer_token_file(auth: RawApiAuth, key: &str, p: &mut Problems) -> Option<PathBuf> {
    let key = format!("{key}.bearerTokenFile");
    let Some(path) = auth.bearer_token_file.filter(|path| !path.as_os_str().is_empty()) else {
        p.push(&key, "is required: a file holding the bearer token (or remove `auth`)");
        return None;
    };
    let problem = match std::fs::read_to_string(&path) {
        Ok(text) => match thv_domain::spec::bearer_token(&text) {
            Ok(_) => return Some(path),
            Err(problem) => format!("{} {problem}", path.display()),
        },
        Err(e) => format!(
            "cannot read {}: {e}; create the file with the token (readable by this process) or fix the path",
            path.display()
        ),
    };
    p.push(&key, problem);
    None
}
