//! Implementations of the registry ports. The layout mirrors `thv-ports`, one folder per port
//! and one file (or folder) per adapter:
//!
//! - [`source`]: [`thv_ports::Source`] — [`source::file`] (a local file), [`source::http_file`]
//!   (a file over HTTP(S) with `ETag` revalidation), [`source::git`] (a file from a git repository,
//!   gix), [`source::api`] (another MCP registry's API, reqwest);
//! - [`store`]: [`thv_ports::EntryStore`] — [`store::embedded`] (a data directory),
//!   [`store::memory`] (in memory), [`store::postgres`] (PostgreSQL: the pool, migrations,
//!   `prime-db`);
//! - [`tokens`]: [`thv_ports::TokenVerifier`] — [`tokens::oidc`] (JWTs from OIDC providers: JWKS,
//!   discovery);
//! - [`deployments`]: [`thv_ports::Deployments`] — [`deployments::kubernetes`] (ToolHive
//!   `MCPServer` resources, kube-rs);
//! - [`clock`]: [`thv_ports::Clock`] — the system clock and a settable clock for tests;
//! - `http` (crate-private): the HTTP client plumbing the HTTP-speaking adapters share (client
//!   construction, URL checks, redaction, bounded reads, error wording).
//!
//! The main type of each adapter is also re-exported here (`thv_adapters::GitSource`, …).
//!
//! Adding an adapter: put it in the folder of the port it implements (`source/s3.rs` for a
//! source), list it in that folder's `mod.rs` and here, implement the port trait, translate every
//! foreign error into the port's error enum at the boundary (with context, never secrets), and run
//! the port's contract suite from `testkit` against it. A new port gets a new folder.

pub mod clock;
pub mod deployments;
mod http;
pub mod source;
pub mod store;
pub mod tokens;

pub use clock::{ManualClock, SystemClock};
pub use deployments::kubernetes::KubernetesDeployments;
pub use source::api::ApiSource;
pub use source::file::FileSource;
pub use source::git::GitSource;
pub use source::http_file::HttpFileSource;
pub use store::embedded::EmbeddedStore;
pub use store::memory::MemoryStore;
pub use store::postgres::PostgresStore;
pub use tokens::oidc::OidcVerifier;
