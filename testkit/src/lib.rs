//! What the tests share (a dev-only crate, never part of the binary).
//!
//! - [`Loopback`]: a poem stub server on 127.0.0.1 with a free port, known before the app is
//!   built; every stub below and every stub of a test is served by it.
//! - Stubs: an upstream registry ([`upstream`]), an `OpenID` provider ([`oidc`]), a Kubernetes API
//!   ([`kubernetes`]), git repositories made with the `git` CLI and served over HTTP ([`git`]).
//! - [`TestApp`]: a typed configuration builder, run in process ([`InProcess`]) or as the binary.
//! - [`TestServer`]: the real `thv-registry-api` binary on a random port, and its HTTP replies.
//! - Fixtures ([`Fixture`], [`write_config`], [`server_json`]…), waiting for a state
//!   ([`wait_until`]), a fresh PostgreSQL database per test ([`pg::TestDb`]).
//! - The port contract suites ([`contract`]): one suite per port, run against every adapter.
//! - Breaking changes between two OpenAPI documents ([`apidiff`], and the `openapi-diff` binary
//!   that `scripts/api-compat` runs).
//!
//! Adding a helper: put it here when two test crates (or two test modules of different
//! subjects) need it; a helper of one test module stays in that module.

pub mod apidiff;
pub mod app;
pub mod contract;
pub mod git;
pub mod kubernetes;
pub mod oidc;
pub mod pg;
pub mod upstream;

mod binary;
mod fixtures;
mod loopback;
mod server;
mod wait;

pub use app::{InProcess, RegistrySpec, SourceSpec, TestApp};
pub use binary::binary;
pub use fixtures::{
    Fixture, OFFICIAL, SERVER_SCHEMA, enc, first_source, name_version, official, read_json, server_json,
    workspace_root, write_config,
};
pub use loopback::{Loopback, Stalled};
pub use server::{Reply, TestServer, listening_address};
pub use wait::{WAIT, wait_until};
