//! The `auth` section and per-registry `access` policies.
//!
//! ```yaml
//! auth:
//!   mode: oauth                      # anonymous (default) | oauth
//!   publicPaths: [/version]          # added to /health, /openapi.json, /.well-known/…
//!   oauth:
//!     resourceUrl: https://registry.example.com
//!     realm: mcp-registry
//!     providers:
//!       - name: corp
//!         issuerUrl: https://idp.example.com/realms/corp
//!         audience: mcp-registry
//!         jwksUrl: https://idp.example.com/realms/corp/certs   # optional: OIDC discovery otherwise
//!         requireAccessTokenType: false # true: only RFC 9068 `typ: at+jwt` tokens
//!   authz:
//!     roles:
//!       superAdmin: [{groups: registry-admins}]
//!       manageSources: [{role: [ops, admin]}]
//! registries:
//!   - name: team-a
//!     sources: [a]
//!     access: {tenant: a}            # public | authenticated | claim map
//! ```
//!
//! A claim map may say `provider: corp`: it then applies to that provider's tokens only (the key
//! is never looked up in a token's claims). With more than one provider every claim map must say
//! whose tokens it is for, so one provider's `role: admin` never grants what another's does.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thv_domain::access::{AccessPolicy, ClaimMap, Role, RoleRules};

use super::duration;

mod claims;

pub use claims::{
    RawAccess, RawClaimMap, RawClaimValue, RawScalar, check_access_mode, claim_map, describe_access,
    describe_claim_map, describe_roles, registry_access,
};

/// Paths served without authentication in `oauth` mode, before `publicPaths` adds more.
/// (`/readiness` takes a token without needing one: see `http::auth`.)
pub const DEFAULT_PUBLIC_PATHS: &[&str] = &["/health", "/openapi.json", "/.well-known/oauth-protected-resource"];

/// Paths that show every registry and source, so they cannot be made public: `/metrics` (served
/// to `superAdmin` on the public listener, and on `--internal-address`) and `/readiness` (without a
/// token it already answers, with the status alone).
const NEVER_PUBLIC: &[&str] = &["/metrics", "/readiness"];

/// Default realm of the `WWW-Authenticate` challenge.
pub const DEFAULT_REALM: &str = "mcp-registry";

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuth {
    /// `anonymous` (default) or `oauth`.
    pub mode: Option<String>,
    /// Paths (exact, or a prefix ending in `/`) served without a token, besides the defaults.
    pub public_paths: Option<Vec<String>>,
    pub oauth: Option<RawOauth>,
    pub authz: Option<RawAuthz>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOauth {
    /// This server's URL, as named in `/.well-known/oauth-protected-resource` (RFC 9728).
    pub resource_url: Option<String>,
    /// Realm of the `WWW-Authenticate` challenge. Default `mcp-registry`.
    pub realm: Option<String>,
    /// Scopes listed in the protected-resource metadata.
    pub scopes_supported: Option<Vec<String>>,
    /// Least time between two key fetches triggered by tokens signed with an unknown key.
    /// Default `30s`.
    pub key_refresh_interval: Option<String>,
    /// Keys are fetched again after this long even when every `kid` is known. Default `1h`.
    pub key_ttl: Option<String>,
    /// Tolerated clock difference for `exp` and `nbf`. Default `30s`.
    pub clock_skew: Option<String>,
    pub providers: Option<Vec<RawProvider>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<String>,
    pub issuer_url: Option<String>,
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    /// PEM file with the CA certificate(s) of the provider's TLS server.
    pub ca_cert_path: Option<PathBuf>,
    /// Accept only RFC 9068 access tokens (`typ: at+jwt`). Default `false`.
    pub require_access_token_type: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuthz {
    pub roles: Option<RawRoles>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRoles {
    pub super_admin: Option<Vec<RawClaimMap>>,
    pub manage_sources: Option<Vec<RawClaimMap>>,
    pub manage_registries: Option<Vec<RawClaimMap>>,
    pub manage_entries: Option<Vec<RawClaimMap>>,
}

/// `anonymous` or `oauth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Anonymous,
    Oauth,
}

/// A validated `auth` section.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Exact paths, or prefixes ending in `/`.
    pub public_paths: Vec<String>,
    /// Present in `oauth` mode.
    pub oauth: Option<OauthConfig>,
    pub roles: RoleRules,
    /// The names under `auth.oauth.providers` in `oauth` mode (as written, even where a provider
    /// is invalid): what a claim map's `provider` may name.
    pub provider_names: Vec<String>,
}

impl AuthConfig {
    /// The access of a registry that does not set `access`: `public` without authentication,
    /// `authenticated` with it.
    pub fn default_access(&self) -> AccessPolicy {
        match self.mode {
            AuthMode::Anonymous => AccessPolicy::Public,
            AuthMode::Oauth => AccessPolicy::Authenticated,
        }
    }

    /// Whether a path is served without a token.
    pub fn is_public_path(&self, path: &str) -> bool {
        self.public_paths.iter().any(|p| path_covers(p, path))
    }
}

/// The `auth.oauth` section.
#[derive(Debug, Clone)]
pub struct OauthConfig {
    pub resource_url: Option<String>,
    pub realm: String,
    pub scopes_supported: Vec<String>,
    pub key_refresh_interval: Duration,
    pub key_ttl: Duration,
    pub clock_skew: Duration,
    pub providers: Vec<ProviderConfig>,
}

/// One OIDC provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub issuer_url: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    pub ca_cert_path: Option<PathBuf>,
    /// The PEM read from `ca_cert_path` at load.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Only RFC 9068 access tokens (`typ: at+jwt`) are accepted.
    pub require_access_token_type: bool,
}

