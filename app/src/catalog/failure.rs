//! Why a sync failed, as a type: each way a run can fail is a variant whose `Display` is the
//! message the source's status shows, and whose [`SyncFailure::reason`] labels metrics.
//!
//! Adding a failure: add a variant with its message and give it a reason (an existing one when
//! an operator would act the same way, e.g. every store write is `store`).

use std::time::Duration;

use thv_domain::accept::Refusal;
use thv_domain::format::FormatError;
use thv_domain::spec::format_duration;

/// Why a sync run failed (the previous data is still served).
///
/// Errors of the adapters are kept as their messages: an outcome is cloned and compared, and the
/// variant, not the adapter's error type, is what callers decide on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncFailure {
    /// The catalogue has no source of that name.
    #[error("no source is named `{name}`")]
    UnknownSource { name: String },
    /// The source's lease cannot be taken (the store cannot be reached).
    #[error("cannot take the sync lease: {error}")]
    Lease { error: String },
    /// What other processes stored cannot be read before syncing.
    #[error("cannot read the stored state: {error}")]
    ReadState { error: String },
    /// The start of the attempt cannot be written to the store.
    #[error("cannot record the sync start: {error}")]
    RecordStart { error: String },
    /// The adapter could not fetch the data.
    #[error("fetch from {location} failed: {error}")]
    Fetch { location: String, error: String },
    /// The fetch took longer than `syncPolicy.timeout`.
    #[error("fetch from {location} timed out after {} (syncPolicy.timeout)", limit_text(.limit))]
    Timeout { location: String, limit: Duration },
    /// A fetched document cannot be read at all.
    #[error("data from {location} is unusable: {error}")]
    Unusable { location: String, error: FormatError },
    /// A complete fetch holds no servers while `previous` were served.
    #[error("{location} returned no servers{}; keeping the previous {previous}", why(.skipped.as_deref()))]
    Emptied { location: String, previous: usize, skipped: Option<String> },
    /// More than `syncPolicy.maxInvalidRatio` of a complete fetch's items are invalid.
    #[error(
        "{location}: {invalid} of {items} entries are invalid{}, more than syncPolicy.maxInvalidRatio ({max}) allows; keeping the previous {previous}",
        why(.skipped.as_deref())
    )]
    MostlyInvalid { location: String, invalid: usize, items: usize, max: f64, previous: usize, skipped: Option<String> },
    /// The accepted data cannot be written to the store.
    #[error("cannot store the new data: {error}")]
    StoreData { error: String },
    /// An unchanged fetch's status cannot be written to the store.
    #[error("cannot record the sync result: {error}")]
    RecordResult { error: String },
    /// The run panicked (a bug in an adapter or a parser).
    #[error("the sync stopped on an internal error ({why}); it is retried with backoff")]
    Panic { why: String },
}

fn limit_text(limit: &Duration) -> String {
    format_duration(*limit)
}

fn why(skipped: Option<&str>) -> String {
    skipped.map_or(String::new(), |s| format!(" ({s})"))
}

impl SyncFailure {
    /// A refusal of the accept-or-refuse rule, for data read from `location`.
    pub fn refused(location: String, refusal: Refusal) -> Self {
        match refusal {
            Refusal::Unusable(error) => Self::Unusable { location, error },
            Refusal::Emptied { previous, skipped } => Self::Emptied { location, previous, skipped },
            Refusal::MostlyInvalid { invalid, items, max, previous, skipped } => {
                Self::MostlyInvalid { location, invalid, items, max, previous, skipped }
            }
        }
    }

    /// A short label for metrics: `fetch`, `timeout`, `unusable`, `emptied`, `invalid`,
    /// `store`, `lease`, `panic` or `unknown_source`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownSource { .. } => "unknown_source",
            Self::Lease { .. } => "lease",
            Self::ReadState { .. } | Self::RecordStart { .. } | Self::StoreData { .. } | Self::RecordResult { .. } => {
                "store"
            }
            Self::Fetch { .. } => "fetch",
            Self::Timeout { .. } => "timeout",
            Self::Unusable { .. } => "unusable",
            Self::Emptied { .. } => "emptied",
            Self::MostlyInvalid { .. } => "invalid",
            Self::Panic { .. } => "panic",
        }
    }

    /// The status message when `serving` servers are still served: the failure, and that the
    /// previous data is served unless the failure says so already.
    pub fn message(&self, serving: usize) -> String {
        let says_kept = matches!(self, Self::Emptied { .. } | Self::MostlyInvalid { .. });
        if serving > 0 && !says_kept {
            format!("{self}; serving the previous {serving} servers")
        } else {
            self.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_reasons() {
        let loc = || "file data/servers.json".to_owned();
        let cases = [
            (SyncFailure::UnknownSource { name: "x".into() }, 0, "no source is named `x`", "unknown_source"),
            (
                SyncFailure::Lease { error: "down".into() },
                2,
                "cannot take the sync lease: down; serving the previous 2 servers",
                "lease",
            ),
            (SyncFailure::ReadState { error: "down".into() }, 0, "cannot read the stored state: down", "store"),
            (SyncFailure::RecordStart { error: "down".into() }, 0, "cannot record the sync start: down", "store"),
            (
                SyncFailure::Fetch { location: loc(), error: "gone".into() },
                1,
                "fetch from file data/servers.json failed: gone; serving the previous 1 servers",
                "fetch",
            ),
            (
                SyncFailure::Timeout { location: loc(), limit: Duration::from_millis(300) },
                0,
                "fetch from file data/servers.json timed out after 300ms (syncPolicy.timeout)",
                "timeout",
            ),
            (
                SyncFailure::refused(loc(), Refusal::Unusable(FormatError::Empty)),
                0,
                "data from file data/servers.json is unusable: document is empty",
                "unusable",
            ),
            (
                SyncFailure::refused(loc(), Refusal::Emptied { previous: 3, skipped: None }),
                3,
                "file data/servers.json returned no servers; keeping the previous 3",
                "emptied",
            ),
            (
                SyncFailure::refused(
                    loc(),
                    Refusal::Emptied { previous: 3, skipped: Some("1 item(s) skipped".into()) },
                ),
                3,
                "file data/servers.json returned no servers (1 item(s) skipped); keeping the previous 3",
                "emptied",
            ),
            (
                SyncFailure::refused(
                    loc(),
                    Refusal::MostlyInvalid {
                        invalid: 9,
                        items: 10,
                        max: 0.5,
                        previous: 10,
                        skipped: Some("9 item(s) skipped".into()),
                    },
                ),
                10,
                "file data/servers.json: 9 of 10 entries are invalid (9 item(s) skipped), more than syncPolicy.maxInvalidRatio (0.5) allows; keeping the previous 10",
                "invalid",
            ),
            (SyncFailure::StoreData { error: "full".into() }, 0, "cannot store the new data: full", "store"),
            (SyncFailure::RecordResult { error: "full".into() }, 0, "cannot record the sync result: full", "store"),
            (
                SyncFailure::Panic { why: "boom".into() },
                0,
                "the sync stopped on an internal error (boom); it is retried with backoff",
                "panic",
            ),
        ];
        for (failure, serving, message, reason) in cases {
            assert_eq!(failure.message(serving), message);
            assert_eq!(failure.reason(), reason, "{message}");
        }
    }
}
