//! What stops a fetch: the caller giving up (its future dropped by a sync timeout), or the pack
//! growing past the source's byte bound.
//!
//! gix checks an `&AtomicBool` between reads and while indexing a pack; the HTTP transport
//! ([`super::transport`]) also waits on [`Stop::stopped`], so a read that is blocked on a silent
//! server ends as soon as the flag is set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use gix::odb::pack::bundle::write::ProgressId;
use gix::progress::{Count, Id, MessageLevel, NestedProgress, Progress, Step, StepShared, UNKNOWN, Unit};
use tokio::sync::Notify;

/// Set when a fetch must stop; blocking gix work and the HTTP transport both look at it.
#[derive(Debug, Default)]
pub(super) struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub(super) fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(super) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag gix's `should_interrupt` parameters take.
    pub(super) fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Completes once [`Stop::set`] was called (at once if it already was).
    pub(super) async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `set` in between still wakes us.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// Sets its [`Stop`] when dropped. The async `fetch` holds one, so when a sync timeout drops
/// the future, the blocking work it started stops too instead of running on unobserved.
#[derive(Debug)]
pub(super) struct StopOnDrop(pub(super) Arc<Stop>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// The bytes one sync may receive in packs, and whether they ran out.
#[derive(Debug)]
struct Budget {
    limit: u64,
    received: AtomicU64,
    exceeded: AtomicBool,
    stop: Arc<Stop>,
}

/// A gix progress tree that counts the bytes of received packs (the `read pack` counter of
/// `gix_pack`) and stops the fetch when they pass the limit. Everything else is discarded.
#[derive(Debug, Clone)]
pub(super) struct PackBudget {
    budget: Arc<Budget>,
    id: Id,
    counter: StepShared,
}

impl PackBudget {
    pub(super) fn new(limit: u64, stop: Arc<Stop>) -> Self {
        let budget = Budget { limit, received: AtomicU64::new(0), exceeded: AtomicBool::new(false), stop };
        Self { budget: Arc::new(budget), id: UNKNOWN, counter: StepShared::default() }
    }

    pub(super) fn limit(&self) -> u64 {
        self.budget.limit
    }

    /// Whether a fetch stopped because its pack was too large.
    pub(super) fn exceeded(&self) -> bool {
        self.budget.exceeded.load(Ordering::SeqCst)
    }

    fn counts_pack_bytes(&self) -> bool {
        self.id == Id::from(ProgressId::ReadPackBytes)
    }

    fn received(&self, bytes: usize) {
        let budget = &self.budget;
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let total = budget.received.fetch_add(bytes, Ordering::SeqCst).saturating_add(bytes);
        if total > budget.limit && !budget.exceeded.swap(true, Ordering::SeqCst) {
            budget.stop.set();
        }
    }

    fn child(&self, id: Id) -> Self {
        Self { budget: Arc::clone(&self.budget), id, counter: StepShared::default() }
    }
}

impl Count for PackBudget {
    fn set(&self, step: Step) {
        let previous = self.counter.swap(step, Ordering::SeqCst);
        if self.counts_pack_bytes() && step > previous {
            self.received(step - previous);
        }
    }

    fn step(&self) -> Step {
        self.counter.load(Ordering::SeqCst)
    }

    fn inc_by(&self, step: Step) {
        self.counter.fetch_add(step, Ordering::SeqCst);
        if self.counts_pack_bytes() {
            self.received(step);
        }
    }

    fn counter(&self) -> StepShared {
        Arc::<AtomicUsize>::clone(&self.counter)
    }
}

impl Progress for PackBudget {
    fn init(&mut self, _max: Option<Step>, _unit: Option<Unit>) {}

    fn set_name(&mut self, _name: String) {}

    fn name(&self) -> Option<String> {
        None
    }

    fn id(&self) -> Id {
        self.id
    }

    fn message(&self, _level: MessageLevel, _message: String) {}
}

impl NestedProgress for PackBudget {
    type SubProgress = Self;

    fn add_child(&mut self, _name: impl Into<String>) -> Self {
        self.child(UNKNOWN)
    }

    fn add_child_with_id(&mut self, _name: impl Into<String>, id: Id) -> Self {
        self.child(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pack_bytes_count_and_passing_the_limit_stops_the_fetch() {
        let stop = Arc::new(Stop::default());
        let mut root = PackBudget::new(100, Arc::clone(&stop));
        let objects = root.add_child("objects");
        objects.inc_by(1000);
        let pack = root.add_child("receive").add_child_with_id("read pack", ProgressId::ReadPackBytes.into());
        pack.inc_by(60);
        pack.set(100);
        assert!(!root.exceeded() && !stop.is_set(), "100 bytes are within a limit of 100");
        pack.inc_by(1);
        assert!(root.exceeded() && stop.is_set());
    }

    #[tokio::test]
    async fn stopped_completes_for_a_stop_set_before_or_while_waiting() {
        let stop = Arc::new(Stop::default());
        let waiter = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move { stop.stopped().await }
        });
        drop(StopOnDrop(Arc::clone(&stop)));
        waiter.await.unwrap();
        stop.stopped().await;
        assert!(stop.flag().load(Ordering::SeqCst));
    }
}
