//! Pure types and rules of the MCP registry.
//!
//! This crate has no I/O, no async runtime and no framework: everything here is a value or a
//! function of values, so it can be tested exhaustively and reused by every adapter.
//!
//! - [`accept`]: the accept-or-refuse rule of a sync (never replace good data with bad).
//! - [`access`]: claim maps, roles, registry access policies and the caller of a request.
//! - [`names`]: validated server, source and registry names (parse, don't validate).
//! - [`version`]: version strings and the official semver rule.
//! - [`server_json`]: a lossless server.json document.
//! - [`entry`]: one version of one server in one source, with the official `_meta` block.
//! - [`latest`]: the `isLatest` rule, and moving `updatedAt` when the flag moves.
//! - [`managed`]: writes to a managed source (publish, edit, status changes).
//! - [`filter`]: name/tag filters.
//! - [`format`]: the upstream and ToolHive data formats, detection and conversion.
//! - [`reconcile`]: turning a fetched document into the next entries of a source (timestamps,
//!   tombstones).
//! - [`redact`]: locations without their secrets (URL userinfo and query values).
//! - [`registry`]: merging ordered sources into one registry.
//! - [`spec`]: what a source and a registry are configured to be (the core runs on these).
//! - [`snapshot`]: the immutable read model (rendered as pages are asked for) and its list/lookup
//!   queries.
//! - [`validate`]: whether a submitted server.json may be published (shape, released schema,
//!   semantic rules), as located issues.
//!
//! Adding a data format: add a module under `format/`, teach `format::detect` to recognise it and
//! return `ParsedServer`s from it; nothing else changes.

pub mod accept;
pub mod access;
pub mod entry;
pub mod filter;
pub mod format;
pub mod latest;
pub mod managed;
pub mod names;
pub mod reconcile;
pub mod redact;
pub mod registry;
pub mod server_json;
pub mod snapshot;
pub mod spec;
pub mod status;
pub mod validate;
pub mod version;

pub use entry::{Entry, OfficialMeta, Status};
pub use filter::{Filter, FilterError, FilterSpec};
pub use names::{NameError, RegistryName, ServerName, SourceName};
pub use server_json::{ContentHash, ServerJson, ServerJsonError};
pub use status::{Revision, SyncPhase, SyncStatus};
pub use version::{Version, VersionError};
