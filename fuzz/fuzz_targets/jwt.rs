//! JWT header and claim parsing: what the OIDC verifier reads from a token before any key is
//! used (`alg`, `kid`, the unverified claims), then role rules evaluated over those claims
//! (top-level, dotted paths, arrays, numbers and booleans).
//! Invariants: never panics; a decoded token has a JSON object header and payload in its first
//! two of exactly three parts.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use thv_adapters::tokens::oidc::inspect_unverified;
use thv_domain::access::{ClaimMap, ClaimValues, Identity, Role, RoleRules};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let Ok(claims) = inspect_unverified(&token) else { return };
    assert_eq!(token.split('.').count(), 3, "a token without three parts was decoded");
    let map = |entries: &[(&str, &[&str])]| {
        ClaimMap::new(
            entries
                .iter()
                .map(|(k, vs)| ((*k).to_owned(), ClaimValues::new(vs.iter().map(|v| (*v).to_owned()).collect())))
                .collect(),
        )
    };
    let rules = RoleRules::new(BTreeMap::from([
        (Role::SuperAdmin, vec![map(&[("realm_access.roles", &["admin"])])]),
        (Role::ManageSources, vec![map(&[("groups", &["ops", "1", "true"]), ("org", &["acme"])])]),
        (Role::ManageRegistries, vec![map(&[("sub", &["x"])]), map(&[("a.b.c", &["d"])])]),
    ]));
    let identity = Identity { provider: "fuzz".to_owned(), subject: None, claims };
    let roles = rules.roles_for(&identity);
    if roles.contains(&Role::SuperAdmin) {
        assert_eq!(roles, Role::ALL.to_vec(), "superAdmin holds every role");
    }
});
