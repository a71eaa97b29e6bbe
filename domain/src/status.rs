//! Sync status of a source, as persisted and reported by the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An opaque revision of a source's data (a git commit, an ETag, a content hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub String);

/// Where a source's sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncPhase {
    /// Never synced yet.
    Pending,
    /// A sync is running.
    Syncing,
    /// The last sync succeeded (data replaced, or found unchanged).
    Synced,
    /// The last sync failed; the previous data, if any, is still served.
    Failed,
    /// A sync was cut off (the process stopped while it ran); the previous data is still served.
    Interrupted,
}

/// The persisted sync status of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncStatus {
    pub phase: SyncPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<DateTime<Utc>>,
    /// Consecutive failed attempts since the last success (0 after a success).
    pub attempt_count: u32,
    pub server_count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Digest of the source's configuration the stored data was produced with; a different
    /// configuration forces a full re-read even when the data's revision did not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
}

impl SyncStatus {
    pub fn pending() -> Self {
        Self {
            phase: SyncPhase::Pending,
            last_attempt: None,
            last_sync_time: None,
            attempt_count: 0,
            server_count: 0,
            revision: None,
            message: None,
            config_digest: None,
        }
    }
}
