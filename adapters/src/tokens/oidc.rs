//! A [`TokenVerifier`] for JWT access tokens from OIDC providers: keys come from each provider's
//! JWKS (found through OIDC discovery unless `jwksUrl` is given), are cached, and are fetched
//! again when a token names an unknown `kid` (at most once per `refresh_min_interval`) or when
//! they are older than `key_ttl`. Only asymmetric algorithms are accepted (RS*, PS*, ES256,
//! ES384, `EdDSA`); keys are never taken from the token itself (`jku`, `jwk`, `x5u` are ignored).
//!
//! Keys come only from https URLs (plain http on a loopback host aside), whether configured or
//! named by the discovery document, and redirects are held to the same rule.
//!
//! A token that verified is remembered (by its SHA-256) for at most [`VERIFIED_TTL`], so a client
//! sending the same token again skips the signature check; the entry is dropped at the token's
//! `exp` (plus the leeway), and as soon as the key that verified it is no longer among its
//! provider's keys, so a retired key stops working as soon as the server learns of it. A fetch
//! that keeps a key keeps what that key verified: tokens with random `kid`s cannot make the
//! server forget its verified tokens.
//!
//! Token-controlled text (the header's `alg`) reaches error messages only through [`untrusted`]:
//! at most [`UNTRUSTED_MAX_CHARS`] characters of printable ASCII, quotes and backslashes excluded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Client;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thv_domain::access::Identity;
use thv_ports::{Clock as _, TokenError, TokenVerifier};
use tokio::sync::{Mutex, RwLock};

mod keys;
mod token;

use keys::check_url;

use token::{Peeked, check_access_token_type, issuer_spellings, peek, same_issuer};
pub use token::{UNTRUSTED_MAX_CHARS, untrusted};

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
    /// Accept only RFC 9068 access tokens: header `typ` `at+jwt` (or `application/at+jwt`), and
    /// nothing recognisable as an ID token. Off by default: many providers (Keycloak, Entra ID)
    /// issue access tokens with `typ: JWT`.
    pub require_access_token_type: bool,
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
    /// Signatures checked (tokens not answered from memory whose key was found).
    signatures_checked: AtomicU64,
}

/// How long a verified token is remembered at most.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Most tokens remembered; the memory is cleared when it is full.
const VERIFIED_MAX: usize = 10_000;

/// What identifies a key across fetches: the SHA-256 of its JWK (kid, algorithm and key
/// material), so a new key published under an old `kid` is another key.
type KeyFingerprint = [u8; 32];

#[derive(Debug)]
struct Verified {
    identity: Identity,
    /// The token's `exp`, seconds since the epoch.
    exp: i64,
    until: Instant,
    /// Index of the provider whose key verified the token, and that key.
    provider: usize,
    key: KeyFingerprint,
}

#[derive(Debug)]
struct Provider {
    spec: ProviderSpec,
    client: Client,
    keys: RwLock<KeyCache>,
    /// Serialises fetches, so a burst of unknown `kid`s triggers one.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<CachedKey>,
    fetched_at: Option<Instant>,
    /// Last fetch attempt, successful or not (for rate limiting).
    attempted_at: Option<Instant>,
    /// Why the last fetch failed, until one succeeds.
    last_error: Option<String>,
    jwks_url: Option<String>,
}

