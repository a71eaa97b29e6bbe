//! Catching up with what other processes sharing the store committed (a replica's view), and
//! the store's health as reads see it.

use std::sync::Arc;

use thv_domain::SourceName;
use thv_ports::StoreError;

use super::slot::SourceSlot;
use super::{Catalog, lock};

impl Catalog {
    /// Reloads a source from the store when another process changed it: the status only when
    /// just the status changed, the entries too when the data did (its revision or config digest).
    pub(super) async fn refresh_slot(&self, slot: &SourceSlot) -> Result<bool, StoreError> {
        let name = &slot.config.name;
        let stored = match self.store.load_status(name).await {
            Ok(s) => s,
            Err(e) => {
                self.store_failed(&e);
                return Err(e);
            }
        };
        self.store_ok();
        let Some(stored) = stored else { return Ok(false) };
        let current = lock(&slot.state).status.clone();
        if stored == current {
            return Ok(false);
        }
        let data_changed = (&stored.revision, &stored.config_digest) != (&current.revision, &current.config_digest);
        if !data_changed {
            let mut st = lock(&slot.state);
            st.status = stored;
            st.settled = true;
            return Ok(true);
        }
        let Some(state) = self.store.load(name).await.inspect_err(|e| self.store_failed(e))? else { return Ok(false) };
        lock(&slot.state).entries = Arc::new(state.entries);
        self.rebuild_for(name);
        let mut st = lock(&slot.state);
        st.status = state.status;
        st.settled = true;
        Ok(true)
    }

    /// Catches up with a change another process made to a source (unless this process is
    /// syncing it right now). Returns whether anything changed.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    pub async fn refresh(&self, name: &SourceName) -> Result<bool, StoreError> {
        let Some(slot) = self.sources.get(name) else { return Ok(false) };
        let Ok(_guard) = slot.sync_lock.try_lock() else { return Ok(false) };
        let changed = self.refresh_slot(slot).await?;
        if changed {
            tracing::info!(source.name = %name, "reloaded a source changed by another process");
        }
        Ok(changed)
    }

    /// [`Catalog::refresh`] for every source.
    ///
    /// # Errors
    /// The first [`StoreError`] met (every source is still tried).
    pub async fn refresh_all(&self) -> Result<(), StoreError> {
        let mut first = None;
        for name in self.sources.keys() {
            if let Err(e) = self.refresh(name).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    pub async fn subscribe(&self) -> Result<Box<dyn thv_ports::ChangeFeed>, StoreError> {
        self.store.subscribe().await.inspect_err(|e| self.store_failed(e))
    }

    pub(super) fn store_ok(&self) {
        *lock(&self.store_problem) = None;
    }

    /// Records that the store could not be reached (for readiness: serving from memory).
    pub fn store_failed(&self, e: &StoreError) {
        if matches!(e, StoreError::Unavailable(_)) {
            *lock(&self.store_problem) = Some(e.to_string());
        }
    }

    /// Why the store cannot be reached right now, if it cannot.
    pub fn store_problem(&self) -> Option<String> {
        lock(&self.store_problem).clone()
    }
}
