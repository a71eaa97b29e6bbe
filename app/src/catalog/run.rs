//! One sync run of one source: fetch → parse → filter → the accept-or-refuse rules → reconcile
//! → store → rebuild the registries' snapshots, under the source's lease; and the supervision
//! that turns a panic in a run into a failed attempt.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use thv_domain::format::{ParsedServer, parse_document};
use thv_domain::reconcile::{Coverage, reconcile};
use thv_domain::{SourceName, SyncPhase, SyncStatus};
use thv_ports::Fetched;
use tracing::Instrument as _;

use super::slot::{Running, SourceRuntime, SourceSlot, settle};
use super::{Catalog, SyncReport, live_servers, lock};

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

impl SyncOutcome {
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
}

impl Catalog {
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
        self.events.sync_started(&span);
        let started = Instant::now();
        let outcome = self.sync_with_lease(slot).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        span.record("sync.outcome", outcome.label());
        let servers = self.source_status(name).map(|(status, _)| status.server_count);
        if let Some(servers) = servers {
            span.record("sync.servers", servers);
        }
        self.events.sync_finished(&SyncReport {
            source: name,
            outcome: &outcome,
            servers,
            elapsed,
            finished_at: self.clock.now(),
        });
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
                let limit = thv_domain::spec::format_duration(slot.config.timeout);
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