/// Whether the `publicPaths` entry `entry` (exact, or a prefix ending in `/`) covers `path`.
fn path_covers(entry: &str, path: &str) -> bool {
    if entry.ends_with('/') { path.starts_with(entry) } else { path == entry }
}

/// Pushes `` `key`: message ``.
fn problem(problems: &mut Vec<String>, key: &str, msg: impl std::fmt::Display) {
    problems.push(format!("`{key}`: {msg}"));
}

/// Validates the `auth` section; problems are pushed as `` `key`: message ``.
pub fn normalize(raw: Option<&RawAuth>, problems: &mut Vec<String>) -> AuthConfig {
    let Some(raw) = raw else {
        return AuthConfig { public_paths: default_public_paths(), ..AuthConfig::default() };
    };
    let mode = match raw.mode.as_deref().map(str::trim) {
        None | Some("" | "anonymous") => AuthMode::Anonymous,
        Some("oauth") => AuthMode::Oauth,
        Some(other) => {
            problem(problems, "auth.mode", format!("`{other}` is not a mode; use `anonymous` or `oauth`"));
            AuthMode::Anonymous
        }
    };
    let mut public_paths = default_public_paths();
    for (i, path) in raw.public_paths.iter().flatten().enumerate() {
        if !path.starts_with('/') || path.contains("..") || path.contains('?') {
            problem(
                problems,
                &format!("auth.publicPaths[{i}]"),
                format!("`{path}` is not a path; write it like `/version` (exact) or `/docs/` (prefix)"),
            );
        } else if let Some(shown) = NEVER_PUBLIC.iter().find(|p| path_covers(path, p)) {
            problem(
                problems,
                &format!("auth.publicPaths[{i}]"),
                format!(
                    "`{path}` would make `{shown}` public, and it names every registry and source; remove it \
                     (`/metrics` is served to superAdmin and on --internal-address, `/readiness` answers its \
                     status without a token already)"
                ),
            );
        } else if !public_paths.contains(path) {
            public_paths.push(path.clone());
        }
    }
    let oauth = match (mode, &raw.oauth) {
        (AuthMode::Oauth, None) => {
            problem(
                problems,
                "auth.oauth",
                "is required with `mode: oauth`: list at least one provider under `auth.oauth.providers`",
            );
            None
        }
        (AuthMode::Oauth, Some(o)) => Some(oauth(o, problems)),
        (AuthMode::Anonymous, _) => None,
    };
    let provider_names = match (mode, &raw.oauth) {
        (AuthMode::Oauth, Some(o)) => {
            let mut names: Vec<String> = o
                .providers
                .iter()
                .flatten()
                .filter_map(|p| p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned))
                .collect();
            names.dedup();
            names
        }
        _ => Vec::new(),
    };
    let roles = roles(raw.authz.as_ref().and_then(|a| a.roles.as_ref()), &provider_names, problems);
    AuthConfig { mode, public_paths, oauth, roles, provider_names }
}

fn default_public_paths() -> Vec<String> {
    DEFAULT_PUBLIC_PATHS.iter().map(|p| (*p).to_owned()).collect()
}

