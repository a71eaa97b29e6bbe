//! The live catalogue: every source's current entries and status, every registry's snapshot,
//! and the sync of one source (fetch → parse → filter → reconcile → store → rebuild snapshots).
//!
//! A fetch that fails, does not parse, or comes back empty when the previous data was not never
//! replaces the last good data: the status says why and the snapshots stay as they are.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use thv_domain::access::Caller;
use thv_domain::format::{ParsedServer, parse_document};
use thv_domain::reconcile::{Coverage, reconcile};
use thv_domain::registry::merge;
use thv_domain::snapshot::Snapshot;
use thv_domain::{Entry, RegistryName, SourceName, SyncPhase, SyncStatus};
use thv_ports::{Clock, EntryStore, Fetched, Source, StoreError};
use tokio::sync::Mutex;

use crate::config::{Config, RegistryConfig, SourceConfig};
use crate::telemetry::metrics;
use tracing::Instrument as _;

/// One source at run time.
#[derive(Debug)]
pub struct SourceSlot {
    pub config: SourceConfig,
    adapter: Arc<dyn Source>,
    state: std::sync::Mutex<SourceRuntime>,
    /// Held for the duration of a sync, and briefly while catching up with the store.
    sync_lock: Mutex<()>,
    /// A sync of this source runs now (only syncs: a catch-up with the store does not count, so
    /// it never makes a requested sync look busy).
    running: AtomicU64,
    /// Wakes the source's sync task for a sync now.
    pub(crate) trigger: tokio::sync::Notify,
    /// A requested sync has not started yet.
    requested: AtomicBool,
}

#[derive(Debug, Clone)]
struct SourceRuntime {
    entries: Arc<Vec<Entry>>,
    status: SyncStatus,
    /// Whether this source has data or a definite outcome (for readiness).
    settled: bool,
}

/// One registry at run time.
#[derive(Debug)]
pub struct RegistrySlot {
    pub config: RegistryConfig,
    snapshot: ArcSwap<RegistrySnapshot>,
    /// Held while a new snapshot is built and stored: two sources of the registry syncing at once
    /// must not store their snapshots in the other order (the later store would be built from
    /// the other source's old entries, and lose its new ones).
    rebuilding: std::sync::Mutex<()>,
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

/// Why the catalogue could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("source `{source_name}`: {message}")]
    Source { source_name: String, message: String },
}

/// The answer to [`Catalog::request_sync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    Started,
    Busy,
    Unknown,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// New data was stored and is served.
    Updated { servers: usize },
    /// The data did not change.
    Unchanged,
    /// The sync failed; the previous data is still served.
    Failed { message: String },
    /// Another sync of this source is running in this process.
    Busy,
    /// Another process sharing the store is syncing this source; its result arrives as a change.
    Elsewhere,
}

/// The live catalogue shared by the HTTP API and the sync tasks.
#[derive(Debug)]
pub struct Catalog {
    clock: Arc<dyn Clock>,
    store: Arc<dyn EntryStore>,
    sources: BTreeMap<SourceName, SourceSlot>,
    registries: BTreeMap<RegistryName, RegistrySlot>,
    default_registry: Option<RegistryName>,
    generation: AtomicU64,
    /// Whether sync tasks run (a [`crate::sync::Coordinator`] was started).
    scheduled: AtomicBool,
    /// Why the store cannot be reached, while it cannot.
    store_problem: std::sync::Mutex<Option<String>>,
}

/// Counts distinct server names with at least one live version.
fn live_servers(entries: &[Entry]) -> usize {
    let mut count = 0;
    let mut last: Option<&str> = None;
    for e in entries.iter().filter(|e| !e.is_deleted()) {
        let name = e.server.name().as_str();
        if last != Some(name) {
            count += 1;
            last = Some(name);
        }
    }
    count
}

