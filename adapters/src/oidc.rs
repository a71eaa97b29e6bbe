//! A [`TokenVerifier`] for JWT access tokens from OIDC providers: keys come from each provider's
//! JWKS (found through OIDC discovery unless `jwksUrl` is given), are cached, and are fetched
//! again when a token names an unknown `kid` (at most once per `refresh_min_interval`) or when
//! they are older than `key_ttl`. Only asymmetric algorithms are accepted (RS*, PS*, ES256,
//! ES384, `EdDSA`); keys are never taken from the token itself (`jku`, `jwk`, `x5u` are ignored).
//!
//! A token that verified is remembered (by its SHA-256) for at most [`VERIFIED_TTL`], so a client
//! sending the same token again skips the signature check; the entry is dropped at the token's
//! `exp` (plus the leeway) and whenever any provider's keys are fetched again, so a retired key
//! stops working as soon as the server learns of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Client;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use thv_domain::access::Identity;
use thv_ports::{Clock as _, TokenError, TokenVerifier};
use tokio::sync::{Mutex, RwLock};

use crate::http_file::error_chain;

/// One OIDC provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    pub name: String,
    /// Expected `iss`, exactly (a trailing `/` is ignored on both sides).
    pub issuer_url: String,
    /// Required member of `aud`.
    pub audience: String,
    /// The JWKS location; `None`: from `<issuer>/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// Extra PEM root certificates for reaching the provider.
    pub ca_cert_pem: Option<Vec<u8>>,
}

/// Timing of key fetching and token checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierOptions {
    /// Tolerated clock difference for `exp` and `nbf`.
    pub leeway: Duration,
    /// Least time between two fetches of a provider's keys triggered by unknown `kid`s.
    pub refresh_min_interval: Duration,
    /// Keys older than this are fetched again on the next request.
    pub key_ttl: Duration,
    /// Per-request timeout when talking to a provider.
    pub http_timeout: Duration,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(30),
            refresh_min_interval: Duration::from_secs(30),
            key_ttl: Duration::from_secs(3600),
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// Verifies tokens against providers tried in order.
#[derive(Debug)]
pub struct OidcVerifier {
    providers: Vec<Provider>,
    options: VerifierOptions,
    /// Tokens that verified, by SHA-256 of the token.
    verified: std::sync::Mutex<HashMap<[u8; 32], Verified>>,
    /// Bumped whenever any provider's keys are fetched: older remembered tokens are checked again.
    key_generation: Arc<AtomicU64>,
}

/// How long a verified token is remembered at most.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Most tokens remembered; the memory is cleared when it is full.
const VERIFIED_MAX: usize = 10_000;

#[derive(Debug)]
struct Verified {
    identity: Identity,
    /// The token's `exp`, seconds since the epoch.
    exp: i64,
    until: Instant,
    key_generation: u64,
}

