//! [`thv_ports::EntryStore`] adapters, each passing the store contract suite
//! in `testkit` (`thv_testkit::contract::store`).
//!
//! - [`embedded`]: a data directory, no database (one process);
//! - [`memory`]: in memory, for in-process tests and the OpenAPI document;
//! - [`postgres`]: PostgreSQL, shared by every replica (leases, change feed, migrations, `prime-db`).

pub mod embedded;
pub mod memory;
pub mod postgres;

/// Applies a managed write to a source's entries (sorted by (name, version)) held in memory, whose
/// stored status has `revision`: the checks and the change of
/// [`thv_ports::EntryStore::write_name`] for the single-process stores.
fn apply_name_write(
    entries: &mut Vec<thv_domain::Entry>,
    revision: Option<&thv_domain::Revision>,
    write: &thv_ports::NameWrite<'_>,
) -> Result<(), thv_ports::StoreError> {
    if revision != write.expected_revision {
        return Err(thv_ports::StoreError::Conflict(format!(
            "source `{}` was written since it was read (revision {revision:?}, expected {:?})",
            write.source, write.expected_revision
        )));
    }
    let range = thv_domain::managed::name_range(entries, write.name);
    if entries[range.clone()] != *write.expected {
        return Err(thv_ports::StoreError::Conflict(format!(
            "the versions of `{}` in source `{}` changed since they were read",
            write.name, write.source
        )));
    }
    entries.splice(range, write.next.iter().cloned());
    Ok(())
}
