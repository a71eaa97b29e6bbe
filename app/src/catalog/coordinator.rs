//! The sync coordinator: one task per source, each on its own interval with jitter, retrying
//! failures with capped exponential backoff. One slow or failing source never delays another.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use thv_domain::SourceName;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::catalog::{Catalog, SyncOutcome};

/// First retry delay after a failure; doubles per consecutive failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest delay between retries, whatever the interval.
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Handles to the running sync tasks.
#[derive(Debug)]
pub struct Coordinator {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Coordinator {
    /// Starts one task per synced source (managed sources are written, not synced). Each syncs at
    /// once, then on its interval.
    pub fn start(catalog: &Arc<Catalog>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        catalog.set_scheduled();
        let sources: Vec<(SourceName, Duration)> = catalog
            .sources()
            .filter(|s| s.adapter.is_some())
            .map(|s| (s.config.name.clone(), s.config.interval))
            .collect();
        for (name, interval) in sources {
            tasks.spawn(run_source(catalog.clone(), name, interval, stopped.clone()));
        }
        tasks.spawn(watch_changes(catalog.clone(), stopped));
        Self { tasks, stop }
    }

    /// Stops every task at its next safe point (between syncs, or while waiting) and waits.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn run_source(catalog: Arc<Catalog>, name: SourceName, interval: Duration, mut stopped: watch::Receiver<bool>) {
    let Some(slot) = catalog.source(&name) else { return };
    loop {
        if *stopped.borrow() {
            return;
        }
        let outcome = tokio::select! {
            outcome = catalog.sync_supervised(&name) => outcome,
            _ = stopped.changed() => return,
        };
        // Consecutive failures come from the status, so failed syncs requested through the API
        // count too.
        let failures = catalog.source_status(&name).map_or(0, |(s, _)| s.attempt_count);
        let backing_off = matches!(outcome, SyncOutcome::Failed { .. }) && failures > 0;
        let wait = if backing_off { backoff(failures, interval) } else { jitter(interval) };
        let until = tokio::time::Instant::now().checked_add(wait);
        loop {
            tokio::select! {
                () = sleep_until(until) => break,
                () = slot.trigger.notified() => {
                    // A sync asked for through the API starts now, unless the source is backing
                    // off after a failure: then it starts when the backoff ends.
                    if !backing_off {
                        break;
                    }
                }
                _ = stopped.changed() => return,
            }
        }
    }
}

/// Sleeps until `until`; forever when it is too far to represent.
async fn sleep_until(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How often every source is compared with the store, in case a change notification was lost.
const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// Follows changes other processes commit to the shared store (notifications, with a periodic
/// re-check as a fallback), so every process serves the same data.
async fn watch_changes(catalog: Arc<Catalog>, mut stopped: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        let mut feed = match catalog.subscribe().await {
            Ok(feed) => {
                if failures > 0 {
                    // Changes may have been missed while the feed was down.
                    let _ = catalog.refresh_all().await;
                }
                failures = 0;
                Some(feed)
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "cannot follow store changes; retrying");
                None
            }
        };
        loop {
            let wait = if feed.is_some() { RECHECK_EVERY } else { backoff(failures, RECHECK_EVERY) };
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(wait) => {
                    if let Err(e) = catalog.refresh_all().await {
                        tracing::warn!(error = %e, "cannot re-check the store");
                    }
                    if feed.is_none() {
                        break;
                    }
                }
                change = next_change(&mut feed) => match change {
                    Ok(name) => {
                        if let Err(e) = catalog.refresh(&name).await {
                            tracing::warn!(source.name = %name, error = %e, "cannot reload a changed source");
                        }
                    }
                    Err(e) => {
                        catalog.store_failed(&e);
                        tracing::warn!(error = %e, "lost the store's change feed; resubscribing");
                        failures = failures.saturating_add(1);
                        break;
                    }
                },
            }
        }
    }
}

async fn next_change(feed: &mut Option<Box<dyn thv_ports::ChangeFeed>>) -> Result<SourceName, thv_ports::StoreError> {
    match feed {
        Some(f) => f.next().await,
        None => std::future::pending().await,
    }
}

/// The interval ± 10% (the interval itself if that does not fit a `Duration`).
fn jitter(interval: Duration) -> Duration {
    let factor = rand::rng().random_range(0.9..=1.1);
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(interval)
}

/// 1s, 2s, 4s … after consecutive failures, never more than the interval or the cap.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    jitter(exp.min(interval).min(BACKOFF_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_by_the_interval() {
        let hour = Duration::from_secs(3600);
        let b = |n| backoff(n, hour).as_secs_f64();
        assert!((0.9..=1.1).contains(&b(1)));
        assert!((3.6..=4.4).contains(&b(3)));
        assert!(b(40) <= 330.0);
        assert!(backoff(5, Duration::from_millis(200)) <= Duration::from_millis(220));
    }

    #[test]
    fn jitter_of_the_longest_interval_does_not_overflow() {
        assert!(jitter(Duration::MAX) >= Duration::MAX.mul_f64(0.8));
        assert!(jitter(Duration::ZERO).is_zero());
    }
}
