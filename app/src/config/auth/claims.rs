//! Claim maps as written in the config (role rules, a registry's `access`), validated against
//! the configured providers, and shown by `config check`.

use std::collections::BTreeMap;

use serde::Deserialize;
use thv_domain::access::{AccessPolicy, ClaimMap, ClaimValues, Role, RoleRules};

use super::{AuthConfig, AuthMode, problem};

/// A claim map as written: each value a scalar or a list of scalars; the key `provider` names
/// the provider whose tokens the map applies to.
pub type RawClaimMap = BTreeMap<String, RawClaimValue>;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawClaimValue {
    One(RawScalar),
    Many(Vec<RawScalar>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawScalar {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl RawScalar {
    fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
        }
    }
}

/// A registry's `access` as written: `public`, `authenticated`, or a claim map.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawAccess {
    Keyword(String),
    Claims(RawClaimMap),
}

/// The key of a claim map that names its provider instead of a claim.
const PROVIDER_KEY: &str = "provider";

/// Validates a claim map: at least one claim, every claim with at least one value, and a
/// `provider` naming one of `providers` (required when there is more than one). `providers` is
/// empty in `anonymous` mode, where claim maps apply to nobody and `provider` is not checked.
pub fn claim_map(raw: &RawClaimMap, key: &str, providers: &[String], problems: &mut Vec<String>) -> Option<ClaimMap> {
    let one_of = || providers.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    let provider = match raw.get(PROVIDER_KEY) {
        None => None,
        Some(RawClaimValue::One(RawScalar::Text(name))) if !name.trim().is_empty() => Some(name.trim().to_owned()),
        Some(_) => {
            problem(
                problems,
                &format!("{key}.{PROVIDER_KEY}"),
                "names the provider whose tokens this claim map applies to: one provider name, e.g. `provider: corp` (write one claim map per provider)",
            );
            return None;
        }
    };
    match &provider {
        Some(name) if !providers.is_empty() && !providers.contains(name) => {
            problem(
                problems,
                &format!("{key}.{PROVIDER_KEY}"),
                format!("`{name}` is not a provider under `auth.oauth.providers` (one of: {})", one_of()),
            );
            return None;
        }
        None if providers.len() > 1 => {
            problem(
                problems,
                key,
                format!(
                    "with more than one provider a claim map must say whose tokens it is for, or another provider's tokens could match it: add `provider: <name>` (one of: {})",
                    one_of()
                ),
            );
            return None;
        }
        _ => {}
    }
    let claims: Vec<(&String, &RawClaimValue)> = raw.iter().filter(|(k, _)| *k != PROVIDER_KEY).collect();
    if claims.is_empty() {
        let besides = if provider.is_some() { " besides `provider`" } else { "" };
        problem(
            problems,
            key,
            format!(
                "is an empty claim map, which would match nothing: it names no claim{besides}; name at least one claim, e.g. `{{groups: admins}}`"
            ),
        );
        return None;
    }
    let mut out = BTreeMap::new();
    for (claim, value) in claims {
        let values: Vec<String> = match value {
            RawClaimValue::One(s) => vec![s.text()],
            RawClaimValue::Many(list) => list.iter().map(RawScalar::text).collect(),
        };
        if claim.trim().is_empty() || values.is_empty() {
            problem(problems, &format!("{key}.{claim}"), "needs a claim name and at least one value");
            return None;
        }
        out.insert(claim.clone(), ClaimValues::new(values));
    }
    let map = ClaimMap::new(out);
    Some(match provider {
        Some(name) => map.for_provider(name),
        None => map,
    })
}

/// A claim map as `config check` shows it: `{provider: corp, groups: [a, b], tenant: a}`.
pub fn describe_claim_map(map: &ClaimMap) -> String {
    let mut parts: Vec<String> = map.provider().map(|p| format!("{PROVIDER_KEY}: {p}")).into_iter().collect();
    for (claim, values) in map.entries() {
        parts.push(match values {
            [one] => format!("{claim}: {one}"),
            many => format!("{claim}: [{}]", many.join(", ")),
        });
    }
    format!("{{{}}}", parts.join(", "))
}

/// A registry's access as `config check` shows it: `public`, `authenticated`, or `claims` and
/// the claim map.
pub fn describe_access(policy: &AccessPolicy) -> String {
    match policy {
        AccessPolicy::Claims(map) => format!("claims {}", describe_claim_map(map)),
        other => other.kind().to_owned(),
    }
}

/// The role rules as `config check` shows them, one `role <- map | map` per role that has any.
pub fn describe_roles(rules: &RoleRules) -> Vec<String> {
    Role::ALL
        .into_iter()
        .filter(|r| !rules.rules(*r).is_empty())
        .map(|r| {
            let maps: Vec<String> = rules.rules(r).iter().map(describe_claim_map).collect();
            format!("{r} <- {}", maps.join(" | "))
        })
        .collect()
}

/// A registry's access policy from `access` (or the original server's `claims`), or `None` when
/// neither is set.
pub fn registry_access(
    access: Option<&RawAccess>,
    claims: Option<&RawClaimMap>,
    key: &str,
    auth: &AuthConfig,
    problems: &mut Vec<String>,
) -> Option<AccessPolicy> {
    let providers = auth.provider_names.as_slice();
    match (access, claims) {
        (Some(_), Some(_)) => {
            problem(
                problems,
                &format!("{key}.claims"),
                "cannot be combined with `access`; write the claim map under `access`",
            );
            None
        }
        (None, None) => None,
        (None, Some(map)) => claim_map(map, &format!("{key}.claims"), providers, problems).map(AccessPolicy::Claims),
        (Some(RawAccess::Keyword(k)), None) => match k.trim() {
            "public" => Some(AccessPolicy::Public),
            "authenticated" => Some(AccessPolicy::Authenticated),
            other => {
                problem(
                    problems,
                    &format!("{key}.access"),
                    format!(
                        "`{other}` is not a policy; use `public`, `authenticated`, or a claim map like `{{tenant: a}}`"
                    ),
                );
                None
            }
        },
        (Some(RawAccess::Claims(map)), None) => {
            claim_map(map, &format!("{key}.access"), providers, problems).map(AccessPolicy::Claims)
        }
    }
}

/// `anonymous` mode cannot enforce anything but `public`: say so instead of silently opening a
/// registry meant to be private.
pub fn check_access_mode(auth: &AuthConfig, key: &str, policy: &AccessPolicy, problems: &mut Vec<String>) {
    if auth.mode == AuthMode::Anonymous && *policy != AccessPolicy::Public {
        problems.push(format!(
            "`{key}.access`: `{}` needs authentication, but `auth.mode` is `anonymous`; set `auth.mode: oauth` with providers, or make the registry `public`",
            policy.kind()
        ));
    }
}
