//! Two providers: a claim map bound to one provider never applies to the other's tokens, whatever
//! those tokens claim; and a provider that requires RFC 9068 access tokens refuses others.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use thv_testkit::TestServer;
use thv_testkit::oidc::{Idp, TestKey};

use super::{assert_challenge, start};

/// What `/v1/me` says: roles, and the registries the caller may read.
async fn me(s: &TestServer, token: &str) -> (Vec<String>, BTreeSet<String>) {
    let reply = s.call("GET", "/v1/me", Some(token)).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let me: Value = serde_json::from_str(&reply.body).unwrap();
    let strings = |key: &str| -> Vec<String> {
        me[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    (strings("roles"), strings("registries").into_iter().collect())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn claim_maps_apply_only_to_the_tokens_of_their_provider() {
    let main_key = TestKey::ec("main-1").unwrap();
    let second_key = TestKey::ec("second-1").unwrap();
    let main = Idp::start(&[&main_key]).await.unwrap();
    let second = Idp::start(&[&second_key]).await.unwrap();
    // `superAdmin`, `manageSources` and `team-a` are bound to `main`, `team-b` to `second`.
    let env = start(&main, Some((&second, json!({"requireAccessTokenType": true}))), "30s").await;
    let s = &env.server;
    let from_main = |extra: Value| main_key.sign(&main.claims("m", &extra)).unwrap();
    let from_second = |extra: Value| second_key.sign_typed(Some("at+jwt"), &second.claims("x", &extra)).unwrap();
    let all_roles = ["superAdmin", "manageSources", "manageRegistries", "manageEntries"];

    let (roles, reads) = me(s, &from_main(json!({"role": "admin"}))).await;
    assert_eq!(roles, all_roles, "main's admin");
    assert_eq!(reads, set(&["public", "team-a", "team-b", "members"]), "main's admin");

    // The same claims from the other provider grant nothing of main's, and `provider` is not a
    // claim: saying `provider: main` in the token changes nothing.
    for extra in
        [json!({"role": "admin", "tenant": "a"}), json!({"role": ["admin", "ops"], "tenant": "a", "provider": "main"})]
    {
        let token = from_second(extra.clone());
        let (roles, reads) = me(s, &token).await;
        assert!(roles.is_empty(), "{extra}: {roles:?}");
        assert_eq!(reads, set(&["public", "members"]), "{extra}");
        let reply = s.call("GET", "/registry/team-a/v0.1/servers", Some(&token)).await.unwrap();
        assert_eq!(reply.status, 404, "{extra}: {}", reply.body);
        let reply = s.call("POST", "/v1/sources/pub-src/sync", Some(&token)).await.unwrap();
        assert_eq!(reply.status, 403, "{extra}: {}", reply.body);
    }

    // A map bound to `second` is for second's tokens only.
    let (_, reads) = me(s, &from_second(json!({"tenant": "b"}))).await;
    assert_eq!(reads, set(&["public", "team-b", "members"]), "second's tenant b");
    let (_, reads) = me(s, &from_main(json!({"tenant": "b"}))).await;
    assert_eq!(reads, set(&["public", "members"]), "main's tenant b");
    let (_, reads) = me(s, &from_main(json!({"tenant": "a"}))).await;
    assert_eq!(reads, set(&["public", "team-a", "members"]), "main's tenant a");

    // `second` requires RFC 9068 access tokens (`typ: at+jwt`): an ID token, or any `typ: JWT`
    // token, is refused; `main` (default) accepts `typ: JWT`.
    for (what, token) in [
        ("typ JWT", second_key.sign(&second.claims("x", &json!({}))).unwrap()),
        ("no typ", second_key.sign_typed(None, &second.claims("x", &json!({}))).unwrap()),
        (
            "ID token named at+jwt",
            second_key.sign_typed(Some("at+jwt"), &second.claims("x", &json!({"at_hash": "x2Zx9Q"}))).unwrap(),
        ),
    ] {
        let reply = s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap();
        assert_challenge(&reply, what, Some("invalid_token"));
        assert!(reply.body.contains("access token"), "{what}: {}", reply.body);
    }
    let token = second_key.sign_typed(Some("application/at+jwt"), &second.claims("x", &json!({}))).unwrap();
    assert_eq!(s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap().status, 200);
    let token = main_key.sign_typed(None, &main.claims("m", &json!({}))).unwrap();
    assert_eq!(s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap().status, 200);
}
