//! One sync run of one source, as a sequence of I/O steps: lease → catch up with the store →
//! record the start → fetch → the accept-or-refuse rule (pure, [`thv_domain::accept`]) → one
//! exit that stores the result or records the failure, then serves it; and the supervision that
//! turns a panic in a run into a failed attempt.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use thv_domain::accept::{AcceptPolicy, accept, live_servers};
use thv_domain::format::{DataFormat, FormatError, ParsedDocument, parse_document, parse_stream};
use thv_domain::reconcile::Coverage;
use thv_domain::{Entry, SourceName, SyncPhase, SyncStatus};
use thv_ports::{Document, Fetched};
use tracing::Instrument as _;

use super::SyncFailure;
use super::slot::{Running, SourceRuntime, SourceSlot, settle};
use super::{Catalog, SyncReport, lock};

/// The answer to [`Catalog::request_sync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    Started,
    Busy,
    Unknown,
    /// A managed source: written through the API, never synced.
    Managed,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// New data was stored and is served.
    Updated { servers: usize },
    /// The data did not change.
    Unchanged,
    /// The sync failed; the previous data is still served. `message` is what the status says:
    /// the failure, and how many servers are still served.
    Failed { failure: SyncFailure, message: String },
    /// Another sync of this source is running in this process.
    Busy,
    /// Another process sharing the store is syncing this source; its result arrives as a change.
    Elsewhere,
}

impl SyncOutcome {
    /// A failure while `serving` servers are still served.
    fn failed(failure: SyncFailure, serving: usize) -> Self {
        let message = failure.message(serving);
        Self::Failed { failure, message }
    }

    /// `updated`, `unchanged`, `failed`, `busy` or `elsewhere` (metrics and spans).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Updated { .. } => "updated",
            Self::Unchanged => "unchanged",
            Self::Failed { .. } => "failed",
            Self::Elsewhere => "elsewhere",
            Self::Busy => "busy",
        }
    }

    /// Why a sync failed ([`SyncFailure::reason`]); `None` when it did not.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Failed { failure, .. } => Some(failure.reason()),
            _ => None,
        }
    }
}

/// What a run found, before it is stored and served.
enum Found {
    /// The source's data did not change.
    Unchanged,
    /// Accepted entries and the status that goes with them.
    Updated { entries: Arc<Vec<Entry>>, status: SyncStatus },
}

