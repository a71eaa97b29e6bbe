//! An entry store in memory: the fast store of in-process tests and of the empty catalogue that
//! the OpenAPI document is generated from. One process, no durability: a "restart" is another
//! handle on the same store ([`MemoryStore::clone`] shares it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use thv_domain::{Entry, SourceName, SyncStatus};
use thv_ports::{ChangeFeed, EntryStore, NameWrite, SourceLease, SourceState, StoreError};

use super::embedded::{LocalLease, NoChanges};

/// Every source's entries and status, in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    sources: Arc<Mutex<BTreeMap<SourceName, SourceState>>>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<SourceName, SourceState>) -> T) -> T {
        f(&mut self.sources.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl EntryStore for MemoryStore {
    async fn load_all(&self) -> Result<Vec<SourceState>, StoreError> {
        Ok(self.with(|m| m.values().cloned().collect()))
    }

    async fn load(&self, source: &SourceName) -> Result<Option<SourceState>, StoreError> {
        Ok(self.with(|m| m.get(source).cloned()))
    }

    async fn replace(
        &self,
        source: &SourceName,
        entries: &Arc<Vec<Entry>>,
        status: &SyncStatus,
    ) -> Result<(), StoreError> {
        let state = SourceState { source: source.clone(), entries: entries.to_vec(), status: status.clone() };
        self.with(|m| m.insert(source.clone(), state));
        Ok(())
    }

    async fn write_status(&self, source: &SourceName, status: &SyncStatus) -> Result<(), StoreError> {
        self.with(|m| {
            m.entry(source.clone())
                .or_insert_with(|| SourceState { source: source.clone(), entries: Vec::new(), status: status.clone() })
                .status = status.clone();
        });
        Ok(())
    }

    async fn write_name(&self, write: NameWrite<'_>) -> Result<(), StoreError> {
        self.with(|m| {
            let Some(state) = m.get_mut(write.source) else {
                // Nothing stored: the source is created, with no revision to meet.
                let mut entries = Vec::new();
                super::apply_name_write(&mut entries, None, &write)?;
                let state = SourceState { source: write.source.clone(), entries, status: write.status.clone() };
                m.insert(write.source.clone(), state);
                return Ok(());
            };
            super::apply_name_write(&mut state.entries, state.status.revision.as_ref(), &write)?;
            state.status = write.status.clone();
            Ok(())
        })
    }

    /// One process: the lease is always free.
    async fn try_lease(&self, _source: &SourceName) -> Result<Option<Box<dyn SourceLease>>, StoreError> {
        Ok(Some(Box::new(LocalLease)))
    }

    /// Nobody else writes this store: the feed never yields.
    async fn subscribe(&self) -> Result<Box<dyn ChangeFeed>, StoreError> {
        Ok(Box::new(NoChanges))
    }
}