impl KeyCache {
    /// Why a provider without keys has none.
    fn no_keys(&self, provider: &str) -> TokenError {
        TokenError::KeysUnavailable(match &self.last_error {
            Some(e) => format!("provider `{provider}` has no keys yet: {e}"),
            None => format!("provider `{provider}` has no keys yet"),
        })
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("keys", &self.keys.len())
            .field("fetched_at", &self.fetched_at)
            .field("attempted_at", &self.attempted_at)
            .field("last_error", &self.last_error)
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

struct CachedKey {
    fingerprint: KeyFingerprint,
    kid: Option<String>,
    /// `alg` from the JWK, when it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// Largest JWKS or discovery document read.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

impl OidcVerifier {
    pub fn new(specs: Vec<ProviderSpec>, options: VerifierOptions) -> Result<Self, String> {
        let providers = specs
            .into_iter()
            .map(|spec| {
                let mut builder = Client::builder()
                    .timeout(options.http_timeout)
                    .connect_timeout(options.http_timeout)
                    .user_agent(concat!("thv-registry-api/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::custom(|attempt| {
                        if attempt.previous().len() >= 3 {
                            attempt.error("more than 3 redirects")
                        } else if let Err(e) = check_url(attempt.url()) {
                            attempt.error(format!("redirected: {e}"))
                        } else {
                            attempt.follow()
                        }
                    }));
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
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { providers, options, verified: std::sync::Mutex::default(), signatures_checked: AtomicU64::new(0) })
    }

    /// How many token signatures were checked so far: tokens answered from memory, and tokens
    /// refused before any key was found for them, are not counted.
    pub fn signatures_checked(&self) -> u64 {
        self.signatures_checked.load(Ordering::Relaxed)
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
        if let Some(identity) = self.remembered(&digest).await {
            return Ok(identity);
        }
        let (identity, provider, key) = self.verify_now(token).await?;
        self.remember(digest, &identity, provider, key);
        Ok(identity)
    }
}

impl OidcVerifier {
    /// A remembered identity for this token, while it is still valid and the key that verified
    /// it is still among its provider's keys.
    async fn remembered(&self, digest: &[u8; 32]) -> Option<Identity> {
        let (identity, provider, key) = {
            let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = verified.get(digest)?;
            let leeway = i64::try_from(self.options.leeway.as_secs()).unwrap_or(0);
            let fresh =
                entry.until > Instant::now() && crate::SystemClock.now().timestamp() < entry.exp.saturating_add(leeway);
            if !fresh {
                verified.remove(digest);
                return None;
            }
            (entry.identity.clone(), entry.provider, entry.key)
        };
        let published = match self.providers.get(provider) {
            Some(p) => p.keys.read().await.keys.iter().any(|k| k.fingerprint == key),
            None => false,
        };
        if published {
            Some(identity)
        } else {
            self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(digest);
            None
        }
    }

    fn remember(&self, digest: [u8; 32], identity: &Identity, provider: usize, key: KeyFingerprint) {
        let Some(exp) = identity.claims.get("exp").and_then(Value::as_i64) else { return };
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        let entry = Verified { identity: identity.clone(), exp, until: Instant::now() + VERIFIED_TTL, provider, key };
        verified.insert(digest, entry);
    }

    /// Checks the token now: the identity, and which provider's key verified it.
    async fn verify_now(&self, token: &str) -> Result<(Identity, usize, KeyFingerprint), TokenError> {
        let peeked = peek(token)?;
        let issuer = peeked.claims.get("iss").and_then(Value::as_str).ok_or(TokenError::Issuer)?;
        let mut last = TokenError::Issuer;
        for (i, provider) in self.providers.iter().enumerate().filter(|(_, p)| same_issuer(&p.spec.issuer_url, issuer))
        {
            match provider.verify(token, &peeked, &self.options, &self.signatures_checked).await {
                Ok((claims, key)) => {
                    let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
                    return Ok((Identity { provider: provider.spec.name.clone(), subject, claims }, i, key));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl Provider {
    /// Checks the token with this provider's keys: its claims, and the key that verified it.
    async fn verify(
        &self,
        token: &str,
        peeked: &Peeked,
        options: &VerifierOptions,
        signatures_checked: &AtomicU64,
    ) -> Result<(Map<String, Value>, KeyFingerprint), TokenError> {
        if self.spec.require_access_token_type {
            check_access_token_type(peeked)?;
        }
        let stale = {
            let cache = self.keys.read().await;
            cache.fetched_at.is_none_or(|t| t.elapsed() >= options.key_ttl)
        };
        if stale {
            // A failed refresh keeps the old keys; the lookup below decides.
            let _ = self.refresh(options, false).await;
        }
        match self.check(token, peeked, options, signatures_checked).await {
            Err(TokenError::UnknownKey) => {
                self.refresh(options, false).await?;
                self.check(token, peeked, options, signatures_checked).await
            }
            other => other,
        }
    }

    async fn check(
        &self,
        token: &str,
        peeked: &Peeked,
        options: &VerifierOptions,
        signatures_checked: &AtomicU64,
    ) -> Result<(Map<String, Value>, KeyFingerprint), TokenError> {
        let alg = peeked.alg;
        let cache = self.keys.read().await;
        let candidates: Vec<&CachedKey> = cache
            .keys
            .iter()
            .filter(|k| peeked.kid.as_deref().is_none_or(|kid| k.kid.as_deref() == Some(kid)))
            .filter(|k| k.alg.is_none_or(|a| a == alg) && k.key.family() == alg.family())
            .collect();
        if candidates.is_empty() {
            return Err(if cache.fetched_at.is_none() {
                cache.no_keys(&self.spec.name)
            } else {
                TokenError::UnknownKey
            });
        }
        let mut validation = Validation::new(alg);
        validation.leeway = options.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&[self.spec.audience.as_str()]);
        validation.set_issuer(&issuer_spellings(&self.spec.issuer_url));
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = TokenError::Signature;
        for candidate in candidates {
            signatures_checked.fetch_add(1, Ordering::Relaxed);
            match jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) => return Ok((data.claims, candidate.fingerprint)),
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
    peek(token).map(|peeked| peeked.claims)
}
