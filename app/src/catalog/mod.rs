//! The application core: the live catalogue of every source's entries and status and every
//! registry's snapshot, and how it changes — one sync run of one source ([`run`]), catching up
//! with what other processes stored ([`replica`]), and the coordinator that schedules the runs
//! ([`coordinator`]).
//!
//! A fetch that fails, does not parse, or comes back empty when the previous data was not never
//! replaces the last good data: the status says why and the snapshots stay as they are.
//!
//! The core reports what happens through [`CatalogEvents`] (telemetry listens); it reaches
//! nothing above it.

mod coordinator;
mod events;
mod failure;
mod replica;
mod run;
mod slot;
mod views;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use thv_domain::access::Caller;
use thv_domain::registry::merge_shared;
use thv_domain::snapshot::Snapshot;
use thv_domain::{Entry, RegistryName, SourceName, SyncPhase, SyncStatus};
use thv_ports::{Clock, EntryStore, Source, StoreError};
use tokio::sync::Mutex;

use thv_domain::spec::{CatalogSpec, RegistryConfig, SourceConfig};

pub use coordinator::Coordinator;
pub use events::{CatalogEvents, NoEvents, SyncReport};
pub use failure::SyncFailure;
pub use run::{SyncOutcome, SyncRequest};
use slot::SourceRuntime;
pub use slot::{RegistrySlot, RegistrySnapshot, SourceSlot};
pub use views::{ReadinessReport, ReadinessView, ReadyState, RegistryReadiness};
pub use write::{Write, WriteError, Written};

/// Why a read of a registry is refused (see [`Catalog::resolve_read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefusal<'a> {
    /// The caller sent no token (`oauth` mode) and the registry is not public, or does not exist.
    TokenRequired,
    /// No such registry, or the caller may not read it: the two are not told apart.
    NotFound { registry: &'a str },
    /// No registry was named and there is no default one the caller may read.
    NoDefault { readable: Vec<&'a str> },
}

/// Why the catalogue could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("source `{source_name}`: {message}")]
    Source { source_name: String, message: String },
}

/// The live catalogue shared by the HTTP API and the sync tasks.
#[derive(Debug)]
pub struct Catalog {
    clock: Arc<dyn Clock>,
    events: Arc<dyn CatalogEvents>,
    store: Arc<dyn EntryStore>,
    sources: BTreeMap<SourceName, SourceSlot>,
    registries: BTreeMap<RegistryName, RegistrySlot>,
    default_registry: Option<RegistryName>,
    generation: AtomicU64,
    /// Counts the snapshots published (bumped after a snapshot is in place): a read answered
    /// after seeing a count answers from that snapshot or a newer one.
    published: AtomicU64,
    /// Whether sync tasks run (a [`Coordinator`] was started).
    scheduled: AtomicBool,
    /// Why the store cannot be reached, while it cannot.
    store_problem: std::sync::Mutex<Option<String>>,
}

