//! From the raw file (any layout) to a validated [`Config`].

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use thv_domain::access::AccessPolicy;
use thv_domain::{Filter, FilterSpec, RegistryName, SourceName};

use super::auth::AuthConfig;

use super::raw::{RawConfig, RawRegistry, RawSource};
use super::{
    ApiConfig, Config, DEFAULT_FETCH_TIMEOUT, DEFAULT_FULL_SYNC_INTERVAL, DEFAULT_HTTP_TIMEOUT, DEFAULT_INTERVAL,
    DEFAULT_MAX_BYTES, DEFAULT_MAX_INVALID_RATIO, DEFAULT_TOMBSTONE_RETENTION, GitAuth, GitPin, RegistryConfig,
    SourceConfig, SourceKind, duration,
};
use duration::{MAX_INTERVAL, MAX_RETENTION, MAX_TIMEOUT};

/// Shortest accepted sync interval.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("`{key}`: {msg}"));
    }
}

/// Normalises a raw configuration into named sources and registries.
///
/// # Errors
/// Every problem found, each naming its key and the fix.
pub fn normalize(raw: &RawConfig, env: &BTreeMap<String, String>) -> Result<Config, Vec<String>> {
    let mut p = Problems::default();
    let database = raw.database.as_ref().and_then(|db| super::database::normalize(db, env, &mut p.0));
    let telemetry = raw.telemetry.as_ref().map(|t| super::telemetry::normalize(t, &mut p.0)).unwrap_or_default();
    let http = raw.http.as_ref().map(|h| super::http::normalize(h, &mut p.0)).unwrap_or_default();
    let log_level = super::telemetry::log_level(raw.logging.as_ref(), &mut p.0);
    let kubernetes = raw.kubernetes.as_ref().map(|k| super::KubernetesConfig {
        namespaces: k.namespaces.clone().unwrap_or_default(),
        label_selector: k.label_selector.clone().filter(|s| !s.trim().is_empty()),
        kubeconfig: k.kubeconfig.clone(),
        context: k.context.clone(),
        timeout: parse_duration(
            k.timeout.as_deref(),
            Duration::from_secs(10),
            MAX_TIMEOUT,
            "kubernetes.timeout",
            &mut p,
        ),
        cache_ttl: parse_duration(
            k.cache_ttl.as_deref(),
            Duration::from_secs(5),
            MAX_TIMEOUT,
            "kubernetes.cacheTtl",
            &mut p,
        ),
    });
    let auth = super::auth::normalize(raw.auth.as_ref(), &mut p.0);
    let data_dir = raw.data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"));
    let (layout, sources, registries, default_registry) = match (&raw.source, &raw.sources, &raw.registries) {
        (Some(_), None, None) => layout_single(raw, &auth, &mut p),
        (None, None, Some(regs)) => layout_inline(raw, regs, &auth, &mut p),
        (None, Some(srcs), regs) => layout_named(raw, srcs, regs.as_deref().unwrap_or_default(), &auth, &mut p),
        (Some(_), _, _) => {
            p.push("source", "cannot be combined with `sources` or `registries`; use one layout");
            (1, Vec::new(), Vec::new(), None)
        }
        (None, None, None) => {
            p.0.push(
                "no source configured: add `source:` (single registry), `registries:` with an inline source each, or `sources:` plus `registries:`"
                    .to_owned(),
            );
            (0, Vec::new(), Vec::new(), None)
        }
    };
    if p.0.is_empty() {
        check_references(&sources, &registries, default_registry.as_ref(), &mut p);
    }
    if p.0.is_empty() {
        Ok(Config {
            data_dir,
            sources,
            registries,
            default_registry,
            database,
            telemetry,
            http,
            log_level,
            kubernetes,
            auth,
            layout,
        })
    } else {
        Err(p.0)
    }
}

type Normalized = (u8, Vec<SourceConfig>, Vec<RegistryConfig>, Option<RegistryName>);

fn registry_name(raw: &RawConfig, p: &mut Problems) -> Option<RegistryName> {
    let name = raw.registry_name.as_deref().unwrap_or("default");
    RegistryName::parse(name).map_err(|e| p.push("registryName", e)).ok()
}

