//! Where a catalogue comes from: a file, a git repository, another registry's API.

use async_trait::async_trait;
use bytes::Bytes;
use thv_domain::Revision;

/// The result of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The data did not change since the revision passed to [`Source::fetch`]: nothing to parse.
    Unchanged,
    /// New data: one or more documents (an API source returns one per page) and their revision.
    Documents {
        revision: Revision,
        documents: Vec<Bytes>,
        /// `true` when the documents hold the whole catalogue (a version absent from them was
        /// removed); `false` for an incremental fetch that holds only what changed since the
        /// revision passed in (absent versions are untouched).
        complete: bool,
    },
}

/// Why a fetch failed. The message is shown in the sync status, so it must say what to fix and
/// never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The configured location does not exist (missing file, path, ref).
    #[error("not found: {0}")]
    NotFound(String),
    /// The location exists but could not be read (permissions, network, remote error).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The data is larger than the configured bound.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Anything else; a bug or an unexpected condition.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A source of server catalogue documents.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Fetches the current documents. When `since` is the revision of the current data and the
    /// source can tell cheaply that nothing changed, returns [`Fetched::Unchanged`].
    ///
    /// # Errors
    /// - [`SourceError::NotFound`] when the configured location does not exist;
    /// - [`SourceError::Unavailable`] when it cannot be read right now;
    /// - [`SourceError::TooLarge`] when it exceeds a configured bound;
    /// - [`SourceError::Internal`] for anything unexpected.
    async fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError>;

    /// A human description of where the data comes from (no secrets), for status and logs.
    fn describe(&self) -> String;
}
