//! Writes into a registry's managed source: publish, edit, status changes. The rules are the
//! domain's ([`thv_domain::managed`]); this module finds the source a registry publishes into,
//! checks what only the whole catalogue knows (filters, precedence, remote URLs), and commits
//! through [`EntryStore::write_name`](thv_ports::EntryStore::write_name): one transaction per
//! write, checked against the source's revision and the versions it was computed from. When
//! another process wrote the source meanwhile, the source is reloaded and the write decided again.

use std::sync::Arc;

use thv_domain::accept::live_servers;
use thv_domain::managed::{self, Refusal, StatusChange};
use thv_domain::spec::ManagedConfig;
use thv_domain::{Entry, Revision, ServerJson, ServerName, SourceName, SyncPhase, SyncStatus};
use thv_ports::{NameWrite, StoreError};

use super::slot::{RegistrySlot, SourceSlot};
use super::{Catalog, lock};

/// How often a write is decided again after another process wrote the same name first.
const ATTEMPTS: usize = 5;

/// One write.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new version.
    Publish(ServerJson),
    /// A new document for an existing version; its name and version must be the path's.
    Edit { name: String, version: String, server: ServerJson },
    /// A new status for one version, or for every version of the name.
    Status { name: String, version: Option<String>, change: StatusChange },
}

impl Write {
    /// `publish`, `edit`, `status` or `delete` (audit and metrics).
    pub fn action(&self) -> &'static str {
        match self {
            Self::Publish(_) => "publish",
            Self::Edit { .. } => "edit",
            Self::Status { change, .. } if change.status == thv_domain::Status::Deleted => "delete",
            Self::Status { .. } => "status",
        }
    }

    /// The server name written.
    pub fn name(&self) -> &str {
        match self {
            Self::Publish(s) => s.name().as_str(),
            Self::Edit { name, .. } | Self::Status { name, .. } => name,
        }
    }

    /// The version written (`None`: every version of the name).
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::Publish(s) => Some(s.version().as_str()),
            Self::Edit { version, .. } => Some(version),
            Self::Status { version, .. } => version.as_deref(),
        }
    }
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The registry has no managed source.
    #[error("registry `{registry}` does not take publishes: it has no managed source")]
    NotManaged { registry: String },
    /// The registry (or its managed source) filters the server out: it would be stored unseen.
    #[error(
        "server {name} is filtered out by {by}, so it would be stored but never served; publish a name the filter admits or change the filter"
    )]
    FilteredOut { name: String, by: String },
    /// An earlier source of the registry serves the name: the publish would be shadowed.
    #[error(
        "server {name} is served from source `{source_name}`, which comes before the managed source `{managed}` in registry `{registry}`; publish under another name"
    )]
    Shadowed { name: String, source_name: String, managed: String, registry: String },
    /// A remote URL of the document belongs to another server.
    #[error("remote URL {url} is already used by server {other}; a remote belongs to one server")]
    RemoteInUse { url: String, other: String },
    /// The domain rules refuse it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store could not commit it.
    #[error("the write could not be stored: {0}")]
    Store(StoreError),
}

/// What a write stored.
#[derive(Debug, Clone)]
pub struct Written {
    pub source: SourceName,
    /// Every version of the name after the write, sorted by version.
    pub versions: Vec<Entry>,
    /// The versions the write addressed (the published, edited or changed ones), sorted.
    pub addressed: Vec<Entry>,
}

impl Catalog {
    /// The managed source a registry publishes into, with its settings.
    pub fn managed_source(&self, registry: &RegistrySlot) -> Option<(&SourceName, &ManagedConfig)> {
        registry
            .config
            .sources
            .iter()
            .filter_map(|s| self.sources.get(s))
            .find_map(|s| s.config.kind.managed().map(|m| (&s.config.name, m)))
    }

    /// Applies a write to the registry's managed source and serves the result.
    ///
    /// # Errors
    /// [`WriteError`] saying why nothing was written.
    pub async fn write(&self, registry: &RegistrySlot, write: Write) -> Result<Written, WriteError> {
        let Some((source, _)) = self.managed_source(registry) else {
            return Err(WriteError::NotManaged { registry: registry.config.name.to_string() });
        };
        let Some(slot) = self.sources.get(source) else {
            return Err(WriteError::NotManaged { registry: registry.config.name.to_string() });
        };
        if let Write::Publish(server) | Write::Edit { server, .. } = &write {
            self.admitted(registry, slot, server)?;
        }
        let _writing = slot.sync_lock.lock().await;
        for _ in 1..ATTEMPTS {
            match self.write_once(slot, &write).await {
                Err(WriteError::Store(StoreError::Conflict(detail))) => {
                    tracing::debug!(source.name = %source, %detail, "a write met another one; reloading the source");
                    self.reload_managed(slot).await.map_err(WriteError::Store)?;
                }
                other => return other,
            }
        }
        self.write_once(slot, &write).await
    }

