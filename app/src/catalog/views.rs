//! Whole answers for the HTTP layer, one call each: readiness as a caller may see it.

use thv_domain::SyncStatus;
use thv_domain::access::{Caller, Role};
use thv_domain::spec::{RegistryConfig, SourceConfig};

use super::Catalog;

/// How much of the readiness report a caller sees.
#[derive(Debug, Clone, Copy)]
pub enum ReadinessView<'a> {
    /// The status alone (a caller without a token).
    Status,
    /// The registries this caller may read.
    Readable(&'a Caller),
    /// Every registry, and the store's problem (anonymous mode, `superAdmin`, the operations
    /// listener).
    Everything,
}

impl<'a> ReadinessView<'a> {
    /// What `caller` may see on the public listener.
    pub fn of(caller: &'a Caller) -> Self {
        match caller {
            Caller::Open => Self::Everything,
            Caller::Anonymous => Self::Status,
            Caller::User { .. } if caller.has_role(Role::SuperAdmin) => Self::Everything,
            Caller::User { .. } => Self::Readable(caller),
        }
    }

    fn shows(&self, registry: &RegistryConfig) -> bool {
        match self {
            Self::Status => false,
            Self::Readable(caller) => caller.can_read(&registry.access),
            Self::Everything => true,
        }
    }
}

/// The overall state: the same for every caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    /// Some registry still waits for its first data or outcome.
    NotReady,
    /// Ready, but the store cannot be reached (reads come from memory).
    Degraded,
    Ready,
}

/// Readiness as one caller may see it.
#[derive(Debug)]
pub struct ReadinessReport<'a> {
    pub state: ReadyState,
    /// Why the store cannot be reached (full view only).
    pub store_problem: Option<String>,
    /// The registries the view shows (`None` for the status alone).
    pub registries: Option<Vec<RegistryReadiness<'a>>>,
}

/// One registry's readiness.
#[derive(Debug)]
pub struct RegistryReadiness<'a> {
    pub config: &'a RegistryConfig,
    pub default: bool,
    pub ready: bool,
    pub server_count: usize,
    /// Its sources in precedence order, with their current status.
    pub sources: Vec<(&'a SourceConfig, SyncStatus)>,
}

impl Catalog {
    /// Readiness as `view` may see it. The state covers every registry whatever the view, so
    /// every caller gets the same 200 or 503.
    pub fn readiness<'a>(&'a self, view: ReadinessView<'_>) -> ReadinessReport<'a> {
        let ready = self.registries().all(|r| self.registry_ready(&r.config));
        let problem = self.store_problem();
        let state = match (ready, &problem) {
            (false, _) => ReadyState::NotReady,
            (true, Some(_)) => ReadyState::Degraded,
            (true, None) => ReadyState::Ready,
        };
        let registries = (!matches!(view, ReadinessView::Status)).then(|| {
            self.registries()
                .filter(|r| view.shows(&r.config))
                .map(|r| RegistryReadiness {
                    config: &r.config,
                    default: self.default_registry() == Some(&r.config.name),
                    ready: self.registry_ready(&r.config),
                    server_count: r.snapshot().snapshot.server_count(),
                    sources: r
                        .config
                        .sources
                        .iter()
                        .filter_map(|s| Some((&self.source(s)?.config, self.source_status(s)?.0)))
                        .collect(),
                })
                .collect()
        });
        let store_problem = problem.filter(|_| matches!(view, ReadinessView::Everything));
        ReadinessReport { state, store_problem, registries }
    }
}
