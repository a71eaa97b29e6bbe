//! The `auth` section and access policies: what loads, and what each mistake is told.

use std::io::Write as _;

use thv_domain::access::{AccessPolicy, Role};

use super::AuthMode;
use crate::config::{Config, ConfigError};

fn load(yaml: &str) -> Result<Config, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    Config::load_with_env(f.path(), std::iter::empty())
}

fn problems(yaml: &str) -> String {
    load(yaml).unwrap_err().to_string()
}

const SOURCES: &str = "sources:\n  - name: a\n    file: {path: a.json}\n";

#[test]
fn oauth_with_providers_roles_and_access_policies() {
    let c = load(&format!(
        "{SOURCES}registries:\n  - name: open\n    sources: [a]\n    access: public\n  - name: members\n    sources: [a]\n  - name: team\n    sources: [a]\n    access: {{tenant: a, groups: [x, y], level: 3, provider: corp}}\n  - name: legacy\n    sources: [a]\n    claims: {{org: acme, provider: local}}\nauth:\n  mode: oauth\n  publicPaths: [/version, /docs/]\n  oauth:\n    providers:\n      - name: corp\n        issuerUrl: https://idp.example.com/realms/corp\n        audience: registry\n        requireAccessTokenType: true\n      - name: local\n        issuerUrl: http://127.0.0.1:8081\n        audience: registry\n        jwksUrl: http://localhost:8081/keys\n  authz:\n    roles:\n      superAdmin: [{{role: admin, provider: corp}}]\n      manageSources: [{{role: [ops, sre], provider: corp}}, {{team: platform, provider: local}}]\n"
    ))
    .unwrap();
    assert_eq!(c.auth.mode, AuthMode::Oauth);
    let oauth = c.auth.oauth.as_ref().unwrap();
    assert_eq!(oauth.providers.len(), 2);
    assert_eq!(oauth.realm, "mcp-registry");
    assert_eq!(oauth.providers[1].jwks_url.as_deref(), Some("http://localhost:8081/keys"));
    assert!(oauth.providers[0].require_access_token_type && !oauth.providers[1].require_access_token_type);
    let access: Vec<&str> = c.registries.iter().map(|r| r.access.kind()).collect();
    assert_eq!(access, ["public", "authenticated", "claims", "claims"]);
    let AccessPolicy::Claims(team) = &c.registries[2].access else { panic!() };
    let entries: Vec<(&str, &[String])> = team.entries().collect();
    assert_eq!(entries[1], ("level", &["3".to_owned()][..]));
    // `provider` binds the map; it is not a claim.
    assert_eq!((team.provider(), entries.len()), (Some("corp"), 3));
    let sources = c.auth.roles.rules(Role::ManageSources);
    assert_eq!(sources.iter().map(|m| m.provider()).collect::<Vec<_>>(), [Some("corp"), Some("local")]);
    assert!(c.auth.is_public_path("/health") && c.auth.is_public_path("/version"));
    assert!(c.auth.is_public_path("/docs/index.html") && !c.auth.is_public_path("/version/x"));
    assert!(!c.auth.is_public_path("/readiness") && !c.auth.is_public_path("/metrics"));
    assert!(!c.auth.is_public_path("/v0.1/servers"));
    // `config check` says who may read what and how callers authenticate.
    let summary = crate::config::describe(&c);
    for line in [
        "  - team <- a, access claims {provider: corp, groups: [x, y], level: 3, tenant: a}\n",
        "  - legacy <- a, access claims {provider: local, org: acme}\n",
        "  - members <- a, access authenticated\n",
        "auth: oauth, providers corp (at+jwt only), local\n",
        "  role superAdmin <- {provider: corp, role: admin}\n",
        "  role manageSources <- {provider: corp, role: [ops, sre]} | {provider: local, team: platform}\n",
        "http: bodies up to 1048576 bytes",
    ] {
        assert!(summary.contains(line), "{line}:\n{summary}");
    }
}