    /// Whether the registry would serve `server` from its managed source.
    fn admitted(&self, registry: &RegistrySlot, slot: &SourceSlot, server: &ServerJson) -> Result<(), WriteError> {
        let name = server.name();
        let filtered = |by: String| WriteError::FilteredOut { name: name.to_string(), by };
        if !registry.config.filter.matches(server) {
            return Err(filtered(format!("the filter of registry `{}`", registry.config.name)));
        }
        if !slot.config.filter.matches(server) {
            return Err(filtered(format!("the filter of source `{}`", slot.config.name)));
        }
        for earlier in registry.config.sources.iter().take_while(|s| **s != slot.config.name) {
            let Some(other) = self.sources.get(earlier) else { continue };
            let entries = lock(&other.state).entries.clone();
            let range = thv_domain::managed::name_range(&entries, name);
            if entries[range].iter().any(|e| !e.is_deleted()) {
                return Err(WriteError::Shadowed {
                    name: name.to_string(),
                    source_name: earlier.to_string(),
                    managed: slot.config.name.to_string(),
                    registry: registry.config.name.to_string(),
                });
            }
        }
        Ok(())
    }

    async fn write_once(&self, slot: &SourceSlot, write: &Write) -> Result<Written, WriteError> {
        let source = &slot.config.name;
        // The entries and the revision they are at, read together: the store refuses the write
        // when the source moved past that revision (another process wrote it meanwhile).
        let (entries, revision) = {
            let st = lock(&slot.state);
            (st.entries.clone(), st.status.revision.clone())
        };
        let name = ServerName::parse(write.name()).map_err(|_| Refusal::NoServer { name: write.name().to_owned() })?;
        let range = thv_domain::managed::name_range(&entries, &name);
        let current = &entries[range.clone()];
        let now = self.clock.now();
        let next = match write {
            Write::Publish(server) => managed::publish(current, server.clone(), source, now)?,
            Write::Edit { name, version, server } => managed::edit(current, name, version, server.clone(), now)?,
            Write::Status { name, version, change } => {
                managed::set_status(current, name, version.as_deref(), change, now)?
            }
        };
        let addressed: Vec<Entry> =
            next.iter().filter(|e| write.version().is_none_or(|v| e.server.version().as_str() == v)).cloned().collect();
        // A version that comes (back) to life must not take another server's remote URL.
        for e in addressed.iter().filter(|e| !e.is_deleted()) {
            if let Some((url, other)) = managed::remote_in_use(&entries, &e.server) {
                return Err(WriteError::RemoteInUse { url, other: other.to_owned() });
            }
        }
        if next == current {
            return Ok(Written { source: source.clone(), versions: next, addressed });
        }
        let mut all: Vec<Entry> = Vec::with_capacity(entries.len() + 1);
        all.extend_from_slice(&entries[..range.start]);
        all.extend(next.iter().cloned());
        all.extend_from_slice(&entries[range.end..]);
        let status = written_status(&all, now);
        let stored = self
            .store
            .write_name(NameWrite {
                source,
                name: &name,
                expected: current,
                expected_revision: revision.as_ref(),
                next: &next,
                status: &status,
            })
            .await;
        match stored {
            Ok(()) => self.store_ok(),
            Err(e) => {
                self.store_failed(&e);
                return Err(WriteError::Store(e));
            }
        }
        lock(&slot.state).entries = Arc::new(all);
        self.rebuild_for(source);
        {
            let mut st = lock(&slot.state);
            st.status = status;
            st.settled = true;
        }
        Ok(Written { source: source.clone(), versions: next, addressed })
    }

    /// Reloads a managed source from the store (after another process wrote it).
    async fn reload_managed(&self, slot: &SourceSlot) -> Result<(), StoreError> {
        let name = &slot.config.name;
        let Some(state) = self.store.load(name).await.inspect_err(|e| self.store_failed(e))? else { return Ok(()) };
        lock(&slot.state).entries = Arc::new(state.entries);
        self.rebuild_for(name);
        let mut st = lock(&slot.state);
        st.status = state.status;
        st.settled = true;
        Ok(())
    }
}

/// The status of a managed source after a write at `now`: synced, with the write's time and a
/// revision of its own (so every process sharing the store sees that the data changed).
fn written_status(entries: &[Entry], now: chrono::DateTime<chrono::Utc>) -> SyncStatus {
    let salt: u32 = rand::random();
    SyncStatus {
        phase: SyncPhase::Synced,
        last_attempt: Some(now),
        last_sync_time: Some(now),
        attempt_count: 0,
        server_count: live_servers(entries),
        revision: Some(Revision(format!("write-{}-{salt:08x}", thv_domain::entry::format_timestamp(&now)))),
        message: None,
        config_digest: None,
    }
}