impl Catalog {
    /// Opens the catalogue: loads every source's last good data and status from the store,
    /// marks syncs cut off by a crash as interrupted, and builds the snapshots. Serving can start
    /// right after this, before any fetch.
    ///
    /// # Errors
    /// [`OpenError`] when the store cannot be read at all or a source adapter cannot be built.
    pub async fn open(
        config: CatalogSpec<'_>,
        store: Arc<dyn EntryStore>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn CatalogEvents>,
        adapter_for: impl Fn(&SourceConfig) -> Result<Arc<dyn Source>, String>,
    ) -> Result<Self, OpenError> {
        let mut stored: BTreeMap<SourceName, thv_ports::SourceState> =
            store.load_all().await?.into_iter().map(|s| (s.source.clone(), s)).collect();
        let mut sources = BTreeMap::new();
        for cfg in config.sources {
            let (mut entries, mut status) = match stored.remove(&cfg.name) {
                Some(s) => (s.entries, s.status),
                None => (Vec::new(), SyncStatus::pending()),
            };
            // Flags as this version computes them (data stored by an older one may lack them), so
            // the next sync moves `updatedAt` only where a flag really moves.
            thv_domain::latest::mark_latest(&mut entries);
            let managed = cfg.kind.managed().is_some();
            if managed && status.phase == SyncPhase::Pending {
                // Nothing published yet: an empty managed source is ready as it is.
                status.phase = SyncPhase::Synced;
            }
            // A sync recorded as running was cut off, unless another process sharing the store
            // runs it right now (it holds the source's lease): only the lease holder writes the
            // status.
            if status.phase == SyncPhase::Syncing
                && let Some(lease) = store.try_lease(&cfg.name).await?
            {
                status.phase = SyncPhase::Interrupted;
                status.message = Some(
                    "the previous sync was interrupted (the process stopped while it ran); the last good data is served and the sync is retried"
                        .to_owned(),
                );
                let written = store.write_status(&cfg.name, &status).await;
                if let Err(e) = lease.release().await {
                    tracing::warn!(source.name = %cfg.name, error = %e, "cannot release the sync lease");
                }
                written?;
            }
            let settled = managed || !entries.is_empty() || status.phase == SyncPhase::Synced;
            let adapter = if managed {
                None
            } else {
                Some(
                    adapter_for(cfg)
                        .map_err(|message| OpenError::Source { source_name: cfg.name.to_string(), message })?,
                )
            };
            let runtime = SourceRuntime { entries: Arc::new(entries), status, settled };
            sources.insert(
                cfg.name.clone(),
                SourceSlot {
                    config: cfg.clone(),
                    adapter,
                    state: std::sync::Mutex::new(runtime),
                    sync_lock: Mutex::new(()),
                    running: AtomicU64::new(0),
                    trigger: tokio::sync::Notify::new(),
                    requested: AtomicBool::new(false),
                },
            );
        }
        let registries = config
            .registries
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RegistrySlot {
                        config: r.clone(),
                        snapshot: ArcSwap::from_pointee(RegistrySnapshot::default()),
                        rebuilding: std::sync::Mutex::new(()),
                    },
                )
            })
            .collect();
        let catalog = Self {
            clock,
            events,
            store,
            sources,
            registries,
            default_registry: config.default_registry.cloned(),
            generation: AtomicU64::new(0),
            published: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            store_problem: std::sync::Mutex::new(None),
        };
        for name in catalog.registries.keys() {
            catalog.rebuild(name);
        }
        Ok(catalog)
    }

    /// A catalogue with nothing in it, on `store` (for generating the OpenAPI document).
    pub fn empty(store: Arc<dyn EntryStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            events: Arc::new(NoEvents),
            store,
            sources: BTreeMap::new(),
            registries: BTreeMap::new(),
            default_registry: None,
            generation: AtomicU64::new(0),
            published: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            store_problem: std::sync::Mutex::new(None),
        }
    }

    pub fn registry(&self, name: &str) -> Option<Arc<RegistrySnapshot>> {
        let name = RegistryName::parse(name).ok()?;
        self.registries.get(&name).map(|r| r.snapshot.load_full())
    }

    pub fn default_registry(&self) -> Option<&RegistryName> {
        self.default_registry.as_ref()
    }

    pub fn registries(&self) -> impl Iterator<Item = &RegistrySlot> {
        self.registries.values()
    }

    /// The registry, when it exists and `caller` may read it (the two cases are not told apart).
    pub fn readable_registry(&self, name: &str, caller: &Caller) -> Option<&RegistrySlot> {
        let name = RegistryName::parse(name).ok()?;
        self.registries.get(&name).filter(|r| caller.can_read(&r.config.access))
    }

    /// The registry a read addresses — `registry`, or the default one when `None` — if `caller`
    /// may read it. The one place that decides what a refused read is told: a caller without a
    /// token is asked for one, any other is told the registry does not exist, whether it exists
    /// or not.
    pub fn resolve_read<'a>(
        &'a self,
        registry: Option<&'a str>,
        caller: &'a Caller,
    ) -> Result<&'a RegistrySlot, ReadRefusal<'a>> {
        let name = registry.or_else(|| {
            self.default_registry
                .as_ref()
                .map(RegistryName::as_str)
                .filter(|d| self.readable_registry(d, caller).is_some())
        });
        let refused = |refusal| if caller.is_anonymous() { ReadRefusal::TokenRequired } else { refusal };
        let Some(name) = name else {
            let readable = self.readable_registries(caller).map(|r| r.config.name.as_str()).collect();
            return Err(refused(ReadRefusal::NoDefault { readable }));
        };
        self.readable_registry(name, caller).ok_or_else(|| refused(ReadRefusal::NotFound { registry: name }))
    }

    /// The registries `caller` may read.
    pub fn readable_registries<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a RegistrySlot> + 'a {
        self.registries.values().filter(|r| caller.can_read(&r.config.access))
    }

    /// Whether `caller` may see a source: it feeds a registry the caller may read (or the caller
    /// is a super-admin, who reads every registry; sources in no registry only show to them).
    pub fn source_visible(&self, name: &SourceName, caller: &Caller) -> bool {
        caller.has_role(thv_domain::access::Role::SuperAdmin)
            || self.readable_registries(caller).any(|r| r.config.sources.contains(name))
    }

    pub fn sources(&self) -> impl Iterator<Item = &SourceSlot> {
        self.sources.values()
    }

    pub fn source(&self, name: &SourceName) -> Option<&SourceSlot> {
        self.sources.get(name)
    }

    /// The current status of a source and whether it has data or a definite outcome.
    pub fn source_status(&self, name: &SourceName) -> Option<(SyncStatus, bool)> {
        self.sources.get(name).map(|s| {
            let st = lock(&s.state);
            (st.status.clone(), st.settled)
        })
    }

    /// Marks that sync tasks run: requested syncs wake them rather than running on their own.
    pub(crate) fn set_scheduled(&self) {
        self.scheduled.store(true, Ordering::Relaxed);
    }

    /// Asks for a sync of a source now. With sync tasks running, the source's task is woken (so
    /// retries keep their backoff); without, the sync runs in a task of its own.
    pub fn request_sync(self: &Arc<Self>, name: &SourceName) -> SyncRequest {
        let Some(slot) = self.sources.get(name) else { return SyncRequest::Unknown };
        if slot.adapter.is_none() {
            return SyncRequest::Managed;
        }
        if self.is_syncing(name) || slot.requested.swap(true, Ordering::AcqRel) {
            return SyncRequest::Busy;
        }
        if self.scheduled.load(Ordering::Relaxed) {
            slot.trigger.notify_one();
        } else {
            let catalog = self.clone();
            let name = name.clone();
            tokio::spawn(async move { catalog.sync_supervised(&name).await });
        }
        SyncRequest::Started
    }

    /// Whether a sync of the source is running now, or was requested and is about to start.
    pub fn is_syncing(&self, name: &SourceName) -> bool {
        self.sources
            .get(name)
            .is_some_and(|s| s.running.load(Ordering::Acquire) != 0 || s.requested.load(Ordering::Acquire))
    }

    /// The number of entries (versions, tombstones included) a source holds.
    pub fn source_entry_count(&self, name: &SourceName) -> usize {
        self.sources.get(name).map_or(0, |s| lock(&s.state).entries.len())
    }

    /// A human description of where a source reads from (no secrets).
    pub fn source_location(&self, name: &SourceName) -> Option<String> {
        self.sources.get(name).map(|s| s.adapter.as_ref().map_or_else(|| s.config.kind.location(), |a| a.describe()))
    }

    /// Whether every source of a registry has data or a definite outcome.
    pub fn registry_ready(&self, registry: &RegistryConfig) -> bool {
        registry.sources.iter().all(|s| self.source_status(s).is_some_and(|(_, settled)| settled))
    }

    fn rebuild(&self, name: &RegistryName) {
        let Some(slot) = self.registries.get(name) else { return };
        // Each source stores its entries before rebuilding, so whichever rebuild runs last reads
        // every source's newest entries.
        let _rebuilding = lock(&slot.rebuilding);
        let parts: Vec<Arc<Vec<Entry>>> = slot
            .config
            .sources
            .iter()
            .filter_map(|s| self.sources.get(s).map(|src| lock(&src.state).entries.clone()))
            .collect();
        let merged = merge_shared(&parts, &slot.config.filter);
        let digest = snapshot_digest(name, &merged);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = Snapshot::new(generation, merged);
        self.events.registry_rebuilt(name, snapshot.server_count());
        slot.snapshot.store(Arc::new(RegistrySnapshot { snapshot, digest: digest.into() }));
        self.published.fetch_add(1, Ordering::Release);
    }

    /// How many registry snapshots have been published so far. A response computed after reading
    /// `n` reflects snapshot `n` or a newer one, so it may be reused for as long as this stays `n`.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    fn rebuild_for(&self, source: &SourceName) {
        let names: Vec<RegistryName> = self
            .registries
            .values()
            .filter(|r| r.config.sources.contains(source))
            .map(|r| r.config.name.clone())
            .collect();
        for name in &names {
            self.rebuild(name);
        }
    }
}

/// A digest of a registry's merged entries (names, versions, content and metadata).
fn snapshot_digest(name: &RegistryName, entries: &[Entry]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    let (mut meta, mut stamps) = (Vec::with_capacity(256), thv_domain::entry::Stamps::default());
    for e in entries {
        h.update(e.server.content_hash().as_bytes());
        meta.clear();
        e.official.write_json(&mut meta, &mut stamps);
        h.update(&meta);
    }
    hex::encode(&h.finalize()[..12])
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
