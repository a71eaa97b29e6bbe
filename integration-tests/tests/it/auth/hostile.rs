//! Token-controlled text (the header's `alg`) reaches the 401's `WWW-Authenticate`
//! `error_description` and problem body only bounded and ASCII-safe: a hostile token cannot make
//! the challenge huge, drop it, or add parameters to it.

use serde_json::{Value, json};
use thv_testkit::oidc::{Idp, TestKey, raw_token};

use super::{assert_challenge, start};

#[tokio::test]
async fn hostile_token_text_is_bounded_and_ascii_in_the_challenge() {
    let key = TestKey::ec("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let env = start(&idp, None, "30s").await;
    let s = &env.server;
    let claims = idp.claims("mallory", &json!({}));
    let long_alg = "A".repeat(10 * 1024);
    for (what, alg) in [
        ("10 KB alg", long_alg.as_str()),
        (
            "quotes, backslashes, controls, non-ASCII",
            "RS256\", error=\"insufficient_scope\\ \u{fc}n\u{ef}\r\n\u{7}x\u{2026}",
        ),
        ("only non-ASCII", "\u{1F600}\u{1F600}\u{1F600}"),
    ] {
        let token = raw_token(&json!({"alg": alg, "kid": "k1"}), &claims);
        let reply = s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap();
        // Still a full challenge (not degraded to a bare `Bearer`), with one error parameter.
        assert_challenge(&reply, what, Some("invalid_token"));
        let challenge = reply.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.len() < 300, "{what}: {} bytes: {:.300}", challenge.len(), challenge);
        assert!(challenge.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{what}: {challenge}");
        assert_eq!(challenge.matches("error=\"").count(), 1, "{what}: {challenge}");
        assert_eq!(challenge.matches('"').count() % 2, 0, "{what}: {challenge}");
        let description = challenge.split("error_description=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(description.starts_with("token algorithm not accepted: "), "{what}: {description}");
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.len() < 200, "{what}: {} bytes: {detail:.200}", detail.len());
        assert!(detail.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{what}: {detail}");
        assert!(!detail.contains('"') && !detail.contains('\\'), "{what}: {detail}");
    }
    // Cut text says so; a short name passes unchanged.
    let token = raw_token(&json!({"alg": long_alg, "kid": "k1"}), &claims);
    let body = s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap().body;
    let detail = serde_json::from_str::<Value>(&body).unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.ends_with(&format!("{}...", "A".repeat(61))), "{detail}");
    let token = raw_token(&json!({"alg": "HS512", "kid": "k1"}), &claims);
    let body = s.call("GET", "/registry/members/v0.1/servers", Some(&token)).await.unwrap().body;
    assert!(body.contains("token algorithm not accepted: HS512\""), "{body}");
}
