//! A provider's keys: found through OIDC discovery or `jwksUrl`, fetched over https only (plain http
//! on a loopback host aside), kept when usable for signatures, and fetched again at most once per
//! `refresh_min_interval`.

use std::time::Instant;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thv_ports::TokenError;

use super::token::{ACCEPTED, same_issuer};
use super::{CachedKey, MAX_DOCUMENT_BYTES, Provider, VerifierOptions};
use crate::http::error_chain;

impl Provider {
    /// Fetches the keys again, unless the last attempt was less than `refresh_min_interval` ago
    /// (`force` skips that check, for the first fetch).
    pub(super) async fn refresh(&self, options: &VerifierOptions, force: bool) -> Result<(), TokenError> {
        let _guard = self.fetching.lock().await;
        let jwks_url = {
            let cache = self.keys.read().await;
            if !force && cache.attempted_at.is_some_and(|t| t.elapsed() < options.refresh_min_interval) {
                return if cache.fetched_at.is_some() { Ok(()) } else { Err(cache.no_keys(&self.spec.name)) };
            }
            cache.jwks_url.clone()
        };
        self.keys.write().await.attempted_at = Some(Instant::now());
        let result = self.fetch(jwks_url).await;
        let mut cache = self.keys.write().await;
        match result {
            Ok((url, keys)) => {
                tracing::info!(provider = %self.spec.name, keys = keys.len(), "fetched signing keys");
                cache.keys = keys;
                cache.jwks_url = Some(url);
                cache.fetched_at = Some(Instant::now());
                cache.last_error = None;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(provider = %self.spec.name, error = %e, "cannot fetch signing keys");
                cache.last_error = Some(e.clone());
                Err(TokenError::KeysUnavailable(e))
            }
        }
    }

    pub(super) async fn fetch(&self, jwks_url: Option<String>) -> Result<(String, Vec<CachedKey>), String> {
        let url = match jwks_url {
            Some(url) => url,
            None => self.discover().await?,
        };
        check_url_text(&url).map_err(|e| format!("JWKS URL {e}"))?;
        let set: JwkSet =
            serde_json::from_value(self.get_json(&url).await?).map_err(|e| format!("{url} is not a JWK set: {e}"))?;
        let keys: Vec<CachedKey> = set.keys.iter().filter_map(cached_key).collect();
        if keys.is_empty() {
            return Err(format!("{url} holds no usable signing key"));
        }
        Ok((url, keys))
    }

    pub(super) async fn discover(&self) -> Result<String, String> {
        let url = format!("{}/.well-known/openid-configuration", self.spec.issuer_url.trim_end_matches('/'));
        let doc = self.get_json(&url).await?;
        if let Some(issuer) = doc.get("issuer").and_then(Value::as_str)
            && !same_issuer(&self.spec.issuer_url, issuer)
        {
            return Err(format!("{url} names issuer `{issuer}`, not `{}`", self.spec.issuer_url));
        }
        let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str).ok_or_else(|| format!("{url} has no jwks_uri"))?;
        check_url_text(jwks_uri).map_err(|e| format!("{url}: jwks_uri {e}; the provider's keys cannot be fetched"))?;
        Ok(jwks_uri.to_owned())
    }

    pub(super) async fn get_json(&self, url: &str) -> Result<Value, String> {
        let mut resp = self.client.get(url).send().await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let body = crate::http::read_limited(&mut resp, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
            crate::http::BodyError::TooLarge => format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"),
            crate::http::BodyError::Read(e) => format!("GET {url}: {}", error_chain(&e)),
        })?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }
}

/// [`check_url`] on text.
pub(super) fn check_url_text(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    check_url(&url)
}

/// The keys of a provider are fetched over https only; plain http only from a loopback host
/// (local development and tests), the rule `issuerUrl` and `jwksUrl` follow in the config.
pub(super) fn check_url(url: &url::Url) -> Result<(), String> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("`{url}` must use https (plain http is accepted only for localhost, 127.0.0.1 and [::1])")),
    }
}

/// A JWK usable for verifying signatures: not an encryption key, not a symmetric key.
fn cached_key(jwk: &Jwk) -> Option<CachedKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    if key.family() == jsonwebtoken::AlgorithmFamily::Hmac {
        return None;
    }
    let alg =
        jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok()).filter(|a| ACCEPTED.contains(a));
    let fingerprint = Sha256::digest(serde_json::to_vec(jwk).ok()?).into();
    Some(CachedKey { fingerprint, kid: jwk.common.key_id.clone(), alg, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_over_https_or_from_a_loopback_host() {
        for (url, ok) in [
            ("https://idp.example.com/jwks", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://127.9.9.9/jwks", true),
            ("http://localhost/jwks", true),
            ("http://LocalHost:1/jwks", true),
            ("http://[::1]:8080/jwks", true),
            ("http://idp.example.com/jwks", false),
            ("http://10.0.0.1/jwks", false),
            ("http://localhost.example.com/jwks", false),
            ("ftp://idp.example.com/jwks", false),
            ("file:///etc/jwks.json", false),
            ("jwks", false),
        ] {
            let result = check_url_text(url);
            assert_eq!(result.is_ok(), ok, "{url}: {result:?}");
            if let Err(e) = result {
                assert!(e.contains("https") || e.contains("not a URL"), "{url}: {e}");
            }
        }
    }
}
