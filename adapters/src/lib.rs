//! Implementations of the registry ports.
//!
//! - [`file`]: a [`thv_ports::Source`] reading a local file;
//! - [`http_file`]: a [`thv_ports::Source`] reading a file over HTTP(S) with `ETag` revalidation;
//! - [`git`]: a [`thv_ports::Source`] reading a file from a git repository (gix);
//! - [`api`]: a [`thv_ports::Source`] paging another MCP registry's API (reqwest);
//! - [`kubernetes`]: a [`thv_ports::Deployments`] listing ToolHive `MCPServer` resources (kube-rs);
//! - [`oidc`]: a [`thv_ports::TokenVerifier`] for JWTs from OIDC providers (JWKS, discovery);
//! - [`store::embedded`]: the embedded [`thv_ports::EntryStore`], a data directory;
//! - [`clock`]: the system clock and a settable clock for tests.
//!
//! Adding an adapter: implement the port trait in its own module, translate every foreign error
//! into the port's error enum at the boundary (with context, never secrets), and run the port's
//! contract suite from `integration-tests` against it.

pub mod api;
pub mod clock;
pub mod file;
pub mod git;
pub mod http_file;
pub mod kubernetes;
pub mod oidc;
pub mod store;

pub use clock::{ManualClock, SystemClock};
pub use file::FileSource;
pub use store::embedded::EmbeddedStore;
pub use store::memory::MemoryStore;