/// Layout 1: `source`, `syncPolicy`, `filter` at the top.
fn layout_single(raw: &RawConfig, auth: &AuthConfig, p: &mut Problems) -> Normalized {
    let mut src = raw.source.clone().unwrap_or_default();
    if src.sync_policy.is_some() {
        p.push("source.syncPolicy", "belongs at the top level in this layout (`syncPolicy:` beside `source:`)");
    }
    if src.filter.is_some() {
        p.push("source.filter", "belongs at the top level in this layout (`filter:` beside `source:`)");
    }
    if raw.default_registry.is_some() {
        p.push("defaultRegistry", "is only used with `sources:` + `registries:`; the single registry is the default");
    }
    src.sync_policy.clone_from(&raw.sync_policy);
    src.filter.clone_from(&raw.filter);
    let Some(name) = registry_name(raw, p) else { return (1, Vec::new(), Vec::new(), None) };
    src.name = Some(name.to_string());
    let sources: Vec<SourceConfig> = source(&src, "source", true, p).into_iter().collect();
    let registries = sources
        .iter()
        .map(|s| RegistryConfig {
            name: name.clone(),
            sources: vec![s.name.clone()],
            filter_spec: FilterSpec::default(),
            filter: Filter::default(),
            access: auth.default_access(),
            deployed: None,
        })
        .collect();
    (1, sources, registries, Some(name))
}

/// Layout 2: `registries` with an inline source each.
fn layout_inline(raw: &RawConfig, regs: &[RawRegistry], auth: &AuthConfig, p: &mut Problems) -> Normalized {
    top_level_single_only(raw, p);
    if raw.default_registry.is_some() {
        p.push(
            "defaultRegistry",
            "is only used with `sources:` + `registries:`; here `registryName` names the default",
        );
    }
    let mut sources = Vec::new();
    let mut registries = Vec::new();
    for (i, reg) in regs.iter().enumerate() {
        let key = format!("registries[{i}]");
        if reg.sources.is_some() {
            p.push(&format!("{key}.sources"), "names sources, but there is no top-level `sources:` list; add one, or give this registry an inline `file`/`git`/`api` source");
            continue;
        }
        let Some(src) = source(&reg.inline_source(), &key, false, p) else { continue };
        let Ok(name) = RegistryName::parse(src.name.as_str()) else { continue };
        let access = access(reg, &key, auth, p);
        if regs.len() > 1 && access != auth.default_access() {
            p.push(
                &format!("{key}.access"),
                "cannot be enforced here: with several inline registries, every one is also served merged into the `registryName` registry; use the `sources:` + `registries:` layout for per-registry access",
            );
        }
        let deployed = deployed(reg, &key, raw, &access, p);
        registries.push(RegistryConfig {
            name,
            sources: vec![src.name.clone()],
            filter_spec: FilterSpec::default(),
            filter: Filter::default(),
            access,
            deployed,
        });
        sources.push(src);
    }
    let Some(top) = registry_name(raw, p) else { return (2, sources, registries, None) };
    if registries.len() > 1 && !registries.iter().any(|r| r.name == top) {
        registries.push(RegistryConfig {
            name: top.clone(),
            sources: sources.iter().map(|s| s.name.clone()).collect(),
            filter_spec: FilterSpec::default(),
            filter: Filter::default(),
            access: auth.default_access(),
            deployed: None,
        });
    }
    let default = if registries.len() == 1 { registries.first().map(|r| r.name.clone()) } else { Some(top) };
    (2, sources, registries, default)
}