fn oauth(raw: &RawOauth, problems: &mut Vec<String>) -> OauthConfig {
    let key_refresh_interval = duration::setting(
        raw.key_refresh_interval.as_deref(),
        Duration::from_secs(30),
        duration::MAX_TIMEOUT,
        "auth.oauth.keyRefreshInterval",
        problems,
    );
    let key_ttl = duration::positive_setting(
        raw.key_ttl.as_deref(),
        Duration::from_secs(3600),
        duration::MAX_INTERVAL,
        "auth.oauth.keyTtl",
        problems,
    );
    // Kept small: a larger skew accepts tokens that long after they expired.
    let clock_skew = duration::setting(
        raw.clock_skew.as_deref(),
        Duration::from_secs(30),
        duration::MAX_CLOCK_SKEW,
        "auth.oauth.clockSkew",
        problems,
    );
    if let Some(url) = &raw.resource_url
        && let Err(msg) = provider_url(url)
    {
        problem(problems, "auth.oauth.resourceUrl", msg);
    }
    let providers_raw = raw.providers.as_deref().unwrap_or_default();
    if providers_raw.is_empty() {
        problem(problems, "auth.oauth.providers", "list at least one provider: `[{name, issuerUrl, audience}]`");
    }
    let mut names = HashSet::new();
    let mut providers = Vec::new();
    for (i, p) in providers_raw.iter().enumerate() {
        let key = format!("auth.oauth.providers[{i}]");
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(name) = text(&p.name) else {
            problem(problems, &format!("{key}.name"), "is required");
            continue;
        };
        if !names.insert(name.clone()) {
            problem(problems, &format!("{key}.name"), format!("`{name}` is used by more than one provider"));
        }
        let issuer_url = match text(&p.issuer_url) {
            None => {
                problem(problems, &format!("{key}.issuerUrl"), "is required: the `iss` of the provider's tokens");
                continue;
            }
            Some(u) => match provider_url(&u) {
                Ok(()) => u,
                Err(msg) => {
                    problem(problems, &format!("{key}.issuerUrl"), msg);
                    continue;
                }
            },
        };
        let Some(audience) = text(&p.audience) else {
            problem(problems, &format!("{key}.audience"), "is required: the `aud` value tokens for this server carry");
            continue;
        };
        let jwks_url = text(&p.jwks_url);
        if let Some(u) = &jwks_url
            && let Err(msg) = provider_url(u)
        {
            problem(problems, &format!("{key}.jwksUrl"), msg);
        }
        let ca_cert_pem = match &p.ca_cert_path {
            None => None,
            Some(path) => match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    problem(problems, &format!("{key}.caCertPath"), format!("cannot read {}: {e}", path.display()));
                    None
                }
            },
        };
        providers.push(ProviderConfig {
            name,
            issuer_url,
            audience,
            jwks_url,
            ca_cert_path: p.ca_cert_path.clone(),
            ca_cert_pem,
            require_access_token_type: p.require_access_token_type.unwrap_or(false),
        });
    }
    OauthConfig {
        resource_url: raw.resource_url.clone(),
        realm: raw.realm.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| DEFAULT_REALM.to_owned()),
        scopes_supported: raw.scopes_supported.clone().unwrap_or_default(),
        key_refresh_interval,
        key_ttl,
        clock_skew,
        providers,
    }
}

/// A provider URL must be https, or http on a loopback host (local development and tests).
fn provider_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => {
            Err(format!("`{raw}` must use https (plain http is accepted only for localhost, 127.0.0.1 and [::1])"))
        }
        other => Err(format!("`{raw}`: scheme `{other}` is not supported; use https")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn roles(raw: Option<&RawRoles>, providers: &[String], problems: &mut Vec<String>) -> RoleRules {
    let Some(raw) = raw else { return RoleRules::default() };
    let mut rules = BTreeMap::new();
    for (role, maps) in [
        (Role::SuperAdmin, &raw.super_admin),
        (Role::ManageSources, &raw.manage_sources),
        (Role::ManageRegistries, &raw.manage_registries),
        (Role::ManageEntries, &raw.manage_entries),
    ] {
        let list: Vec<ClaimMap> = maps
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, m)| claim_map(m, &format!("auth.authz.roles.{role}[{i}]"), providers, problems))
            .collect();
        if !list.is_empty() {
            rules.insert(role, list);
        }
    }
    RoleRules::new(rules)
}

#[cfg(test)]
mod tests;
