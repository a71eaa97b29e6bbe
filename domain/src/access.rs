//! Who may do what: claim maps, roles, registry access policies and the caller of a request.
//!
//! A **claim map** (`{org: acme, groups: [a, b]}`) matches a token's claims when every key
//! matches; a key matches when the claim's values and the map's values overlap (a scalar is a
//! one-value list; numbers and booleans compare as their JSON text). A key with dots
//! (`realm_access.roles`) that is not a top-level claim is looked up as a path into nested
//! objects. A map may be bound to one provider (`provider: corp`): it then matches only tokens
//! verified by that provider ([`Identity::provider`]); `provider` is never looked up in the
//! token's claims.
//!
//! The rules, in one place so every surface applies the same ones:
//! - in `anonymous` mode every caller may do everything ([`Caller::Open`]);
//! - in `oauth` mode a caller without a token reads `public` registries only and holds no role;
//!   an authenticated caller reads `public` and `authenticated` registries and those whose claim
//!   map matches; `superAdmin` reads every registry and holds every role.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Values a claim must overlap with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimValues(Vec<String>);

impl ClaimValues {
    pub fn new(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

/// A set of required claims: every key must match (see the module docs), and the token must come
/// from the map's provider when it names one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimMap {
    provider: Option<String>,
    entries: BTreeMap<String, ClaimValues>,
}

impl ClaimMap {
    /// A map that matches tokens from any provider.
    pub fn new(entries: BTreeMap<String, ClaimValues>) -> Self {
        Self { provider: None, entries }
    }

    /// This map, matching only tokens verified by the provider named `provider`.
    #[must_use]
    pub fn for_provider(self, provider: impl Into<String>) -> Self {
        Self { provider: Some(provider.into()), ..self }
    }

    /// The provider whose tokens this map applies to; `None`: any provider.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.values()))
    }

    /// Whether the identity comes from this map's provider (when it names one) and its claims
    /// satisfy every key. An empty map matches nothing: a policy that names no claim grants
    /// nothing by accident.
    pub fn matches(&self, identity: &Identity) -> bool {
        self.provider.as_deref().is_none_or(|p| p == identity.provider) && self.matches_claims(&identity.claims)
    }

    fn matches_claims(&self, claims: &Map<String, Value>) -> bool {
        !self.entries.is_empty()
            && self.entries.iter().all(|(key, wanted)| {
                lookup(claims, key).is_some_and(|have| {
                    let have = claim_strings(have);
                    wanted.0.iter().any(|w| have.iter().any(|h| h == w))
                })
            })
    }
}

fn lookup<'a>(claims: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A claim's values as strings: a string is itself, a number or boolean its JSON text, an array
/// its scalar elements; objects and null have none.
fn claim_strings(v: &Value) -> Vec<String> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// Who may read a registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessPolicy {
    /// Anyone, with or without a token.
    #[default]
    Public,
    /// Any caller with a valid token.
    Authenticated,
    /// Callers whose token claims match the map.
    Claims(ClaimMap),
}

impl AccessPolicy {
    /// `public`, `authenticated` or `claims`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Authenticated => "authenticated",
            Self::Claims(_) => "claims",
        }
    }
}

