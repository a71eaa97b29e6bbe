//! Verifying bearer tokens.

use async_trait::async_trait;
use thv_domain::access::Identity;

/// Checks a bearer token (signature, issuer, audience, validity period) and returns who it
/// identifies. Implementations cache what they fetch; `verify` is called on every authenticated
/// request.
#[async_trait]
pub trait TokenVerifier: Send + Sync + std::fmt::Debug {
    async fn verify(&self, token: &str) -> Result<Identity, TokenError>;
}

/// Why a token was refused. The messages are safe to return to the caller: they never contain
/// the token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or an unreadable header or payload.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` is missing, `none`, symmetric or otherwise not accepted.
    #[error("token algorithm not accepted: {0}")]
    Algorithm(String),
    /// No configured provider has the token's `iss`.
    #[error("token issuer is not accepted")]
    Issuer,
    /// The token's `aud` does not contain the provider's audience.
    #[error("token audience is not accepted")]
    Audience,
    /// `exp` is in the past (beyond the leeway), or missing.
    #[error("token has expired")]
    Expired,
    /// Not an access token where the provider requires RFC 9068 access tokens (`typ: at+jwt`):
    /// an ID token, or a token of another type.
    #[error("token is not an access token: {0}")]
    TokenType(String),
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// The signing key (`kid`) is not among the provider's keys, even after a refresh.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    Signature,
    /// The provider's keys could not be fetched (the token cannot be checked now).
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}