/// Layout 3: `sources` and `registries` naming them.
fn layout_named(
    raw: &RawConfig,
    srcs: &[RawSource],
    regs: &[RawRegistry],
    auth: &AuthConfig,
    p: &mut Problems,
) -> Normalized {
    top_level_single_only(raw, p);
    if raw.registry_name.is_some() {
        p.push("registryName", "is not used with `sources:` + `registries:`; name the default with `defaultRegistry`");
    }
    let sources: Vec<SourceConfig> =
        srcs.iter().enumerate().filter_map(|(i, s)| source(s, &format!("sources[{i}]"), false, p)).collect();
    if regs.is_empty() {
        p.push("registries", "list at least one registry: `registries: [{name: …, sources: [source names]}]`");
    }
    let mut registries = Vec::new();
    for (i, reg) in regs.iter().enumerate() {
        let key = format!("registries[{i}]");
        if reg.has_inline_source() {
            p.push(&key, "with a top-level `sources:` list, a registry names its sources (`sources: [names]`) instead of defining `format`/`file`/`git`/`api`/`syncPolicy`");
            continue;
        }
        let Some(name) = required(reg.name.as_deref(), &format!("{key}.name"), p) else { continue };
        let Ok(name) = RegistryName::parse(name).map_err(|e| p.push(&format!("{key}.name"), e)) else { continue };
        let names = reg.sources.clone().unwrap_or_default();
        if names.is_empty() {
            p.push(
                &format!("{key}.sources"),
                "list the names of the sources this registry serves, in precedence order",
            );
        }
        let mut list = Vec::new();
        for (j, n) in names.iter().enumerate() {
            match SourceName::parse(n) {
                Ok(n) if list.contains(&n) => p.push(&format!("{key}.sources[{j}]"), format!("`{n}` is listed twice")),
                Ok(n) => list.push(n),
                Err(e) => p.push(&format!("{key}.sources[{j}]"), e),
            }
        }
        let filter_spec = reg.filter.clone().unwrap_or_default();
        let Some(filter) = compile_filter(&filter_spec, &format!("{key}.filter"), p) else { continue };
        let access = access(reg, &key, auth, p);
        let deployed = deployed(reg, &key, raw, &access, p);
        registries.push(RegistryConfig { name, sources: list, filter_spec, filter, access, deployed });
    }
    let default = match &raw.default_registry {
        Some(d) => RegistryName::parse(d).map_err(|e| p.push("defaultRegistry", e)).ok(),
        None if registries.len() == 1 => registries.first().map(|r| r.name.clone()),
        None => None,
    };
    (3, sources, registries, default)
}

/// A registry's `deployed` section: namespaces required (and within `kubernetes.namespaces` when
/// that lists any), `public` only on a public registry.
fn deployed(
    reg: &RawRegistry,
    key: &str,
    raw: &RawConfig,
    access: &AccessPolicy,
    p: &mut Problems,
) -> Option<super::DeployedScope> {
    let d = reg.deployed.as_ref()?;
    let key = format!("{key}.deployed");
    let Some(kube) = &raw.kubernetes else {
        p.push(&key, "lists deployed servers, but there is no `kubernetes` section to list them from; add one");
        return None;
    };
    let namespaces = d.namespaces.clone().unwrap_or_default();
    if namespaces.is_empty() {
        p.push(&format!("{key}.namespaces"), "list the namespaces whose deployed servers this registry shows");
    }
    let listed = kube.namespaces.clone().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if ns.trim().is_empty() {
            p.push(&format!("{key}.namespaces[{i}]"), "is empty; write a namespace name");
        } else if !listed.is_empty() && !listed.contains(ns) {
            p.push(
                &format!("{key}.namespaces[{i}]"),
                format!("`{ns}` is not in `kubernetes.namespaces`, so nothing from it is listed; add it there"),
            );
        }
    }
    let public = d.public.unwrap_or(false);
    if public && *access != AccessPolicy::Public {
        p.push(
            &format!("{key}.public"),
            "only a `public` registry can show its deployed servers to callers without a token",
        );
    }
    Some(super::DeployedScope { namespaces, public })
}

/// A registry's access policy: as configured, else the mode's default; checked against the mode.
fn access(reg: &RawRegistry, key: &str, auth: &AuthConfig, p: &mut Problems) -> AccessPolicy {
    let policy = super::auth::registry_access(reg.access.as_ref(), reg.claims.as_ref(), key, auth, &mut p.0)
        .unwrap_or_else(|| auth.default_access());
    super::auth::check_access_mode(auth, key, &policy, &mut p.0);
    policy
}