/// A management role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Every role, and read access to every registry.
    SuperAdmin,
    /// Trigger syncs of the sources the caller can see.
    ManageSources,
    /// Change registries (reserved for the registry write API).
    ManageRegistries,
    /// Publish, edit, deprecate and delete entries of managed sources.
    ManageEntries,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::ManageSources, Role::ManageRegistries, Role::ManageEntries];

    /// The config key and API name: `superAdmin`, `manageSources`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "superAdmin",
            Self::ManageSources => "manageSources",
            Self::ManageRegistries => "manageRegistries",
            Self::ManageEntries => "manageEntries",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a caller may not write entries (see [`Caller::may_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteDenied {
    /// `oauth` mode without a token.
    TokenRequired,
    /// A token without the `manageEntries` role.
    MissingRole,
    /// `anonymous` mode, and the managed source does not accept anonymous writes.
    AnonymousMode,
}

/// Which claim maps grant each role: a role applies when any of its maps matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleRules(BTreeMap<Role, Vec<ClaimMap>>);

impl RoleRules {
    pub fn new(rules: BTreeMap<Role, Vec<ClaimMap>>) -> Self {
        Self(rules)
    }

    pub fn rules(&self, role: Role) -> &[ClaimMap] {
        self.0.get(&role).map_or(&[], Vec::as_slice)
    }

    /// The roles this identity holds; `superAdmin` implies every other.
    pub fn roles_for(&self, identity: &Identity) -> Vec<Role> {
        let held = |role| self.rules(role).iter().any(|m| m.matches(identity));
        if held(Role::SuperAdmin) {
            return Role::ALL.to_vec();
        }
        Role::ALL.into_iter().filter(|r| held(*r)).collect()
    }
}

/// An authenticated identity: the token's subject and claims, and which provider vouched for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub provider: String,
    pub subject: Option<String>,
    pub claims: Map<String, Value>,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// `anonymous` mode: no authentication is configured, everything is allowed.
    Open,
    /// `oauth` mode without a token.
    Anonymous,
    /// `oauth` mode with a valid token.
    User { identity: Identity, roles: Vec<Role> },
}

impl Caller {
    /// A caller with a valid token and the roles its claims hold under `rules`.
    pub fn user(identity: Identity, rules: &RoleRules) -> Self {
        let held = rules.roles_for(&identity);
        Self::User { identity, roles: held }
    }

    /// Whether the caller presented a valid token.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Self::User { .. })
    }

    /// Whether this is an `oauth`-mode caller without a token (told to authenticate rather than
    /// told that something does not exist).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }

    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Self::User { identity, .. } => Some(identity),
            _ => None,
        }
    }

    /// The roles held: every role in `anonymous` mode, none without a token.
    pub fn roles(&self) -> Vec<Role> {
        match self {
            Self::Open => Role::ALL.to_vec(),
            Self::Anonymous => Vec::new(),
            Self::User { roles, .. } => roles.clone(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        match self {
            Self::Open => true,
            Self::Anonymous => false,
            Self::User { roles, .. } => roles.contains(&role) || roles.contains(&Role::SuperAdmin),
        }
    }

    /// Whether the caller may write entries into a managed source (publish, edit, status
    /// changes): in `oauth` mode a caller with a token and the `manageEntries` role; in
    /// `anonymous` mode nobody, unless the source opts in with `allow_anonymous` (local
    /// development). Read access to the registry is checked apart.
    ///
    /// # Errors
    /// The [`WriteDenied`] reason.
    pub fn may_write(&self, allow_anonymous: bool) -> Result<(), WriteDenied> {
        match self {
            Self::Open if allow_anonymous => Ok(()),
            Self::Open => Err(WriteDenied::AnonymousMode),
            Self::Anonymous => Err(WriteDenied::TokenRequired),
            Self::User { .. } if self.has_role(Role::ManageEntries) => Ok(()),
            Self::User { .. } => Err(WriteDenied::MissingRole),
        }
    }

    /// Whether the caller may read a registry with this policy.
    pub fn can_read(&self, policy: &AccessPolicy) -> bool {
        match (self, policy) {
            (Self::Open, _) | (_, AccessPolicy::Public) => true,
            (Self::Anonymous, _) => false,
            (Self::User { .. }, _) if self.has_role(Role::SuperAdmin) => true,
            (Self::User { .. }, AccessPolicy::Authenticated) => true,
            (Self::User { identity, .. }, AccessPolicy::Claims(map)) => map.matches(identity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: &Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn from(provider: &str, c: &Value) -> Identity {
        Identity { provider: provider.into(), subject: Some("s".into()), claims: claims(c) }
    }

    fn map(entries: &[(&str, &[&str])]) -> ClaimMap {
        ClaimMap::new(
            entries
                .iter()
                .map(|(k, vs)| ((*k).to_owned(), ClaimValues::new(vs.iter().map(|s| (*s).to_owned()).collect())))
                .collect(),
        )
    }

    type Entries<'a> = &'a [(&'a str, &'a [&'a str])];

    #[test]
    fn claim_maps_match_every_key_with_overlap() {
        let c = from(
            "p",
            &json!({
                "org": "acme", "groups": ["a", "b"], "level": 3, "admin": true,
                "realm_access": {"roles": ["writer"]}, "obj": {"x": 1}, "nil": null
            }),
        );
        let cases: &[(Entries, bool)] = &[
            (&[("org", &["acme"])], true),
            (&[("org", &["other", "acme"])], true),
            (&[("org", &["other"])], false),
            (&[("groups", &["b"])], true),
            (&[("groups", &["c", "a"])], true),
            (&[("groups", &["c"])], false),
            (&[("org", &["acme"]), ("groups", &["c"])], false),
            (&[("org", &["acme"]), ("groups", &["a"])], true),
            (&[("level", &["3"])], true),
            (&[("admin", &["true"])], true),
            (&[("realm_access.roles", &["writer"])], true),
            (&[("realm_access.roles", &["reader"])], false),
            (&[("missing", &["x"])], false),
            (&[("obj", &["x"])], false),
            (&[("nil", &["null"])], false),
            (&[], false),
        ];
        for (entries, want) in cases {
            assert_eq!(map(entries).matches(&c), *want, "{entries:?}");
        }
    }

    #[test]
    fn roles_come_from_any_matching_map_and_super_admin_implies_all() {
        let rules = RoleRules::new(BTreeMap::from([
            (Role::SuperAdmin, vec![map(&[("role", &["root"])])]),
            (Role::ManageSources, vec![map(&[("role", &["ops"])]), map(&[("team", &["platform"])])]),
        ]));
        assert_eq!(rules.roles_for(&from("p", &json!({"role": "root"}))), Role::ALL.to_vec());
        assert_eq!(rules.roles_for(&from("p", &json!({"team": "platform"}))), vec![Role::ManageSources]);
        assert_eq!(rules.roles_for(&from("p", &json!({"role": ["x", "ops"]}))), vec![Role::ManageSources]);
        assert!(rules.roles_for(&from("p", &json!({"role": "dev"}))).is_empty());
    }

    #[test]
    fn a_map_bound_to_a_provider_matches_only_its_tokens() {
        let admin_of_a = map(&[("role", &["admin"])]).for_provider("a");
        let rules = RoleRules::new(BTreeMap::from([(Role::SuperAdmin, vec![admin_of_a.clone()])]));
        let tenant_of_a = AccessPolicy::Claims(map(&[("tenant", &["t"])]).for_provider("a"));
        // `provider` is not a claim: a token claiming `provider: a` gains nothing by it.
        for (who, identity, admin, reads) in [
            ("a's admin", from("a", &json!({"role": "admin", "tenant": "t"})), true, true),
            ("a's tenant", from("a", &json!({"role": "dev", "tenant": "t"})), false, true),
            ("b's admin", from("b", &json!({"role": "admin", "tenant": "t"})), false, false),
            (
                "b claiming provider a",
                from("b", &json!({"role": "admin", "tenant": "t", "provider": "a"})),
                false,
                false,
            ),
        ] {
            assert_eq!(admin_of_a.matches(&identity), admin, "{who}");
            assert_eq!(rules.roles_for(&identity).contains(&Role::SuperAdmin), admin, "{who}");
            let caller = Caller::user(identity, &RoleRules::default());
            assert_eq!(caller.can_read(&tenant_of_a), reads, "{who}");
        }
        assert_eq!(admin_of_a.provider(), Some("a"));
        assert_eq!(map(&[("role", &["admin"])]).provider(), None);
        assert!(map(&[("role", &["admin"])]).matches(&from("b", &json!({"role": "admin"}))));
    }

    #[test]
    fn read_access_follows_the_policy() {
        let rules = RoleRules::new(BTreeMap::from([(Role::SuperAdmin, vec![map(&[("role", &["root"])])])]));
        let user = |c: &Value| Caller::user(from("p", c), &rules);
        let tenant_a = AccessPolicy::Claims(map(&[("tenant", &["a"])]));
        let a = user(&json!({"tenant": "a"}));
        let b = user(&json!({"tenant": "b"}));
        let root = user(&json!({"role": "root"}));
        for (caller, public, authenticated, only_a) in [
            (&Caller::Open, true, true, true),
            (&Caller::Anonymous, true, false, false),
            (&a, true, true, true),
            (&b, true, true, false),
            (&root, true, true, true),
        ] {
            assert_eq!(caller.can_read(&AccessPolicy::Public), public, "{caller:?}");
            assert_eq!(caller.can_read(&AccessPolicy::Authenticated), authenticated, "{caller:?}");
            assert_eq!(caller.can_read(&tenant_a), only_a, "{caller:?}");
        }
        assert!(root.has_role(Role::ManageEntries));
        assert!(!a.has_role(Role::ManageSources));
        assert!(Caller::Open.has_role(Role::ManageSources));
        assert!(!Caller::Anonymous.has_role(Role::ManageSources));
    }

    #[test]
    fn writes_need_the_manage_entries_role_or_an_explicit_anonymous_opt_in() {
        let rules = RoleRules::new(BTreeMap::from([
            (Role::SuperAdmin, vec![map(&[("role", &["root"])])]),
            (Role::ManageEntries, vec![map(&[("role", &["writer"])])]),
        ]));
        let user = |c: &Value| Caller::user(from("p", c), &rules);
        assert_eq!(user(&json!({"role": "writer"})).may_write(false), Ok(()));
        assert_eq!(user(&json!({"role": "root"})).may_write(false), Ok(()));
        assert_eq!(user(&json!({"role": "reader"})).may_write(true), Err(WriteDenied::MissingRole));
        assert_eq!(Caller::Anonymous.may_write(true), Err(WriteDenied::TokenRequired));
        assert_eq!(Caller::Open.may_write(false), Err(WriteDenied::AnonymousMode));
        assert_eq!(Caller::Open.may_write(true), Ok(()));
    }
}
