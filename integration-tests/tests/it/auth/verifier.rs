//! The token verifier on its own, against the local provider: where keys may come from, how often
//! a token can make it fetch them, what it remembers across a fetch, issuer spelling and token
//! types.

use std::time::Duration;

use serde_json::{Value, json};
use thv_adapters::tokens::oidc::{OidcVerifier, ProviderSpec, VerifierOptions};
use thv_ports::{TokenError, TokenVerifier as _};
use thv_testkit::oidc::{AUDIENCE, Idp, TestKey, raw_token, unsigned_token};

/// Provider `idp` with the given issuer and (`None`: discovered) JWKS URL.
fn spec(issuer_url: &str, jwks_url: Option<String>) -> ProviderSpec {
    ProviderSpec {
        name: "idp".into(),
        issuer_url: issuer_url.into(),
        audience: AUDIENCE.into(),
        jwks_url,
        ca_cert_pem: None,
        require_access_token_type: false,
    }
}

fn verifier(spec: ProviderSpec, refresh_min_interval: Duration) -> OidcVerifier {
    OidcVerifier::new(vec![spec], VerifierOptions { refresh_min_interval, ..VerifierOptions::default() }).unwrap()
}

#[tokio::test]
async fn a_discovered_jwks_uri_must_be_https_like_a_configured_one() {
    let key = TestKey::ec("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let token = key.sign(&idp.claims("u", &json!({}))).unwrap();
    // (jwks_uri, what the failure says; `None`: accepted)
    for (jwks_uri, refused) in [
        ("http://idp.example.com/jwks".to_owned(), Some("must use https")),
        ("ftp://idp.example.com/jwks".to_owned(), Some("must use https")),
        ("not a url".to_owned(), Some("is not a URL")),
        (idp.jwks_url(), None),
    ] {
        idp.set_discovery("jwks_uri", &jwks_uri);
        let v = verifier(spec(idp.issuer(), None), Duration::ZERO);
        let failures = v.prefetch().await;
        match (refused, failures.as_slice(), v.verify(&token).await) {
            (None, [], Ok(identity)) => assert_eq!(identity.subject.as_deref(), Some("u")),
            (Some(want), [(name, TokenError::KeysUnavailable(why))], Err(TokenError::KeysUnavailable(again))) => {
                assert_eq!(name, "idp");
                for message in [why, &again] {
                    assert!(message.contains(&format!("jwks_uri `{jwks_uri}`")), "{jwks_uri}: {message}");
                    assert!(message.contains(want), "{jwks_uri}: {message}");
                }
            }
            (_, failures, verified) => panic!("{jwks_uri}: {failures:?} {verified:?}"),
        }
    }
    assert_eq!(idp.jwks_fetches(), 1, "only the https (here: loopback) jwks_uri was fetched");
}

#[tokio::test]
async fn a_key_refetch_keeps_verifications_whose_key_is_still_published() {
    let (k1, k2, stranger) = (TestKey::rsa("k1").unwrap(), TestKey::ec("k2").unwrap(), TestKey::ec("zz").unwrap());
    let idp = Idp::start(&[&k1, &k2]).await.unwrap();
    // No rate limit: every unknown kid fetches the keys again.
    let v = verifier(spec(idp.issuer(), None), Duration::ZERO);
    let (t1, t2) = (k1.sign(&idp.claims("one", &json!({}))).unwrap(), k2.sign(&idp.claims("two", &json!({}))).unwrap());
    let random_kid = |n: u32| stranger.sign_as(&format!("random-{n}"), &idp.claims("x", &json!({}))).unwrap();
    for t in [&t1, &t2] {
        v.verify(t).await.unwrap();
    }
    assert_eq!(v.signatures_checked(), 2);

    // Tokens with random kids make the verifier fetch the keys again, and are refused …
    let fetches = idp.jwks_fetches();
    for n in 0..3 {
        assert_eq!(v.verify(&random_kid(n)).await, Err(TokenError::UnknownKey));
    }
    assert_eq!(idp.jwks_fetches(), fetches + 3);
    // … but what was verified with keys still published stays remembered: no signature check.
    let checked = v.signatures_checked();
    for t in [&t1, &t2] {
        v.verify(t).await.unwrap();
    }
    assert_eq!(v.signatures_checked(), checked, "remembered verifications were dropped by a key fetch");

    // k1 is retired: the next fetch forgets what k1 verified, and only that.
    idp.publish(&[&k2]);
    assert_eq!(v.verify(&random_kid(9)).await, Err(TokenError::UnknownKey));
    assert_eq!(v.verify(&t1).await, Err(TokenError::UnknownKey));
    let checked = v.signatures_checked();
    assert_eq!(v.verify(&t2).await.unwrap().subject.as_deref(), Some("two"));
    assert_eq!(v.signatures_checked(), checked);
    // A new key under an old kid is a different key: what the old one verified is forgotten.
    let k2_again = TestKey::ec("k2").unwrap();
    idp.publish(&[&k2_again]);
    assert_eq!(v.verify(&random_kid(10)).await, Err(TokenError::UnknownKey));
    assert_eq!(v.verify(&t2).await, Err(TokenError::Signature));
}

#[tokio::test]
async fn tokens_not_verified_yet_fetch_keys_at_most_once_per_interval() {
    let (rsa, stranger) = (TestKey::rsa("k1").unwrap(), TestKey::ec("zz").unwrap());
    let idp = Idp::start(&[&rsa]).await.unwrap();
    let v = std::sync::Arc::new(verifier(spec(idp.issuer(), None), Duration::from_secs(3600)));
    let claims = idp.claims("x", &json!({}));
    let mut tokens: Vec<String> = (0..16).map(|n| stranger.sign_as(&format!("random-{n}"), &claims).unwrap()).collect();
    // No kid, and an algorithm the provider has no key for; no signature at all.
    tokens.push(raw_token(&json!({"alg": "ES256"}), &claims));
    tokens.push(unsigned_token("random-x", &claims));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let v = v.clone();
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    // The first token fetched the keys (there were none yet); every other one found that fetch
    // too recent to repeat.
    assert_eq!(idp.jwks_fetches(), 1);
    for n in 0..5 {
        let token = stranger.sign_as(&format!("later-{n}"), &claims).unwrap();
        assert_eq!(v.verify(&token).await, Err(TokenError::UnknownKey));
    }
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(v.signatures_checked(), 0, "no signature was checked: no key matched");
}

#[tokio::test]
async fn issuer_trailing_slashes_do_not_matter_anywhere() {
    let key = TestKey::ec("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let base = idp.issuer().to_owned();
    let slash = |on: bool| if on { format!("{base}/") } else { base.clone() };
    let mut cases = 0;
    for configured in [false, true] {
        for in_token in [false, true] {
            for in_discovery in [false, true] {
                for discovered in [true, false] {
                    let what = format!(
                        "configured {}, token {}, discovery {}, {}",
                        slash(configured),
                        slash(in_token),
                        slash(in_discovery),
                        if discovered { "discovered keys" } else { "jwksUrl" }
                    );
                    idp.set_discovery("issuer", &slash(in_discovery));
                    let jwks = (!discovered).then(|| idp.jwks_url());
                    let v = verifier(spec(&slash(configured), jwks), Duration::ZERO);
                    let token = key.sign(&idp.claims("u", &json!({"iss": slash(in_token)}))).unwrap();
                    let identity = v.verify(&token).await.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(identity.provider, "idp", "{what}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 16);
    // Another path is another issuer, with or without slashes.
    let v = verifier(spec(&format!("{base}/realms/a/"), None), Duration::ZERO);
    for iss in [base.clone(), format!("{base}/realms"), format!("{base}/realms/a//"), format!("{base}/realms/ab")] {
        let token = key.sign(&idp.claims("u", &json!({"iss": iss}))).unwrap();
        assert_eq!(v.verify(&token).await, Err(TokenError::Issuer), "{iss}");
    }
}

#[tokio::test]
async fn access_token_type_is_required_only_when_configured() {
    let key = TestKey::ec("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let lenient = verifier(spec(idp.issuer(), None), Duration::ZERO);
    let strict = verifier(ProviderSpec { require_access_token_type: true, ..spec(idp.issuer(), None) }, Duration::ZERO);
    let plain = json!({});
    let id_token = json!({"at_hash": "x2Zx9Q", "nonce": "n-0S6"});
    let keycloak_id = json!({"typ": "ID", "azp": "client"});
    // (typ, extra claims, accepted without the option, accepted with it)
    let cases: &[(Option<&str>, &Value, bool, bool)] = &[
        (Some("at+jwt"), &plain, true, true),
        (Some("application/at+jwt"), &plain, true, true),
        (Some("AT+JWT"), &plain, true, true),
        (Some("JWT"), &plain, true, false),
        (None, &plain, true, false),
        (Some("id_token+jwt"), &plain, true, false),
        (Some("JWT"), &id_token, true, false),
        (Some("at+jwt"), &id_token, true, false),
        (Some("at+jwt"), &keycloak_id, true, false),
    ];
    for (typ, extra, lenient_ok, strict_ok) in cases {
        let token = key.sign_typed(*typ, &idp.claims("u", extra)).unwrap();
        let what = format!("typ {typ:?}, {extra}");
        assert_eq!(lenient.verify(&token).await.is_ok(), *lenient_ok, "without the option: {what}");
        match strict.verify(&token).await {
            Ok(_) => assert!(*strict_ok, "with the option: {what} was accepted"),
            Err(TokenError::TokenType(why)) => assert!(!*strict_ok, "with the option: {what}: {why}"),
            Err(e) => panic!("with the option: {what}: {e}"),
        }
    }
}
