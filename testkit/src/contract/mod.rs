//! One contract suite per port, run against every adapter of it: a new adapter proves itself by
//! passing the same suite as the others.
//!
//! - [`store`]: the `EntryStore` contract, run on the memory, embedded and PostgreSQL stores
//!   (`integration-tests/tests/it/store_contract.rs`);
//! - [`source`]: the `Source` contract, run on the file, http-file, git and api sources
//!   (`adapters/tests/it/source_contract.rs`).
//!
//! A suite fails the test by panicking, with a message naming the check and the adapter.

pub mod source;
pub mod store;
