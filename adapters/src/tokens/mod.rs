//! [`thv_ports::TokenVerifier`] adapters.
//!
//! - [`oidc`]: JWT access tokens from OIDC providers (JWKS, discovery).

pub mod oidc;
