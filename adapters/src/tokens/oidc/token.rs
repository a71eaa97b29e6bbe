//! What is read from a token before any key is chosen (algorithm, `kid`, `typ`, the unverified
//! claims), the checks that need no key (accepted algorithms, the access-token type, issuer
//! spelling), and how token-controlled text is shown in messages.

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use thv_ports::TokenError;

/// Most characters of token-controlled text in an error message.
pub const UNTRUSTED_MAX_CHARS: usize = 64;

/// Signature algorithms accepted.
pub(super) const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Whether two issuer URLs name the same issuer: equal once one trailing `/` is taken off each.
/// Every issuer comparison goes through here (provider choice, the discovery document's
/// `issuer`, the token's `iss` in the signature check).
pub(super) fn same_issuer(a: &str, b: &str) -> bool {
    issuer_key(a) == issuer_key(b)
}

fn issuer_key(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

/// The `iss` values a token of this configured issuer may carry (see [`same_issuer`]).
pub(super) fn issuer_spellings(configured: &str) -> [String; 2] {
    let key = issuer_key(configured);
    [key.to_owned(), format!("{key}/")]
}

/// What is read from a token before any key is chosen.
#[derive(Debug)]
pub(super) struct Peeked {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
    /// The header's `typ`, when it is a string.
    pub(super) typ: Option<String>,
    /// The unverified claims (to pick the provider).
    pub(super) claims: Map<String, Value>,
}

pub(super) fn peek(token: &str) -> Result<Peeked, TokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(TokenError::Malformed("a JWT has three dot-separated parts".into()));
    };
    let header = decode_part(header, "header")?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg = ACCEPTED.iter().copied().find(|a| format!("{a:?}") == alg_name).ok_or_else(|| {
        TokenError::Algorithm(if alg_name.is_empty() { "missing".into() } else { untrusted(alg_name) })
    })?;
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(TokenError::Malformed("`kid` must be a string".into())),
    };
    let typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
    let claims = decode_part(payload, "payload")?;
    Ok(Peeked { alg, kid, typ, claims })
}

/// Token-controlled text made fit for an error message (and so for a header or a log line): at
/// most [`UNTRUSTED_MAX_CHARS`] characters, the last three `...` when cut; printable ASCII only,
/// anything else (controls, quotes, backslashes, non-ASCII) as `?`.
pub fn untrusted(text: &str) -> String {
    let safe = |c: char| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '?' };
    if text.chars().count() <= UNTRUSTED_MAX_CHARS {
        return text.chars().map(safe).collect();
    }
    let mut out: String = text.chars().take(UNTRUSTED_MAX_CHARS - 3).map(safe).collect();
    out.push_str("...");
    out
}

/// Claims only ID tokens carry (`at_hash`, `c_hash`: `OpenID` Connect Core 3.1.3.6 and 3.3.2.11;
/// `s_hash`: FAPI).
const ID_TOKEN_CLAIMS: &[&str] = &["at_hash", "c_hash", "s_hash"];

