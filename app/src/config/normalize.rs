//! From the raw file (any layout) to a validated [`Config`].

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use thv_domain::access::AccessPolicy;
use thv_domain::{Filter, FilterSpec, RegistryName, SourceName};

use super::auth::AuthConfig;

use super::raw::{RawConfig, RawRegistry, RawSource};
use super::{Config, RegistryConfig, SourceConfig, duration};
use duration::{MAX_INTERVAL, MAX_RETENTION, MAX_TIMEOUT};

mod sources;

use sources::source;

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
        let managed: Vec<&SourceName> =
            r.sources.iter().filter(|s| sources.iter().any(|c| c.name == **s && c.kind.managed().is_some())).collect();
        if managed.len() > 1 {
            let names: Vec<String> = managed.iter().map(|m| format!("`{m}`")).collect();
            p.push(
                &format!("registries[{i}].sources"),
                format!(
                    "lists the managed sources {}; a registry takes publishes into one managed source, so list at most one",
                    names.join(", ")
                ),
            );
        }
    }
    if let Some(d) = default
        && !regs.contains(d)
    {
        p.push("defaultRegistry", format!("no registry is named `{d}`"));
    }
}