impl Catalog {
    /// Opens the catalogue: loads every source's last good data and status from the store,
    /// marks syncs cut off by a crash as interrupted, and builds the snapshots. Serving can start
    /// right after this, before any fetch.
    ///
    /// # Errors
    /// [`OpenError`] when the store cannot be read at all or a source adapter cannot be built.
    pub async fn open(
        config: &Config,
        store: Arc<dyn EntryStore>,
        clock: Arc<dyn Clock>,
        adapter_for: impl Fn(&SourceConfig) -> Result<Arc<dyn Source>, String>,
    ) -> Result<Self, OpenError> {
        let mut stored: BTreeMap<SourceName, thv_ports::SourceState> =
            store.load_all().await?.into_iter().map(|s| (s.source.clone(), s)).collect();
        let mut sources = BTreeMap::new();
        for cfg in &config.sources {
            let (entries, mut status) = match stored.remove(&cfg.name) {
                Some(s) => (s.entries, s.status),
                None => (Vec::new(), SyncStatus::pending()),
            };
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
            let settled = !entries.is_empty() || status.phase == SyncPhase::Synced;
            let runtime = SourceRuntime { entries: Arc::new(entries), status, settled };
            sources.insert(
                cfg.name.clone(),
                SourceSlot {
                    config: cfg.clone(),
                    adapter: adapter_for(cfg)
                        .map_err(|message| OpenError::Source { source_name: cfg.name.to_string(), message })?,
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
            store,
            sources,
            registries,
            default_registry: config.default_registry.clone(),
            generation: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            store_problem: std::sync::Mutex::new(None),
        };
        for name in catalog.registries.keys() {
            catalog.rebuild(name);
        }
        Ok(catalog)
    }

    /// A catalogue with nothing in it (for generating the OpenAPI document).
    pub fn empty() -> Self {
        #[derive(Debug)]
        struct NoStore;
        #[async_trait::async_trait]
        impl EntryStore for NoStore {
            async fn load_all(&self) -> Result<Vec<thv_ports::SourceState>, StoreError> {
                Ok(Vec::new())
            }
            async fn load(&self, _: &SourceName) -> Result<Option<thv_ports::SourceState>, StoreError> {
                Ok(None)
            }
            async fn replace(&self, _: &SourceName, _: &[Entry], _: &SyncStatus) -> Result<(), StoreError> {
                Err(StoreError::Internal("the empty catalogue stores nothing".to_owned()))
            }
            async fn write_status(&self, _: &SourceName, _: &SyncStatus) -> Result<(), StoreError> {
                Err(StoreError::Internal("the empty catalogue stores nothing".to_owned()))
            }
            async fn try_lease(&self, _: &SourceName) -> Result<Option<Box<dyn thv_ports::SourceLease>>, StoreError> {
                Ok(None)
            }
            async fn subscribe(&self) -> Result<Box<dyn thv_ports::ChangeFeed>, StoreError> {
                Err(StoreError::Internal("the empty catalogue has no changes".to_owned()))
            }
        }
        Self {
            clock: Arc::new(thv_adapters::SystemClock),
            store: Arc::new(NoStore),
            sources: BTreeMap::new(),
            registries: BTreeMap::new(),
            default_registry: None,
            generation: AtomicU64::new(0),
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
        self.sources.get(name).map(|s| s.adapter.describe())
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
        let slices: Vec<&[Entry]> = parts.iter().map(|p| p.as_slice()).collect();
        let merged = merge(&slices, &slot.config.filter);
        let digest = snapshot_digest(name, &merged);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = Snapshot::new(generation, merged);
        metrics::registry_servers(name.as_str(), snapshot.server_count());
        slot.snapshot.store(Arc::new(RegistrySnapshot { snapshot, digest: digest.into() }));
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

    /// Syncs one source in a task of its own, so that a panic in a sync (a bug in an adapter or a
    /// parser) ends that sync only: it is logged once, the source's status says so (`failed`, one
    /// more attempt, so retries back off), and the outcome is a failure. Dropping the returned
    /// future stops the sync, as dropping [`Catalog::sync`] would.
    pub async fn sync_supervised(self: &Arc<Self>, name: &SourceName) -> SyncOutcome {
        let catalog = self.clone();
        let source = name.clone();
        let task = tokio::spawn(async move { catalog.sync(&source).await });
        let _abort = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => {
                let why = if e.is_panic() { panic_message(e.into_panic()) } else { e.to_string() };
                tracing::error!(source.name = %name, error = %why, "a sync task panicked; the source is retried with backoff");
                let Some(slot) = self.sources.get(name) else { return SyncOutcome::Failed { message: why } };
                let before = lock(&slot.state).clone();
                let message = format!("the sync stopped on an internal error ({why}); it is retried with backoff");
                // Status is written only under the source's lease, as by a sync.
                match self.store.try_lease(name).await {
                    Ok(Some(lease)) => {
                        let outcome = self.fail(slot, &before, message, Persist::Yes).await;
                        if let Err(e) = lease.release().await {
                            tracing::warn!(source.name = %name, error = %e, "cannot release the sync lease");
                        }
                        outcome
                    }
                    _ => self.fail(slot, &before, message, Persist::No).await,
                }
            }
        }
    }

    /// Syncs one source now. Returns [`SyncOutcome::Busy`] when a sync of it is already running.
    pub async fn sync(&self, name: &SourceName) -> SyncOutcome {
        let Some(slot) = self.sources.get(name) else {
            return SyncOutcome::Failed { message: format!("no source is named `{name}`") };
        };
        let Some(_running) = Running::start(&slot.running) else { return SyncOutcome::Busy };
        // A catch-up with the store may hold the lock for a moment: wait for it.
        let _guard = slot.sync_lock.lock().await;
        slot.requested.store(false, Ordering::Release);
        let span = tracing::info_span!(
            "sync",
            otel.name = %format!("sync {name}"),
            source.name = %name,
            source.type = slot.config.kind.type_name(),
            sync.outcome = tracing::field::Empty,
            sync.servers = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        crate::telemetry::record_ids(&span);
        let started = Instant::now();
        let outcome = self.sync_with_lease(slot).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let label = match &outcome {
            SyncOutcome::Updated { .. } => "updated",
            SyncOutcome::Unchanged => "unchanged",
            SyncOutcome::Failed { .. } => "failed",
            SyncOutcome::Elsewhere => "elsewhere",
            SyncOutcome::Busy => "busy",
        };
        span.record("sync.outcome", label);
        if let Some((status, _)) = self.source_status(name) {
            span.record("sync.servers", status.server_count);
            if matches!(outcome, SyncOutcome::Updated { .. } | SyncOutcome::Unchanged) {
                #[expect(clippy::cast_precision_loss, reason = "a Unix time in seconds fits a float")]
                let at = self.clock.now().timestamp_millis() as f64 / 1000.0;
                metrics::source_synced(name.as_str(), status.server_count, at);
            }
        }
        metrics::sync(name.as_str(), label, elapsed);
        let _entered = span.enter();
        match &outcome {
            SyncOutcome::Updated { servers } => {
                tracing::info!(source.name = %name, servers, duration_ms, "source synced");
            }
            SyncOutcome::Unchanged => tracing::debug!(source.name = %name, duration_ms, "source unchanged"),
            SyncOutcome::Failed { message } => {
                tracing::warn!(source.name = %name, duration_ms, error = %message, "source sync failed");
            }
            SyncOutcome::Elsewhere => {
                tracing::debug!(source.name = %name, "another process is syncing this source");
            }
            SyncOutcome::Busy => {}
        }
        outcome
    }

    async fn sync_with_lease(&self, slot: &SourceSlot) -> SyncOutcome {
        let name = &slot.config.name;
        match self.store.try_lease(name).await {
            Ok(Some(lease)) => {
                self.store_ok();
                let outcome = self.sync_leased(slot).await;
                if let Err(e) = lease.release().await {
                    tracing::warn!(source.name = %name, error = %e, "cannot release the sync lease");
                }
                outcome
            }
            Ok(None) => SyncOutcome::Elsewhere,
            Err(e) => {
                self.store_failed(&e);
                let before = lock(&slot.state).clone();
                self.fail(slot, &before, format!("cannot take the sync lease: {e}"), Persist::No).await
            }
        }
    }

    /// With the lease held: catch up with what other processes stored, then sync.
    async fn sync_leased(&self, slot: &SourceSlot) -> SyncOutcome {
        if let Err(e) = self.refresh_slot(slot).await {
            let before = lock(&slot.state).clone();
            return self.fail(slot, &before, format!("cannot read the stored state: {e}"), Persist::Yes).await;
        }
        self.sync_locked(slot).await
    }

    /// Reloads a source from the store when another process changed it: the status only when
    /// just the status changed, the entries too when the data did (its revision or config digest).
    async fn refresh_slot(&self, slot: &SourceSlot) -> Result<bool, StoreError> {
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

    fn store_ok(&self) {
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

    async fn sync_locked(&self, slot: &SourceSlot) -> SyncOutcome {
        let name = &slot.config.name;
        let now = self.clock.now();
        let before = lock(&slot.state).clone();
        let mut attempt = before.status.clone();
        attempt.phase = SyncPhase::Syncing;
        attempt.last_attempt = Some(now);
        if let Err(e) = self.store.write_status(name, &attempt).await {
            self.store_failed(&e);
            return self.fail(slot, &before, format!("cannot record the sync start: {e}"), Persist::Yes).await;
        }
        lock(&slot.state).status = attempt;

        let digest = slot.config.digest();
        let config_changed = before.status.config_digest.as_deref() != Some(digest.as_str());
        let since = if config_changed { None } else { before.status.revision.as_ref() };
        let fetched = tokio::time::timeout(slot.config.timeout, slot.adapter.fetch(since)).await;
        let (revision, documents, complete) = match fetched {
            Ok(Ok(Fetched::Unchanged)) => return self.unchanged(slot, &before).await,
            Ok(Ok(Fetched::Documents { revision, documents, complete })) => (revision, documents, complete),
            Ok(Err(e)) => {
                return self
                    .fail(slot, &before, format!("fetch from {} failed: {e}", slot.adapter.describe()), Persist::Yes)
                    .await;
            }
            Err(_) => {
                let limit = crate::config::duration::format(slot.config.timeout);
                let message =
                    format!("fetch from {} timed out after {limit} (syncPolicy.timeout)", slot.adapter.describe());
                return self.fail(slot, &before, message, Persist::Yes).await;
            }
        };

        let mut servers: Vec<ParsedServer> = Vec::new();
        let mut skipped = Vec::new();
        let (mut items, mut invalid) = (0usize, 0usize);
        for doc in &documents {
            match parse_document(doc, slot.config.format) {
                Ok(parsed) => {
                    if let Some(summary) = parsed.skipped_summary() {
                        skipped.push(summary);
                    }
                    items += parsed.servers.len() + parsed.skipped.len();
                    invalid += parsed.skipped.len();
                    servers.extend(parsed.servers.into_iter().filter(|s| slot.config.filter.matches(&s.server)));
                }
                Err(e) => {
                    let message = format!("data from {} is unusable: {e}", slot.adapter.describe());
                    return self.fail(slot, &before, message, Persist::Yes).await;
                }
            }
        }
        let previous_live = live_servers(&before.entries);
        if complete && servers.is_empty() && previous_live > 0 {
            let why = skipped.first().map_or(String::new(), |s| format!(" ({s})"));
            let message =
                format!("{} returned no servers{why}; keeping the previous {previous_live}", slot.adapter.describe());
            return self.fail(slot, &before, message, Persist::Yes).await;
        }
        // A document whose entries suddenly mostly fail to read is as suspect as an empty one:
        // taking it would turn every entry it lost into a tombstone.
        #[expect(clippy::cast_precision_loss, reason = "entry counts are far below 2^52")]
        let invalid_ratio = if items == 0 { 0.0 } else { invalid as f64 / items as f64 };
        if complete && previous_live > 0 && invalid_ratio > slot.config.max_invalid_ratio {
            let why = skipped.first().map_or(String::new(), |s| format!(" ({s})"));
            let message = format!(
                "{}: {invalid} of {items} entries are invalid{why}, more than syncPolicy.maxInvalidRatio ({}) allows; keeping the previous {previous_live}",
                slot.adapter.describe(),
                slot.config.max_invalid_ratio
            );
            return self.fail(slot, &before, message, Persist::Yes).await;
        }
        let retention = chrono::Duration::from_std(slot.config.tombstone_retention).unwrap_or(chrono::Duration::MAX);
        let coverage = if complete { Coverage::Complete } else { Coverage::Delta };
        let (entries, changes) = reconcile(name, &before.entries, servers, now, retention, coverage);
        let server_count = live_servers(&entries);
        let mut notes = skipped;
        if !changes.duplicates.is_empty() {
            notes.push(format!(
                "{} duplicate version(s) ignored, first: {}",
                changes.duplicates.len(),
                changes.duplicates[0]
            ));
        }
        let status = SyncStatus {
            phase: SyncPhase::Synced,
            last_attempt: Some(now),
            last_sync_time: Some(now),
            attempt_count: 0,
            server_count,
            revision: Some(revision),
            message: (!notes.is_empty()).then(|| notes.join("; ")),
            config_digest: Some(digest),
        };
        if let Err(e) = self.store.replace(name, &entries, &status).await {
            self.store_failed(&e);
            return self.fail(slot, &before, format!("cannot store the new data: {e}"), Persist::Yes).await;
        }
        self.store_ok();
        // Serve the new data first, then report it: whoever sees the new status (readiness,
        // management API) also sees the new snapshots.
        lock(&slot.state).entries = Arc::new(entries);
        self.rebuild_for(name);
        settle(slot, status);
        SyncOutcome::Updated { servers: server_count }
    }

    /// When the current attempt started: the time it recorded when it began (phase `syncing`), so
    /// one attempt has one `lastAttempt`; `now` when it failed before recording anything.
    fn attempt_start(slot: &SourceSlot, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let st = lock(&slot.state);
        match (st.status.phase, st.status.last_attempt) {
            (SyncPhase::Syncing, Some(started)) => started,
            _ => now,
        }
    }

    async fn unchanged(&self, slot: &SourceSlot, before: &SourceRuntime) -> SyncOutcome {
        let now = self.clock.now();
        let mut status = before.status.clone();
        status.phase = SyncPhase::Synced;
        status.last_attempt = Some(Self::attempt_start(slot, now));
        status.last_sync_time = Some(now);
        status.attempt_count = 0;
        if before.status.phase != SyncPhase::Synced {
            status.message = None;
        }
        if let Err(e) = self.store.write_status(&slot.config.name, &status).await {
            self.store_failed(&e);
            return self.fail(slot, before, format!("cannot record the sync result: {e}"), Persist::Yes).await;
        }
        settle(slot, status);
        SyncOutcome::Unchanged
    }

    async fn fail(&self, slot: &SourceSlot, before: &SourceRuntime, message: String, persist: Persist) -> SyncOutcome {
        let now = self.clock.now();
        let kept = live_servers(&before.entries);
        let message = if kept > 0 && !message.contains("keeping the previous") {
            format!("{message}; serving the previous {kept} servers")
        } else {
            message
        };
        let mut status = before.status.clone();
        status.phase = SyncPhase::Failed;
        status.last_attempt = Some(Self::attempt_start(slot, now));
        status.attempt_count = status.attempt_count.saturating_add(1);
        status.message = Some(message.clone());
        if persist == Persist::Yes
            && let Err(e) = self.store.write_status(&slot.config.name, &status).await
        {
            self.store_failed(&e);
            tracing::error!(source.name = %slot.config.name, error = %e, "cannot record a failed sync");
        }
        settle(slot, status);
        SyncOutcome::Failed { message }
    }
}

/// A digest of a registry's merged entries (names, versions, content and metadata).
fn snapshot_digest(name: &RegistryName, entries: &[Entry]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    for e in entries {
        h.update(e.server.content_hash().0.as_bytes());
        h.update(serde_json::to_vec(&e.official).unwrap_or_default());
    }
    hex::encode(&h.finalize()[..12])
}

/// Whether a failure is written to the store too, or kept in memory (when this process does not
/// hold the source's lease, it must not write the source's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    Yes,
    No,
}

/// Publishes the final status of a sync and, in the same critical section, ends the sync: whoever
/// sees the new status can request the next sync at once.
fn settle(slot: &SourceSlot, status: SyncStatus) {
    let mut st = lock(&slot.state);
    st.status = status;
    st.settled = true;
    slot.running.store(0, Ordering::Release);
}

/// Marks a source as syncing until the sync settles (see [`settle`]) or, at the latest, until
/// this is dropped (a panic included). Each sync has its own id, so a guard dropped late never
/// ends the next sync.
struct Running<'a> {
    flag: &'a AtomicU64,
    id: u64,
}

impl<'a> Running<'a> {
    /// `None` when a sync of the source is running already.
    fn start(flag: &'a AtomicU64) -> Option<Self> {
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

/// Aborts a spawned task when dropped (the caller stopped waiting for it).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "a panic".to_owned(), |s| (*s).to_owned()),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
