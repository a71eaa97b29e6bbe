//! What the core reports as it works. Telemetry listens (it implements [`CatalogEvents`]); the
//! core never calls up into it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thv_domain::{RegistryName, SourceName};

use super::SyncOutcome;

/// One finished sync run.
#[derive(Debug)]
pub struct SyncReport<'a> {
    pub source: &'a SourceName,
    pub outcome: &'a SyncOutcome,
    /// Servers the source provides after the run (`None` when the source is unknown).
    pub servers: Option<usize>,
    pub elapsed: Duration,
    /// When the run ended, by the catalogue's clock.
    pub finished_at: DateTime<Utc>,
}

/// Listens to the core.
pub trait CatalogEvents: Send + Sync + std::fmt::Debug {
    /// A sync run's span was opened (a listener may attach trace ids to it).
    fn sync_started(&self, span: &tracing::Span);
    /// A sync run ended.
    fn sync_finished(&self, report: &SyncReport<'_>);
    /// A registry's snapshot was rebuilt and is served now.
    fn registry_rebuilt(&self, registry: &RegistryName, servers: usize);
}

/// Listens to nothing (tests, the OpenAPI document's empty catalogue).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl CatalogEvents for NoEvents {
    fn sync_started(&self, _: &tracing::Span) {}
    fn sync_finished(&self, _: &SyncReport<'_>) {}
    fn registry_rebuilt(&self, _: &RegistryName, _: usize) {}
}
