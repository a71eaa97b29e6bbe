//! Where each source's last good entries and sync status are kept.

use std::sync::Arc;

use async_trait::async_trait;
use thv_domain::{Entry, Revision, ServerName, SourceName, SyncStatus};

/// Everything stored for one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceState {
    pub source: SourceName,
    /// Entries sorted by (name, version), tombstones included.
    pub entries: Vec<Entry>,
    pub status: SyncStatus,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or written right now (disk full, database down).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data for a source could not be read back; the source must be re-synced.
    #[error("stored data of source `{source_name}` is corrupt: {detail}")]
    Corrupt { source_name: String, detail: String },
    /// A write of a managed source met other data than it was computed from: another write
    /// committed to the source since it was read (its revision moved), the stored versions of
    /// the name changed, or another writer inserted the same `(name, version)` first (the
    /// store's uniqueness constraint). Nothing was written; the writer reloads the source and
    /// decides again.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// Anything else.
    #[error("internal store error: {0}")]
    Internal(String),
}

/// A write to the versions of one server name in a managed source: a publish, an edit or a status
/// change, applied by [`EntryStore::write_name`] in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct NameWrite<'a> {
    pub source: &'a SourceName,
    pub name: &'a ServerName,
    /// The versions of the name the write was computed from, as the writer last read them
    /// (sorted by version; empty for a name not published yet).
    pub expected: &'a [Entry],
    /// The revision of the source the write was computed from (`None`: nothing stored yet, or a
    /// status without a revision). The write's status (its server count) and the writer's view
    /// of the other names come from that revision, so a store holding another one (another
    /// process wrote a different name meanwhile) refuses the write.
    pub expected_revision: Option<&'a Revision>,
    /// Every version of the name after the write, sorted by version: each expected version (a
    /// version is never removed; a delete is a status change) plus any new one.
    pub next: &'a [Entry],
    /// The source's status after the write (its revision is new for every write, so other
    /// processes see that the data changed).
    pub status: &'a SyncStatus,
}

/// The system of record for entries and sync status.
#[async_trait]
pub trait EntryStore: Send + Sync + std::fmt::Debug {
    /// Loads every stored source. A source whose data is unreadable is returned with no entries
    /// and a `Failed` status naming the problem, so one corrupt source never blocks the others.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be read at all; [`StoreError::Internal`].
    async fn load_all(&self) -> Result<Vec<SourceState>, StoreError>;

    /// Loads one source, `None` when nothing is stored for it.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when its data cannot be read back; [`StoreError::Unavailable`];
    /// [`StoreError::Internal`].
    async fn load(&self, source: &SourceName) -> Result<Option<SourceState>, StoreError>;

    /// Loads one source's status only (cheap), `None` when nothing is stored for it. Stores
    /// shared by several processes should override the default, which loads everything.
    ///
    /// # Errors
    /// As [`EntryStore::load`].
    async fn load_status(&self, source: &SourceName) -> Result<Option<SyncStatus>, StoreError> {
        Ok(self.load(source).await?.map(|s| s.status))
    }

    /// Replaces a source's entries and status atomically: after a crash, either the old or the
    /// new entries and status are stored, never a mix. The entries are the list the caller
    /// serves from, shared: a store that writes them elsewhere (off the async workers) holds
    /// them without a copy.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the write failed (the old data is intact);
    /// [`StoreError::Internal`].
    async fn replace(
        &self,
        source: &SourceName,
        entries: &Arc<Vec<Entry>>,
        status: &SyncStatus,
    ) -> Result<(), StoreError>;

    /// Writes a source's status only, keeping its entries.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Internal`].
    async fn write_status(&self, source: &SourceName, status: &SyncStatus) -> Result<(), StoreError>;

    /// Writes the versions of one name of a managed source and the source's status in one
    /// transaction, after checking that the source's stored revision is
    /// `write.expected_revision` and the stored versions of the name are exactly
    /// `write.expected`; a source with nothing stored yet is created. Writes of one name are
    /// serialised among every process sharing the store, and a `(name, version)` is unique in a
    /// source (enforced by the store, not by a read before the write). Other processes see the
    /// change on their [`ChangeFeed`].
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stored revision differs from `expected_revision`, the
    /// stored versions differ from `expected` or a new version exists already (nothing is
    /// written); [`StoreError::Unavailable`]; [`StoreError::Internal`].
    async fn write_name(&self, write: NameWrite<'_>) -> Result<(), StoreError>;

    /// Takes the right to sync `source`, exclusive among every process sharing this store;
    /// `None` when another holder has it. The right ends when the lease is released or dropped
    /// (or its process dies).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached; [`StoreError::Internal`].
    async fn try_lease(&self, source: &SourceName) -> Result<Option<Box<dyn SourceLease>>, StoreError>;

    /// A feed of the sources whose entries or status another process sharing this store changed
    /// (a store used by one process only may return a feed that never yields).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached; [`StoreError::Internal`].
    async fn subscribe(&self) -> Result<Box<dyn ChangeFeed>, StoreError>;
}

/// The right to sync one source; see [`EntryStore::try_lease`].
#[async_trait]
pub trait SourceLease: Send + Sync + std::fmt::Debug {
    /// Gives the right back.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached (the right ends anyway when the
    /// connection holding it closes).
    async fn release(self: Box<Self>) -> Result<(), StoreError>;
}

/// Changes committed by other processes; see [`EntryStore::subscribe`].
#[async_trait]
pub trait ChangeFeed: Send + std::fmt::Debug {
    /// Waits for the next change and returns the source it concerns. Changes may be coalesced or
    /// repeated; a receiver reloads the source from the store.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the feed broke; the caller subscribes again (and reloads
    /// everything, since changes may have been missed).
    async fn next(&mut self) -> Result<SourceName, StoreError>;
}
