//! [`thv_ports::Source`] adapters: where a registry's entries are read from.
//!
//! - [`file`](mod@file): a local file;
//! - [`http_file`]: a file over HTTP(S), revalidated with `ETag`;
//! - [`git`]: a file from a git repository (gix, a bare clone in a cache directory);
//! - [`api`]: another MCP registry's API, paged (reqwest).

pub mod api;
pub mod file;
pub mod git;
pub mod http_file;
