//! [`thv_ports::EntryStore`] adapters, each passing the store contract suite
//! in `testkit` (`thv_testkit::contract::store`).
//!
//! - [`embedded`]: a data directory, no database (one process);
//! - [`memory`]: in memory, for in-process tests and the OpenAPI document;
//! - [`postgres`]: PostgreSQL, shared by every replica (leases, change feed, migrations, `prime-db`).

pub mod embedded;
pub mod memory;
pub mod postgres;
