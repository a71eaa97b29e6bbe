//! A source and a registry at run time: their slots in the catalogue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use thv_domain::snapshot::Snapshot;
use thv_domain::{Entry, SyncStatus};
use thv_ports::Source;
use tokio::sync::Mutex;

use super::lock;
use thv_domain::spec::{RegistryConfig, SourceConfig};

/// One source at run time.
#[derive(Debug)]
pub struct SourceSlot {
    pub config: SourceConfig,
    /// Where it is fetched from; `None` for a managed source (written through the API).
    pub(super) adapter: Option<Arc<dyn Source>>,
    pub(super) state: std::sync::Mutex<SourceRuntime>,
    /// Held for the duration of a sync, and briefly while catching up with the store.
    pub(super) sync_lock: Mutex<()>,
    /// A sync of this source runs now (only syncs: a catch-up with the store does not count, so
    /// it never makes a requested sync look busy).
    pub(super) running: AtomicU64,
    /// Wakes the source's sync task for a sync now.
    pub(super) trigger: tokio::sync::Notify,
    /// A requested sync has not started yet.
    pub(super) requested: AtomicBool,
}

#[derive(Debug, Clone)]
pub(super) struct SourceRuntime {
    pub(super) entries: Arc<Vec<Entry>>,
    pub(super) status: SyncStatus,
    /// Whether this source has data or a definite outcome (for readiness).
    pub(super) settled: bool,
}

/// One registry at run time.
#[derive(Debug)]
pub struct RegistrySlot {
    pub config: RegistryConfig,
    pub(super) snapshot: ArcSwap<RegistrySnapshot>,
    /// Held while a new snapshot is built and stored: two sources of the registry syncing at once
    /// must not store their snapshots in the other order (the later store would be built from
    /// the other source's old entries, and lose its new ones).
    pub(super) rebuilding: std::sync::Mutex<()>,
}

impl RegistrySlot {
    /// The registry's current snapshot.
    pub fn snapshot(&self) -> Arc<RegistrySnapshot> {
        self.snapshot.load_full()
    }
}

/// A registry's snapshot plus a digest of its content, for `ETag`s that stay valid across
/// restarts and replicas.
#[derive(Debug, Default)]
pub struct RegistrySnapshot {
    pub snapshot: Snapshot,
    pub digest: Arc<str>,
}

/// Publishes the final status of a sync and, in the same critical section, ends the sync: whoever
/// sees the new status can request the next sync at once.
pub(super) fn settle(slot: &SourceSlot, status: SyncStatus) {
    let mut st = lock(&slot.state);
    st.status = status;
    st.settled = true;
    slot.running.store(0, Ordering::Release);
}

/// Marks a source as syncing until the sync settles (see [`settle`]) or, at the latest, until
/// this is dropped (a panic included). Each sync has its own id, so a guard dropped late never
/// ends the next sync.
pub(super) struct Running<'a> {
    pub(super) flag: &'a AtomicU64,
    pub(super) id: u64,
}

impl<'a> Running<'a> {
    /// `None` when a sync of the source is running already.
    pub(super) fn start(flag: &'a AtomicU64) -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        flag.compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| Self { flag, id })
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.flag.compare_exchange(self.id, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}
