//! Authentication: who is calling, attached to every request as a [`Caller`].
//!
//! In `anonymous` mode every request gets [`Caller::Open`]. In `oauth` mode:
//! - public paths (`auth.publicPaths`) are served without looking at any token;
//! - a request with `Authorization: Bearer <jwt>` must carry a valid token (401 otherwise, with a
//!   `WWW-Authenticate` challenge naming the error);
//! - a request without a token may read the MCP Registry API of `public` registries and nothing
//!   else: everything outside the registry read paths answers 401 at once, and a registry the
//!   caller may not read answers 401 too — the same answer as a registry that does not exist, so
//!   nothing about private registries leaks to unauthenticated callers.
//!
//! Reads of a registry are decided by the core (`Catalog::resolve_read`); an authenticated caller
//! is told 404 for a registry it may not read, exactly as for one that does not exist. The
//! management API (`/v1`) is gated by a type, [`ManagementCaller`](super::gate::ManagementCaller),
//! which reads the caller attached here.

use std::fmt::Write as _;
use std::sync::Arc;

use poem::error::ResponseError;
use poem::http::header::{AUTHORIZATION, VARY, WWW_AUTHENTICATE};
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use thv_domain::access::{Caller, RoleRules};
use thv_ports::{TokenError, TokenVerifier};

use super::problem::Problem;
use crate::config::auth::{AuthConfig, AuthMode};

/// What the middleware needs: the `auth` section and, in `oauth` mode, the token verifier.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    config: AuthConfig,
    verifier: Option<Arc<dyn TokenVerifier>>,
}

impl Auth {
    /// `anonymous` mode: everyone may do everything.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The configured mode; `verifier` is required in `oauth` mode.
    pub fn new(config: AuthConfig, verifier: Option<Arc<dyn TokenVerifier>>) -> Self {
        Self { config, verifier }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    fn roles(&self) -> &RoleRules {
        &self.config.roles
    }

    fn realm(&self) -> &str {
        self.config.oauth.as_ref().map_or(crate::config::auth::DEFAULT_REALM, |o| o.realm.as_str())
    }

    /// The `WWW-Authenticate` challenge, with the error when a token was refused. The
    /// description is cut to [`DESCRIPTION_MAX_CHARS`]: it may quote the token.
    fn challenge(&self, error: Option<(&str, &str)>) -> HeaderValue {
        let mut value = format!("Bearer realm=\"{}\"", quoted(self.realm()));
        if let Some((code, description)) = error {
            let mut description = quoted(description);
            if description.len() > DESCRIPTION_MAX_CHARS {
                description.truncate(DESCRIPTION_MAX_CHARS - 3);
                description.push_str("...");
            }
            let _ = write!(value, ", error=\"{code}\", error_description=\"{description}\"");
        }
        if let Some(resource) = self.config.oauth.as_ref().and_then(|o| o.resource_url.as_deref()) {
            let _ = write!(
                value,
                ", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                quoted(resource.trim_end_matches('/'))
            );
        }
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// Longest `error_description` in a challenge.
const DESCRIPTION_MAX_CHARS: usize = 200;

/// Keeps a header parameter inside its quotes and the header ASCII: quotes, backslashes and
/// control characters are dropped, anything else not ASCII becomes `?`.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

/// Paths an unauthenticated caller may try in `oauth` mode: the registry read API (each
/// handler then admits `public` registries only) and `/readiness`.
fn token_optional(path: &str) -> bool {
    path.starts_with("/v0.1/") || path.starts_with("/registry/") || path.starts_with("/api/v0/") || path == READINESS
}

/// `/readiness` answers every caller (probes send no token, or a stale one): the status alone
/// unless a valid token shows which registries the caller may read. A token that does not verify
/// is treated as no token there, not refused.
const READINESS: &str = "/readiness";

/// The middleware: attaches the [`Caller`] and answers 401 where the request cannot go on.
pub async fn authenticate<E: Endpoint>(auth: Arc<Auth>, next: E, mut req: Request) -> poem::Result<Response> {
    if auth.config.mode == AuthMode::Anonymous {
        req.set_data(Caller::Open);
        return call(next, req).await;
    }
    let path = req.uri().path();
    if auth.config.is_public_path(path) {
        req.set_data(Caller::Anonymous);
        return call(next, req).await;
    }
    let lenient = path == READINESS;
    let caller = match bearer(&req) {
        Bearer::None if token_optional(path) => Caller::Anonymous,
        Bearer::Malformed if lenient => Caller::Anonymous,
        Bearer::None => {
            return Ok(unauthorized(&auth, None, TOKEN_REQUIRED));
        }
        Bearer::Malformed => {
            return Ok(unauthorized(
                &auth,
                Some("invalid_request"),
                "the Authorization header must be `Bearer <token>`",
            ));
        }
        Bearer::Token(token) => {
            let Some(verifier) = &auth.verifier else {
                return Ok(
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "token verification is not configured").into_poem()
                );
            };
            match verifier.verify(&token).await {
                Ok(identity) => Caller::user(identity, auth.roles()),
                Err(_) if lenient => Caller::Anonymous,
                Err(e @ TokenError::KeysUnavailable(_)) => {
                    tracing::warn!(error = %e, "cannot verify a token");
                    let mut resp = Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the identity provider's signing keys cannot be fetched; try again shortly",
                    )
                    .into_poem();
                    resp.headers_mut().insert("retry-after", HeaderValue::from_static("5"));
                    return Ok(resp);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "token refused");
                    return Ok(unauthorized(&auth, Some("invalid_token"), &e.to_string()));
                }
            }
        }
    };
    req.set_data(caller);
    let mut resp = call(next, req).await?;
    if resp.status() == StatusCode::UNAUTHORIZED && !resp.headers().contains_key(WWW_AUTHENTICATE) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, auth.challenge(None));
    }
    resp.headers_mut().append(VARY, HeaderValue::from_static("Authorization"));
    Ok(resp)
}