impl Catalog {
    /// Syncs one source in a task of its own, so that a panic in a sync (a bug in an adapter or a
    /// parser) ends that sync only: it is logged once, the source's status says so (`failed`, one
    /// more attempt, so retries back off), it is reported as a failed sync (reason `panic`), and
    /// the outcome is a failure. Dropping the returned future stops the sync, as dropping
    /// [`Catalog::sync`] would.
    pub async fn sync_supervised(self: &Arc<Self>, name: &SourceName) -> SyncOutcome {
        let catalog = self.clone();
        let source = name.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move { catalog.sync(&source).await });
        let _abort = AbortOnDrop(task.abort_handle());
        let why = match task.await {
            Ok(outcome) => return outcome,
            Err(e) if e.is_panic() => panic_message(e.into_panic()),
            Err(e) => e.to_string(),
        };
        tracing::error!(source.name = %name, error = %why, "a sync task panicked; the source is retried with backoff");
        let failure = SyncFailure::Panic { why };
        let Some(slot) = self.sources.get(name) else { return SyncOutcome::failed(failure, 0) };
        let before = lock(&slot.state).clone();
        // Status is written only under the source's lease, as by a sync.
        let outcome = match self.store.try_lease(name).await {
            Ok(Some(lease)) => {
                let outcome = self.finish(slot, &before, Err(failure), Persist::Yes).await;
                if let Err(e) = lease.release().await {
                    tracing::warn!(source.name = %name, error = %e, "cannot release the sync lease");
                }
                outcome
            }
            _ => self.finish(slot, &before, Err(failure), Persist::No).await,
        };
        self.report(name, &outcome, started);
        outcome
    }

    /// Syncs one source now. Returns [`SyncOutcome::Busy`] when a sync of it is already running.
    pub async fn sync(&self, name: &SourceName) -> SyncOutcome {
        let Some(slot) = self.sources.get(name) else {
            return SyncOutcome::failed(SyncFailure::UnknownSource { name: name.to_string() }, 0);
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
        self.events.sync_started(&span);
        let started = Instant::now();
        let outcome = self.sync_with_lease(slot).instrument(span.clone()).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        span.record("sync.outcome", outcome.label());
        if let Some(servers) = self.report(name, &outcome, started) {
            span.record("sync.servers", servers);
        }
        let _entered = span.enter();
        match &outcome {
            SyncOutcome::Updated { servers } => {
                tracing::info!(source.name = %name, servers, duration_ms, "source synced");
            }
            SyncOutcome::Unchanged => tracing::debug!(source.name = %name, duration_ms, "source unchanged"),
            SyncOutcome::Failed { failure, message } => {
                let reason = failure.reason();
                tracing::warn!(source.name = %name, duration_ms, reason, error = %message, "source sync failed");
            }
            SyncOutcome::Elsewhere => {
                tracing::debug!(source.name = %name, "another process is syncing this source");
            }
            SyncOutcome::Busy => {}
        }
        outcome
    }

    /// Reports a finished run to the listeners; returns the servers the source provides now.
    fn report(&self, name: &SourceName, outcome: &SyncOutcome, started: Instant) -> Option<usize> {
        let servers = self.source_status(name).map(|(status, _)| status.server_count);
        self.events.sync_finished(&SyncReport {
            source: name,
            outcome,
            servers,
            elapsed: started.elapsed(),
            finished_at: self.clock.now(),
        });
        servers
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
                self.finish(slot, &before, Err(SyncFailure::Lease { error: e.to_string() }), Persist::No).await
            }
        }
    }

    /// With the lease held: catch up with what other processes stored, then sync.
    async fn sync_leased(&self, slot: &SourceSlot) -> SyncOutcome {
        let caught_up = self.refresh_slot(slot).await;
        let before = lock(&slot.state).clone();
        let found = match caught_up {
            Ok(_) => self.fetch_and_accept(slot, &before).await,
            Err(e) => Err(SyncFailure::ReadState { error: e.to_string() }),
        };
        self.finish(slot, &before, found, Persist::Yes).await
    }

    /// The steps of a run up to the decision: record the start, fetch (within
    /// `syncPolicy.timeout`), and let the accept-or-refuse rule decide on the documents.
    async fn fetch_and_accept(&self, slot: &SourceSlot, before: &SourceRuntime) -> Result<Found, SyncFailure> {
        let name = &slot.config.name;
        let now = self.clock.now();
        let mut attempt = before.status.clone();
        attempt.phase = SyncPhase::Syncing;
        attempt.last_attempt = Some(now);
        if let Err(e) = self.store.write_status(name, &attempt).await {
            self.store_failed(&e);
            return Err(SyncFailure::RecordStart { error: e.to_string() });
        }
        lock(&slot.state).status = attempt;

        let digest = slot.config.digest();
        let config_changed = before.status.config_digest.as_deref() != Some(digest.as_str());
        let since = if config_changed { None } else { before.status.revision.as_ref() };
        // A managed source has nothing to fetch: its run only caught up with the store.
        let Some(adapter) = &slot.adapter else { return Ok(Found::Unchanged) };
        let location = || adapter.describe();
        let (revision, documents, complete) =
            match tokio::time::timeout(slot.config.timeout, adapter.fetch(since)).await {
                Ok(Ok(Fetched::Unchanged)) => return Ok(Found::Unchanged),
                Ok(Ok(Fetched::Documents { revision, documents, complete })) => (revision, documents, complete),
                Ok(Err(e)) => return Err(SyncFailure::Fetch { location: location(), error: e.to_string() }),
                Err(_) => return Err(SyncFailure::Timeout { location: location(), limit: slot.config.timeout }),
            };

        let policy = AcceptPolicy {
            filter: &slot.config.filter,
            max_invalid_ratio: slot.config.max_invalid_ratio,
            retention: chrono::Duration::from_std(slot.config.tombstone_retention).unwrap_or(chrono::Duration::MAX),
        };
        let coverage = if complete { Coverage::Complete } else { Coverage::Delta };
        // Parsed off the async workers (a file is read as it is parsed); each document is
        // dropped once parsed, before the next entries are computed, so a large catalogue is not
        // held twice (its text and its entries).
        let format = slot.config.format;
        let parsed = tokio::task::spawn_blocking(move || {
            documents.into_iter().map(|doc| read_document(&doc, format)).collect::<Vec<_>>()
        })
        .await
        .map_err(|e| SyncFailure::Unusable {
            location: location(),
            error: FormatError::Read(format!("parsing stopped: {e}")),
        })?;
        let accepted = accept(name, &before.entries, parsed, &policy, now, coverage)
            .map_err(|refusal| SyncFailure::refused(location(), refusal))?;
        let status = SyncStatus {
            phase: SyncPhase::Synced,
            last_attempt: Some(now),
            last_sync_time: Some(now),
            attempt_count: 0,
            server_count: accepted.server_count,
            revision: Some(revision),
            message: accepted.message(),
            config_digest: Some(digest),
        };
        Ok(Found::Updated { entries: Arc::new(accepted.entries), status })
    }

    /// The one exit of a run: stores what it found, or records why it failed (in the store too
    /// when `persist`; a run that found data always holds the lease), then publishes it. New
    /// entries are served first, then the status: whoever sees the new status (readiness,
    /// management API) also sees the new snapshots.
    async fn finish(
        &self,
        slot: &SourceSlot,
        before: &SourceRuntime,
        found: Result<Found, SyncFailure>,
        persist: Persist,
    ) -> SyncOutcome {
        let name = &slot.config.name;
        let stored = match found {
            Ok(Found::Updated { entries, status }) => match self.store.replace(name, &entries, &status).await {
                Ok(()) => {
                    self.store_ok();
                    Ok((Some(entries), status))
                }
                Err(e) => {
                    self.store_failed(&e);
                    Err(SyncFailure::StoreData { error: e.to_string() })
                }
            },
            Ok(Found::Unchanged) => {
                let status = Self::unchanged_status(slot, before, self.clock.now());
                match self.store.write_status(name, &status).await {
                    Ok(()) => Ok((None, status)),
                    Err(e) => {
                        self.store_failed(&e);
                        Err(SyncFailure::RecordResult { error: e.to_string() })
                    }
                }
            }
            Err(failure) => Err(failure),
        };
        match stored {
            Ok((Some(entries), status)) => {
                let servers = status.server_count;
                lock(&slot.state).entries = entries;
                self.rebuild_for(name);
                settle(slot, status);
                SyncOutcome::Updated { servers }
            }
            Ok((None, status)) => {
                settle(slot, status);
                SyncOutcome::Unchanged
            }
            Err(failure) => {
                let message = failure.message(live_servers(&before.entries));
                let mut status = before.status.clone();
                status.phase = SyncPhase::Failed;
                status.last_attempt = Some(Self::attempt_start(slot, self.clock.now()));
                status.attempt_count = status.attempt_count.saturating_add(1);
                status.message = Some(message.clone());
                if persist == Persist::Yes
                    && let Err(e) = self.store.write_status(name, &status).await
                {
                    self.store_failed(&e);
                    tracing::error!(source.name = %name, error = %e, "cannot record a failed sync");
                }
                settle(slot, status);
                SyncOutcome::Failed { failure, message }
            }
        }
    }

    /// The status of a run whose data did not change.
    fn unchanged_status(slot: &SourceSlot, before: &SourceRuntime, now: chrono::DateTime<chrono::Utc>) -> SyncStatus {
        let mut status = before.status.clone();
        status.phase = SyncPhase::Synced;
        status.last_attempt = Some(Self::attempt_start(slot, now));
        status.last_sync_time = Some(now);
        status.attempt_count = 0;
        if before.status.phase != SyncPhase::Synced {
            status.message = None;
        }
        status
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
}

/// Whether a failure is written to the store too, or kept in memory (when this process does not
/// hold the source's lease, it must not write the source's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    Yes,
    No,
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

/// Parses one fetched document: from memory when it is held there, else as it is read.
fn read_document(doc: &Document, format: DataFormat) -> Result<ParsedDocument, FormatError> {
    match doc.in_memory() {
        Some(bytes) => parse_document(bytes, format),
        None => parse_stream(|| doc.reader(), format),
    }
}