#[derive(Debug)]
struct Provider {
    spec: ProviderSpec,
    client: Client,
    keys: RwLock<KeyCache>,
    /// Serialises fetches, so a burst of unknown `kid`s triggers one.
    fetching: Mutex<()>,
    /// The verifier's key generation, bumped after every successful fetch.
    key_generation: Arc<AtomicU64>,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<CachedKey>,
    fetched_at: Option<Instant>,
    /// Last fetch attempt, successful or not (for rate limiting).
    attempted_at: Option<Instant>,
    jwks_url: Option<String>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("keys", &self.keys.len())
            .field("fetched_at", &self.fetched_at)
            .field("attempted_at", &self.attempted_at)
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

struct CachedKey {
    kid: Option<String>,
    /// `alg` from the JWK, when it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// Signature algorithms accepted.
const ACCEPTED: &[Algorithm] = &[
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

/// Largest JWKS or discovery document read.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

impl OidcVerifier {
    pub fn new(specs: Vec<ProviderSpec>, options: VerifierOptions) -> Result<Self, String> {
        let key_generation = Arc::new(AtomicU64::new(0));
        let providers = specs
            .into_iter()
            .map(|spec| {
                let mut builder = Client::builder()
                    .timeout(options.http_timeout)
                    .connect_timeout(options.http_timeout)
                    .user_agent(concat!("thv-registry-api/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::limited(3));
                if let Some(pem) = &spec.ca_cert_pem {
                    for cert in reqwest::Certificate::from_pem_bundle(pem)
                        .map_err(|e| format!("provider `{}`: cannot read the CA certificate: {e}", spec.name))?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                let client = builder
                    .build()
                    .map_err(|e| format!("provider `{}`: cannot build the HTTP client: {e}", spec.name))?;
                Ok(Provider {
                    keys: RwLock::new(KeyCache { jwks_url: spec.jwks_url.clone(), ..KeyCache::default() }),
                    spec,
                    client,
                    fetching: Mutex::new(()),
                    key_generation: key_generation.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { providers, options, verified: std::sync::Mutex::default(), key_generation })
    }

    /// Fetches every provider's keys now; failures are returned (per provider name) and retried
    /// on demand later.
    pub async fn prefetch(&self) -> Vec<(String, TokenError)> {
        let mut failures = Vec::new();
        for p in &self.providers {
            if let Err(e) = p.refresh(&self.options, true).await {
                failures.push((p.spec.name.clone(), e));
            }
        }
        failures
    }
}

#[async_trait]
impl TokenVerifier for OidcVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(identity) = self.remembered(&digest) {
            return Ok(identity);
        }
        let generation = self.key_generation.load(Ordering::SeqCst);
        let identity = self.verify_now(token).await?;
        self.remember(digest, &identity, generation);
        Ok(identity)
    }
}

impl OidcVerifier {
    /// A remembered identity for this token, while it is still valid.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Identity> {
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = verified.get(digest)?;
        let leeway = i64::try_from(self.options.leeway.as_secs()).unwrap_or(0);
        let fresh = entry.until > Instant::now()
            && entry.key_generation == self.key_generation.load(Ordering::SeqCst)
            && crate::SystemClock.now().timestamp() < entry.exp.saturating_add(leeway);
        if fresh {
            Some(entry.identity.clone())
        } else {
            verified.remove(digest);
            None
        }
    }

    fn remember(&self, digest: [u8; 32], identity: &Identity, key_generation: u64) {
        let Some(exp) = identity.claims.get("exp").and_then(Value::as_i64) else { return };
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        let entry = Verified { identity: identity.clone(), exp, until: Instant::now() + VERIFIED_TTL, key_generation };
        verified.insert(digest, entry);
    }

    async fn verify_now(&self, token: &str) -> Result<Identity, TokenError> {
        let (alg, kid, claims) = peek(token)?;
        let issuer = claims.get("iss").and_then(Value::as_str).ok_or(TokenError::Issuer)?;
        let mut last = TokenError::Issuer;
        for provider in self.providers.iter().filter(|p| same_issuer(&p.spec.issuer_url, issuer)) {
            match provider.verify(token, alg, kid.as_deref(), &self.options).await {
                Ok(claims) => {
                    let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
                    return Ok(Identity { provider: provider.spec.name.clone(), subject, claims });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn same_issuer(configured: &str, presented: &str) -> bool {
    configured.trim_end_matches('/') == presented.trim_end_matches('/')
}

/// What is read from a token before any key is chosen: the header's algorithm and `kid`, and
/// the unverified claims (to pick the provider).
type Peeked = (Algorithm, Option<String>, Map<String, Value>);

fn peek(token: &str) -> Result<Peeked, TokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(TokenError::Malformed("a JWT has three dot-separated parts".into()));
    };
    let header = decode_part(header, "header")?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg =
        ACCEPTED.iter().copied().find(|a| format!("{a:?}") == alg_name).ok_or_else(|| {
            TokenError::Algorithm(if alg_name.is_empty() { "missing".into() } else { alg_name.into() })
        })?;
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(TokenError::Malformed("`kid` must be a string".into())),
    };
    let claims = decode_part(payload, "payload")?;
    Ok((alg, kid, claims))
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

impl Provider {
    async fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        options: &VerifierOptions,
    ) -> Result<Map<String, Value>, TokenError> {
        let stale = {
            let cache = self.keys.read().await;
            cache.fetched_at.is_none_or(|t| t.elapsed() >= options.key_ttl)
        };
        if stale {
            // A failed refresh keeps the old keys; the lookup below decides.
            let _ = self.refresh(options, false).await;
        }
        match self.check(token, alg, kid, options).await {
            Err(TokenError::UnknownKey) => {
                self.refresh(options, false).await?;
                self.check(token, alg, kid, options).await
            }
            other => other,
        }
    }

    async fn check(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        options: &VerifierOptions,
    ) -> Result<Map<String, Value>, TokenError> {
        let cache = self.keys.read().await;
        let candidates: Vec<&CachedKey> = cache
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
            .filter(|k| k.alg.is_none_or(|a| a == alg) && k.key.family() == alg.family())
            .collect();
        if candidates.is_empty() {
            return Err(if cache.fetched_at.is_none() {
                TokenError::KeysUnavailable(format!("provider `{}` has no keys yet", self.spec.name))
            } else {
                TokenError::UnknownKey
            });
        }
        let mut validation = Validation::new(alg);
        validation.leeway = options.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&[self.spec.audience.as_str()]);
        validation.set_issuer(&[self.spec.issuer_url.as_str(), self.spec.issuer_url.trim_end_matches('/')]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = TokenError::Signature;
        for candidate in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = map_error(e.kind());
                    if last != TokenError::Signature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Fetches the keys again, unless the last attempt was less than `refresh_min_interval` ago
    /// (`force` skips that check, for the first fetch).
    async fn refresh(&self, options: &VerifierOptions, force: bool) -> Result<(), TokenError> {
        let _guard = self.fetching.lock().await;
        let jwks_url = {
            let cache = self.keys.read().await;
            if !force && cache.attempted_at.is_some_and(|t| t.elapsed() < options.refresh_min_interval) {
                return if cache.fetched_at.is_some() {
                    Ok(())
                } else {
                    Err(TokenError::KeysUnavailable(format!(
                        "provider `{}` could not be reached; retrying shortly",
                        self.spec.name
                    )))
                };
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
                self.key_generation.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(provider = %self.spec.name, error = %e, "cannot fetch signing keys");
                Err(TokenError::KeysUnavailable(e))
            }
        }
    }

    async fn fetch(&self, jwks_url: Option<String>) -> Result<(String, Vec<CachedKey>), String> {
        let url = match jwks_url {
            Some(url) => url,
            None => self.discover().await?,
        };
        let set: JwkSet =
            serde_json::from_value(self.get_json(&url).await?).map_err(|e| format!("{url} is not a JWK set: {e}"))?;
        let keys: Vec<CachedKey> = set.keys.iter().filter_map(cached_key).collect();
        if keys.is_empty() {
            return Err(format!("{url} holds no usable signing key"));
        }
        Ok((url, keys))
    }

    async fn discover(&self) -> Result<String, String> {
        let url = format!("{}/.well-known/openid-configuration", self.spec.issuer_url.trim_end_matches('/'));
        let doc = self.get_json(&url).await?;
        if let Some(issuer) = doc.get("issuer").and_then(Value::as_str)
            && !same_issuer(&self.spec.issuer_url, issuer)
        {
            return Err(format!("{url} names issuer `{issuer}`, not `{}`", self.spec.issuer_url));
        }
        doc.get("jwks_uri").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("{url} has no jwks_uri"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let mut resp = self.client.get(url).send().await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let body = crate::http_file::read_limited(&mut resp, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
            crate::http_file::BodyError::TooLarge => format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"),
            crate::http_file::BodyError::Read(e) => format!("GET {url}: {}", error_chain(&e)),
        })?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
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
    Some(CachedKey { kid: jwk.common.key_id.clone(), alg, key })
}

fn map_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::Algorithm("does not match the signing key".into())
        }
        ErrorKind::MissingRequiredClaim(c) if c == "exp" => TokenError::Expired,
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::Issuer,
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            TokenError::Malformed("the token cannot be decoded".into())
        }
        ErrorKind::InvalidClaimFormat(c) | ErrorKind::MissingRequiredClaim(c) => {
            TokenError::Malformed(format!("claim `{c}` is missing or malformed"))
        }
        _ => TokenError::Signature,
    }
}

/// What a token's header and payload decode to before any key is used: the claims, or why the
/// token was refused. For the fuzz targets (`fuzz/`); never a verification.
#[doc(hidden)]
pub fn inspect_unverified(token: &str) -> Result<Map<String, Value>, TokenError> {
    peek(token).map(|(_, _, claims)| claims)
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
        let (alg, kid, claims) = peek(&token(serde_json::json!({"alg": "ES256", "kid": "k1"}))).unwrap();
        assert_eq!((alg, kid.as_deref(), claims["iss"].as_str()), (Algorithm::ES256, Some("k1"), Some("https://idp")));
    }

    #[test]
    fn issuers_compare_without_trailing_slash() {
        assert!(same_issuer("https://idp/realms/a/", "https://idp/realms/a"));
        assert!(!same_issuer("https://idp/realms/a", "https://idp/realms/b"));
    }
}