/// With `requireAccessTokenType`: the token must say it is an RFC 9068 access token (`typ`
/// `at+jwt`, media-type rules: case-insensitive, `application/` optional), and must not be
/// recognisably an ID token (an ID-token-only claim, or Keycloak's `typ: ID` claim).
pub(super) fn check_access_token_type(peeked: &Peeked) -> Result<(), TokenError> {
    let typ = peeked.typ.as_deref().unwrap_or_default().to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        let shown = if typ.is_empty() { "no `typ`".to_owned() } else { format!("`typ: {}`", untrusted(&typ)) };
        return Err(TokenError::TokenType(format!(
            "{shown}; this provider requires RFC 9068 access tokens (`typ: at+jwt`)"
        )));
    }
    let claims = &peeked.claims;
    if let Some(claim) = ID_TOKEN_CLAIMS.iter().find(|c| claims.contains_key(**c)) {
        return Err(TokenError::TokenType(format!("it carries `{claim}`, a claim of ID tokens")));
    }
    if claims.get("typ").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("id")) {
        return Err(TokenError::TokenType("its `typ` claim says it is an ID token".into()));
    }
    Ok(())
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::Malformed(format!("the {what} is not a JSON object"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn headers_are_checked_before_any_key_is_used() {
        let payload = part(&serde_json::json!({"iss": "https://idp"}));
        let token = |h: Value| format!("{}.{payload}.sig", part(&h));
        assert!(matches!(peek(&token(serde_json::json!({"alg": "none"}))), Err(TokenError::Algorithm(_))));
        assert!(matches!(peek(&token(serde_json::json!({"alg": "HS256"}))), Err(TokenError::Algorithm(_))));
        assert!(matches!(peek(&token(serde_json::json!({"typ": "JWT"}))), Err(TokenError::Algorithm(_))));
        assert!(matches!(peek(&token(serde_json::json!({"alg": "RS256", "kid": 7}))), Err(TokenError::Malformed(_))));
        assert!(matches!(peek("abc"), Err(TokenError::Malformed(_))));
        assert!(matches!(peek("a.b.c.d"), Err(TokenError::Malformed(_))));
        assert!(matches!(peek(&format!("!!.{payload}.sig")), Err(TokenError::Malformed(_))));
        let p = peek(&token(serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}))).unwrap();
        assert_eq!((p.alg, p.kid.as_deref(), p.typ.as_deref()), (Algorithm::ES256, Some("k1"), Some("at+jwt")));
        assert_eq!(p.claims["iss"].as_str(), Some("https://idp"));
    }

    #[test]
    fn issuers_compare_with_or_without_one_trailing_slash() {
        let cases = [
            ("https://idp/realms/a", "https://idp/realms/a", true),
            ("https://idp/realms/a/", "https://idp/realms/a", true),
            ("https://idp/realms/a", "https://idp/realms/a/", true),
            ("https://idp/realms/a/", "https://idp/realms/a/", true),
            ("https://idp", "https://idp/", true),
            ("https://idp/realms/a", "https://idp/realms/b", false),
            ("https://idp/realms/a", "https://idp/realms/ab", false),
            ("https://idp/realms/a", "https://idp/realms", false),
            ("https://idp/realms/a", "https://idp/realms/a//", false),
            ("https://idp/realms/a", "https://IDP/realms/a", false),
            ("https://idp/realms/a", "", false),
        ];
        for (configured, presented, same) in cases {
            assert_eq!(same_issuer(configured, presented), same, "{configured} vs {presented}");
            assert_eq!(same_issuer(presented, configured), same, "{presented} vs {configured}");
            // The signature check accepts exactly the same `iss` values.
            assert_eq!(
                issuer_spellings(configured).contains(&presented.to_owned()),
                same,
                "{configured} vs {presented}"
            );
        }
    }

    #[test]
    fn token_text_in_messages_is_short_printable_ascii() {
        let long = "A".repeat(10_000);
        let cases = [
            ("RS257", "RS257".to_owned()),
            ("a\"b\\c\r\n\u{7}d", "a?b?c???d".to_owned()),
            ("\u{fc}n\u{ef} \u{1F600}", "?n? ?".to_owned()),
            (&long[..64], "A".repeat(64)),
            (&long[..65], format!("{}...", "A".repeat(61))),
            (&long, format!("{}...", "A".repeat(61))),
        ];
        for (text, want) in cases {
            assert_eq!(untrusted(text), want, "{text:.80}");
        }
        let payload = part(&serde_json::json!({"iss": "https://idp"}));
        let hostile = format!("{}.{payload}.sig", part(&serde_json::json!({"alg": long})));
        let Err(TokenError::Algorithm(shown)) = peek(&hostile) else { panic!("accepted a 10 KB alg") };
        assert_eq!(shown.len(), UNTRUSTED_MAX_CHARS);
    }

    #[test]
    fn access_tokens_are_told_from_id_tokens() {
        let peeked = |typ: Option<&str>, claims: Value| Peeked {
            alg: Algorithm::RS256,
            kid: None,
            typ: typ.map(str::to_owned),
            claims: claims.as_object().cloned().unwrap_or_default(),
        };
        let plain = serde_json::json!({"sub": "x"});
        for (typ, claims, ok) in [
            (Some("at+jwt"), plain.clone(), true),
            (Some("application/at+jwt"), plain.clone(), true),
            (Some("Application/AT+JWT"), plain.clone(), true),
            (Some("JWT"), plain.clone(), false),
            (None, plain.clone(), false),
            (Some("at+jwt "), plain.clone(), false),
            (Some("at+jwt"), serde_json::json!({"at_hash": "h"}), false),
            (Some("at+jwt"), serde_json::json!({"c_hash": "h"}), false),
            (Some("at+jwt"), serde_json::json!({"typ": "ID"}), false),
            (Some("at+jwt"), serde_json::json!({"typ": "Bearer", "nonce": "n"}), true),
        ] {
            let result = check_access_token_type(&peeked(typ, claims.clone()));
            assert_eq!(result.is_ok(), ok, "{typ:?} {claims}: {result:?}");
        }
    }
}