#[test]
fn anonymous_is_the_default_and_every_registry_is_public() {
    let c = load(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n")).unwrap();
    assert_eq!(c.auth.mode, AuthMode::Anonymous);
    assert_eq!(c.registries[0].access, AccessPolicy::Public);
}

#[test]
fn mistakes_name_the_key_and_the_fix() {
    let cases = [
        ("auth: {mode: ldap}", "`auth.mode`: `ldap` is not a mode; use `anonymous` or `oauth`"),
        ("auth: {mode: oauth}", "`auth.oauth`: is required with `mode: oauth`"),
        ("auth: {mode: oauth, oauth: {providers: []}}", "`auth.oauth.providers`: list at least one provider"),
        (
            "auth: {mode: oauth, oauth: {providers: [{name: p, issuerUrl: 'http://idp.example.com', audience: x}]}}",
            "`auth.oauth.providers[0].issuerUrl`: `http://idp.example.com` must use https",
        ),
        (
            "auth: {mode: oauth, oauth: {providers: [{name: p, issuerUrl: 'https://idp'}]}}",
            "`auth.oauth.providers[0].audience`: is required",
        ),
        (
            "auth: {mode: oauth, oauth: {providers: [{name: p, issuerUrl: 'https://a', audience: x}, {name: p, issuerUrl: 'https://b', audience: x}]}}",
            "`auth.oauth.providers[1].name`: `p` is used by more than one provider",
        ),
        (
            "auth: {mode: oauth, oauth: {providers: [{name: p, issuerUrl: 'https://a', audience: x, caCertPath: /no/such.pem}]}}",
            "`auth.oauth.providers[0].caCertPath`: cannot read /no/such.pem",
        ),
        ("auth: {publicPaths: [metrics]}", "`auth.publicPaths[0]`: `metrics` is not a path"),
        ("auth: {publicPaths: [/version, /metrics]}", "`auth.publicPaths[1]`: `/metrics` would make `/metrics` public"),
        ("auth: {publicPaths: [/]}", "`auth.publicPaths[0]`: `/` would make `/metrics` public"),
        ("auth: {publicPaths: [/readiness]}", "`auth.publicPaths[0]`: `/readiness` would make `/readiness` public"),
        ("auth: {authz: {roles: {superAdmin: [{}]}}}", "`auth.authz.roles.superAdmin[0]`: is an empty claim map"),
        (
            "auth: {authz: {roles: {owner: [{a: b}]}}}",
            "`auth.authz.roles.owner`: unknown key; valid keys here are `superAdmin`",
        ),
    ];
    for (auth, want) in cases {
        let msg = problems(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n{auth}\n"));
        assert!(msg.contains(want), "{auth}:\n{msg}");
    }
    let two = "auth: {mode: oauth, oauth: {providers: [{name: a, issuerUrl: 'https://a', audience: x}, {name: b, issuerUrl: 'https://b', audience: x}]}";
    let provider_cases = [
        (
            "authz: {roles: {superAdmin: [{role: admin, provider: a}, {role: admin}]}}",
            "`auth.authz.roles.superAdmin[1]`: with more than one provider a claim map must say whose tokens it is for, or another provider's tokens could match it: add `provider: <name>` (one of: `a`, `b`)",
        ),
        (
            "authz: {roles: {manageSources: [{role: ops, provider: c}]}}",
            "`auth.authz.roles.manageSources[0].provider`: `c` is not a provider under `auth.oauth.providers` (one of: `a`, `b`)",
        ),
        (
            "authz: {roles: {manageSources: [{role: ops, provider: [a, b]}]}}",
            "`auth.authz.roles.manageSources[0].provider`: names the provider whose tokens this claim map applies to: one provider name",
        ),
        (
            "authz: {roles: {superAdmin: [{provider: a}]}}",
            "`auth.authz.roles.superAdmin[0]`: is an empty claim map, which would match nothing: it names no claim besides `provider`",
        ),
    ];
    for (authz, want) in provider_cases {
        let msg = problems(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n{two}, {authz}}}\n"));
        assert!(msg.contains(want), "{authz}:\n{msg}");
    }
    for (access, want) in [
        ("access: {tenant: t}", "`registries[0].access`: with more than one provider a claim map must say"),
        ("claims: {tenant: t}", "`registries[0].claims`: with more than one provider a claim map must say"),
        ("access: {tenant: t, provider: z}", "`registries[0].access.provider`: `z` is not a provider"),
    ] {
        let msg = problems(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n    {access}\n{two}}}\n"));
        assert!(msg.contains(want), "{access}:\n{msg}");
    }
    let oauth = "auth: {mode: oauth, oauth: {providers: [{name: p, issuerUrl: 'https://a', audience: x}]}}\n";
    // With one provider `provider` is optional, and must name it when given.
    for access in ["{tenant: t}", "{tenant: t, provider: p}"] {
        let c = load(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n    access: {access}\n{oauth}"));
        assert!(c.is_ok(), "{access}: {c:?}");
    }
    let registry_cases = [
        (
            "access: {tenant: t, provider: q}",
            "`registries[0].access.provider`: `q` is not a provider under `auth.oauth.providers` (one of: `p`)",
        ),
        ("access: private", "`registries[0].access`: `private` is not a policy"),
        ("access: {}", "`registries[0].access`: is an empty claim map"),
        ("access: public\n    claims: {a: b}", "`registries[0].claims`: cannot be combined with `access`"),
    ];
    for (access, want) in registry_cases {
        let msg = problems(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n    {access}\n{oauth}"));
        assert!(msg.contains(want), "{access}:\n{msg}");
    }
    let msg = problems(&format!("{SOURCES}registries:\n  - name: r\n    sources: [a]\n    access: authenticated\n"));
    assert!(
        msg.contains("`registries[0].access`: `authenticated` needs authentication, but `auth.mode` is `anonymous`"),
        "{msg}"
    );
    let msg = problems(&format!(
        "registries:\n  - name: one\n    file: {{path: a.json}}\n    access: {{tenant: a}}\n  - name: two\n    file: {{path: b.json}}\n{oauth}"
    ));
    assert!(msg.contains("`registries[0].access`: cannot be enforced here"), "{msg}");
}
