//! The gate of the management API (`/v1`): [`ManagementCaller`], a poem-openapi security scheme
//! that every `/v1` operation takes as a parameter. An operation cannot run for a caller without a
//! token (`oauth` mode), and the OpenAPI document declares the bearer scheme on it.
//!
//! Who the caller is stays decided by the [`authenticate`](super::auth::authenticate) middleware,
//! which verifies the bearer token of every request (it needs the verifier, and answers a bad or
//! malformed token with 401 and a challenge, or 503 when the provider's keys cannot be fetched) and
//! attaches a [`Caller`]. The gate only reads that caller:
//! - [`Caller::Open`] (`anonymous` mode) and an authenticated [`Caller::User`] pass: `/v1` stays
//!   open without a token in `anonymous` mode;
//! - [`Caller::Anonymous`] (`oauth` mode, no token) is refused with [`TokenRequired`], an error
//!   whose response is the 401 problem the operations answered themselves before the gate existed
//!   (the middleware sends it, see [`answer_refusal`](super::auth::answer_refusal)). The
//!   middleware already refuses such a caller on every `/v1` path that is not public, so the gate
//!   answers only where `auth.publicPaths` names a `/v1` path, and for a request that did not pass
//!   through the middleware at all.
//!
//! Why a hand-written [`ApiExtractor`] rather than `#[derive(SecurityScheme)]`: the derived bearer
//! scheme reads the `Authorization` header itself and fails without one, which would close `/v1`
//! in `anonymous` mode; an enum of schemes with an `#[oai(fallback)]` variant keeps it open, but
//! its fallback admits an `oauth` caller without a token too, so the check would move back into
//! every handler. Here what the document says and who is let in are decided apart.
//!
//! What the document says: each `/v1` operation has `security: [{bearerToken: []}, {}]`, a bearer
//! token or no credentials. One document describes every deployment, and an `anonymous`-mode
//! server serves `/v1` without a token; declaring the token required made that document false
//! (schemathesis's ignored-authentication check, ST401, fails on an `anonymous`-mode server). In
//! `oauth` mode the documented 401 says that the token is needed.

use std::ops::Deref;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use thv_domain::access::Caller;

use super::auth::{TokenRequired, caller};

/// Name of the scheme under `components.securitySchemes`.
pub const SCHEME: &str = "bearerToken";

/// Registers the bearer scheme in the document.
fn register_scheme(registry: &mut Registry) {
    registry.create_security_scheme(
        SCHEME,
        MetaSecurityScheme {
            ty: "http",
            description: Some(
                "An access token (a JWT) from one of the configured OAuth/OIDC providers, sent as \
             `Authorization: Bearer <token>`. Required in `oauth` mode; in `anonymous` mode the \
             management API is open and a token changes nothing.",
            ),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: Some("JWT"),
            flows: None,
            openid_connect_url: None,
        },
    );
}

/// A caller extractor that declares the bearer scheme ("or no credentials", `{}`: one document
/// describes every deployment, and in `anonymous` mode the operations are open) and admits the
/// callers `$admit` lets through. The declaration changes the document only; `$admit` decides.
macro_rules! bearer_caller {
    ($(#[$meta:meta])* $name:ident, $admit:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a>(&'a Caller);

        impl Deref for $name<'_> {
            type Target = Caller;

            fn deref(&self) -> &Caller {
                self.0
            }
        }

        impl<'a> ApiExtractor<'a> for $name<'a> {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_scheme(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec![SCHEME]
            }

            fn has_security_fallback() -> bool {
                true
            }

            async fn from_request(
                req: &'a Request,
                _body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                let caller = caller(req);
                let admit: fn(&Caller) -> poem::Result<()> = $admit;
                admit(caller).map(|()| Self(caller))
            }
        }
    };
}

bearer_caller!(
    /// A caller admitted to the management API: in `anonymous` mode anyone, in `oauth` mode a
    /// caller with a valid token. Only the gate makes one.
    ManagementCaller,
    |caller| if caller.is_anonymous() { Err(TokenRequired.into()) } else { Ok(()) }
);

bearer_caller!(
    /// The caller of a write operation (the write API of managed registries), as the
    /// authentication middleware attached it. It declares the bearer scheme like
    /// [`ManagementCaller`] but refuses nobody: a write decides in the official order (the body
    /// first, then who may write) and answers itself.
    WriterCaller,
    |_| Ok(())
);

#[cfg(test)]
mod tests {
    use poem::{Endpoint as _, IntoEndpoint as _};

    use super::SCHEME;

    /// A request that never passed through the authentication middleware carries no caller: the
    /// gate refuses it, and its error renders as the 401 problem an operation declares.
    #[tokio::test]
    async fn without_authentication_an_operation_does_not_run() {
        let api = crate::http::api_service(crate::http::empty_catalog()).into_endpoint();
        let err = api.call(poem::Request::builder().uri_str("/v1/me").finish()).await.unwrap_err();
        assert!(err.is::<crate::http::auth::TokenRequired>(), "{err}");
        let resp = crate::http::auth::answer_refusal(Err(err)).unwrap();
        assert_eq!(resp.status(), poem::http::StatusCode::UNAUTHORIZED);
        assert_eq!(resp.content_type(), Some("application/problem+json"));
        assert_eq!(resp.data::<poem_openapi::OperationId>().map(|id| id.0), Some("get_me"));
        assert_eq!(
            resp.into_body().into_string().await.unwrap(),
            r#"{"title":"Unauthorized","status":401,"detail":"authentication required: send `Authorization: Bearer <token>`"}"#
        );
    }

    /// The document declares the bearer scheme, names it (or nothing, for `anonymous` mode) on
    /// every `/v1` operation and every write; every read of a registry (which checks its callers
    /// itself) names nothing or it (a public registry is read without a token, a private one with
    /// it); the operations endpoints and `validate` name none.
    #[test]
    fn the_document_declares_the_scheme_on_every_management_operation_and_no_other() {
        let spec: serde_json::Value = serde_json::from_str(&crate::http::spec_json()).unwrap();
        let scheme = &spec["components"]["securitySchemes"][SCHEME];
        assert_eq!(scheme["type"], "http", "{scheme}");
        assert_eq!(scheme["scheme"], "bearer", "{scheme}");
        assert_eq!(scheme["bearerFormat"], "JWT", "{scheme}");
        let (mut gated, mut optional, mut wrong) = (0, 0, Vec::new());
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let security = op.get("security");
                let writes = op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "Publish" || t == "Entries"));
                let management = path.starts_with("/v1/") || (writes && !path.ends_with("/validate"));
                let reads = op["tags"].as_array().is_some_and(|t| {
                    t.iter().any(|t| ["Servers", "Legacy", "Deployed"].contains(&t.as_str().unwrap_or_default()))
                });
                if management && security == Some(&serde_json::json!([{ SCHEME: [] }, {}])) {
                    gated += 1;
                } else if reads && security == Some(&serde_json::json!([{}, { SCHEME: [] }])) {
                    optional += 1;
                } else if management || reads || security.is_some() {
                    wrong.push(format!("{method} {path}: {security:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:?}");
        assert_eq!(gated, 18, "the six `/v1` operations, ten official writes and two `/v1/entries` writes");
        assert_eq!(optional, 14, "eight official reads, two legacy reads, four deployed-server reads");
    }
}