/// The routes' answer, with a [`TokenRequired`] refusal turned into its response.
async fn call<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    answer_refusal(next.call(req).await.map(IntoResponse::into_response))
}

enum Bearer {
    None,
    Malformed,
    Token(String),
}

fn bearer(req: &Request) -> Bearer {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if req.headers().contains_key(AUTHORIZATION) { Bearer::Malformed } else { Bearer::None };
    };
    let Ok(value) = value.to_str() else { return Bearer::Malformed };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            let token = token.trim();
            if token.contains(char::is_whitespace) { Bearer::Malformed } else { Bearer::Token(token.to_owned()) }
        }
        _ => Bearer::Malformed,
    }
}

fn unauthorized(auth: &Auth, error: Option<&str>, detail: &str) -> Response {
    let mut resp = Problem::new(StatusCode::UNAUTHORIZED, detail).into_poem();
    resp.headers_mut().insert(WWW_AUTHENTICATE, auth.challenge(error.map(|code| (code, detail))));
    resp.headers_mut().append(VARY, HeaderValue::from_static("Authorization"));
    resp
}

/// The caller of a request (attached by [`authenticate`]); a request that did not pass through
/// it is treated as unauthenticated.
pub fn caller(req: &Request) -> &Caller {
    static NOBODY: Caller = Caller::Anonymous;
    req.data::<Caller>().unwrap_or(&NOBODY)
}

/// What a request without a token is told where it needs one.
const TOKEN_REQUIRED: &str = "authentication required: send `Authorization: Bearer <token>`";

/// The 401 for a caller without a token (`oauth` mode) on something that needs one; `None` for
/// every other caller.
pub fn token_required(caller: &Caller) -> Option<Problem> {
    caller.is_anonymous().then(token_missing)
}

/// The answer for a registry that does not exist, which is also the answer for one an
/// authenticated caller may not read.
pub fn registry_not_found(name: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("Registry not found: `{name}`"))
}

/// The 401 for a request without a token where one is needed.
pub fn token_missing() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, TOKEN_REQUIRED)
}

/// The refusal of a caller without a token by an operation that needs one: the management
/// gate's ([`ManagementCaller`](super::gate::ManagementCaller)).
#[derive(Debug, thiserror::Error)]
#[error("authentication required")]
pub struct TokenRequired;

impl ResponseError for TokenRequired {
    fn status(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    /// The problem each operation declares as its 401, sent the way an operation sends it.
    fn as_response(&self) -> Response {
        Refusal::Unauthorized(token_missing().json()).into_response()
    }
}

/// How [`TokenRequired`] goes on the wire: as the 401 variant of an operation's response.
#[derive(ApiResponse)]
enum Refusal {
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
}

/// Turns a [`TokenRequired`] error into its response. The problem middleware turns every error it
/// gets into a problem of its own (a bare status has no detail), so the refusal is answered
/// inside it: [`authenticate`] passes every result of the routes through here.
pub fn answer_refusal(result: poem::Result<Response>) -> poem::Result<Response> {
    result.or_else(|err| if err.is::<TokenRequired>() { Ok(err.into_response()) } else { Err(err) })
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728) in `oauth` mode.
pub fn protected_resource_metadata(auth: &Auth) -> Option<serde_json::Value> {
    let oauth = auth.config.oauth.as_ref()?;
    let servers: Vec<&str> = oauth.providers.iter().map(|p| p.issuer_url.as_str()).collect();
    let mut doc = serde_json::json!({
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "thv-registry-api",
    });
    if let Some(resource) = &oauth.resource_url {
        doc["resource"] = serde_json::Value::String(resource.clone());
    }
    if !oauth.scopes_supported.is_empty() {
        doc["scopes_supported"] = serde_json::json!(oauth.scopes_supported);
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_description_leaves_a_short_valid_challenge() {
        let auth = Auth::new(AuthConfig { mode: AuthMode::Oauth, ..AuthConfig::default() }, None);
        let hostile = format!("x\"y\\z\r\n\u{7}\u{fc}\u{2026}, error=\"other\" {}", "A".repeat(10_000));
        let value = auth.challenge(Some(("invalid_token", &hostile)));
        let text = value.to_str().unwrap();
        assert!(
            text.starts_with("Bearer realm=\"mcp-registry\", error=\"invalid_token\", error_description=\"xyz??, ")
        );
        assert!(text.len() < 300, "{} bytes", text.len());
        assert!(text.ends_with("AAA...\""), "{text}");
        assert_eq!(text.matches('"').count(), 6, "{text}");
    }
}