fn top_level_single_only(raw: &RawConfig, p: &mut Problems) {
    if raw.sync_policy.is_some() {
        p.push("syncPolicy", "at the top level is only used with a single `source:`; set it on each source");
    }
    if raw.filter.is_some() {
        p.push("filter", "at the top level is only used with a single `source:`; set it on a source or registry");
    }
}

fn required<'a>(value: Option<&'a str>, key: &str, p: &mut Problems) -> Option<&'a str> {
    match value {
        Some(v) if !v.trim().is_empty() => Some(v),
        _ => {
            p.push(key, "is required");
            None
        }
    }
}

fn compile_filter(spec: &FilterSpec, key: &str, p: &mut Problems) -> Option<Filter> {
    Filter::new(spec).map_err(|e| p.push(&format!("{key}.names"), e)).ok()
}

fn parse_duration(raw: Option<&str>, default: Duration, max: Duration, key: &str, p: &mut Problems) -> Duration {
    duration::setting(raw, default, max, key, &mut p.0)
}

/// Validates one source. `single` is layout 1, where `type` may be given.
fn source(raw: &RawSource, key: &str, single: bool, p: &mut Problems) -> Option<SourceConfig> {
    // In layout 1, `syncPolicy` and `filter` are written at the top level.
    let outer = if single { String::new() } else { format!("{key}.") };
    let before = p.0.len();
    let name = required(raw.name.as_deref(), &format!("{key}.name"), p)
        .and_then(|n| SourceName::parse(n).map_err(|e| p.push(&format!("{key}.name"), e)).ok());
    let present: Vec<&str> = [("file", raw.file.is_some()), ("git", raw.git.is_some()), ("api", raw.api.is_some())]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
    match (&raw.kind, single) {
        (Some(_), false) => {
            p.push(&format!("{key}.type"), "is not used here; the `file`/`git`/`api` section says the kind");
        }
        (Some(t), true) if !["file", "git", "api"].contains(&t.as_str()) => {
            p.push(&format!("{key}.type"), format!("`{t}` is not a source type; use `file`, `git` or `api`"));
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
            p.push(key, "has no data location; add one of `file`, `git` or `api`");
            None
        }
        ["file"] => file_kind(raw, key, p),
        ["git"] => git_kind(raw, key, p),
        ["api"] => api_kind(raw, key, p),
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
    match (file.path, file.url) {
        (Some(path), None) if !path.as_os_str().is_empty() => {
            if file.timeout.is_some() {
                p.push(&format!("{key}.file.timeout"), "only applies to `url`; remove it");
            }
            Some(SourceKind::File { path })
        }
        (None, Some(url)) => http_url(&url, &format!("{key}.file.url"), p).map(|url| SourceKind::Url { url, timeout }),
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
    let defaults = ApiConfig::new(endpoint);
    Some(SourceKind::Api(ApiConfig {
        timeout,
        user_agent: api.user_agent.unwrap_or(defaults.user_agent.clone()),
        max_pages: api.max_pages.unwrap_or(defaults.max_pages),
        max_bytes: api.max_bytes.unwrap_or(defaults.max_bytes),
        full_sync_interval,
        ..defaults
    }))
}

fn check_references(
    sources: &[SourceConfig],
    registries: &[RegistryConfig],
    default: Option<&RegistryName>,
    p: &mut Problems,
) {
    let mut seen = HashSet::new();
    for (i, s) in sources.iter().enumerate() {
        if !seen.insert(&s.name) {
            p.push(&format!("sources[{i}].name"), format!("`{}` is used by more than one source", s.name));
        }
    }
    let mut regs = HashSet::new();
    for (i, r) in registries.iter().enumerate() {
        if !regs.insert(&r.name) {
            p.push(&format!("registries[{i}].name"), format!("`{}` is used by more than one registry", r.name));
        }
        for (j, s) in r.sources.iter().enumerate() {
            if !seen.contains(s) {
                p.push(&format!("registries[{i}].sources[{j}]"), format!("no source is named `{s}`"));
            }
        }
    }
    if let Some(d) = default
        && !regs.contains(d)
    {
        p.push("defaultRegistry", format!("no registry is named `{d}`"));
    }
}
