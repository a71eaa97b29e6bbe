//! Where a catalogue comes from: a file, a git repository, another registry's API.

use async_trait::async_trait;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use bytes::Bytes;
use thv_domain::Revision;

/// The result of a fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The data did not change since the revision passed to [`Source::fetch`]: nothing to parse.
    Unchanged,
    /// New data: one or more documents (an API source returns one per page) and their revision.
    Documents {
        revision: Revision,
        documents: Vec<Document>,
        /// `true` when the documents hold the whole catalogue (a version absent from them was
        /// removed); `false` for an incremental fetch that holds only what changed since the
        /// revision passed in (absent versions are untouched).
        complete: bool,
    },
}

/// One fetched document: bytes in memory, or a local file that is read a piece at a time when it
/// is parsed (a large catalogue file is then never held whole).
#[derive(Debug)]
pub struct Document(Body);

#[derive(Debug)]
enum Body {
    Bytes(Bytes),
    File { file: File, limit: u64 },
}

impl Document {
    /// A document held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self(Body::Bytes(bytes.into()))
    }

    /// A document in an open file, read from its start each time [`Document::reader`] is called;
    /// reading more than `limit` bytes is an error (the file grew past the source's bound).
    pub fn from_file(file: File, limit: u64) -> Self {
        Self(Body::File { file, limit })
    }

    /// The bytes, when the document is held in memory.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.0 {
            Body::Bytes(bytes) => Some(bytes),
            Body::File { .. } => None,
        }
    }

    /// A reader of the document from its start. Blocking for a file.
    ///
    /// # Errors
    /// The file cannot be rewound.
    pub fn reader(&self) -> io::Result<Box<dyn BufRead + Send + '_>> {
        match &self.0 {
            Body::Bytes(bytes) => Ok(Box::new(&bytes[..])),
            Body::File { file, limit } => {
                let mut file = file;
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(BufReader::with_capacity(READ_CHUNK, Limited { inner: file, left: *limit })))
            }
        }
    }

    /// The whole document in memory. Blocking for a file.
    ///
    /// # Errors
    /// The file cannot be read, or is larger than its limit.
    pub fn into_bytes(self) -> io::Result<Bytes> {
        if let Body::Bytes(bytes) = self.0 {
            return Ok(bytes);
        }
        let mut all = Vec::new();
        self.reader()?.read_to_end(&mut all)?;
        Ok(Bytes::from(all))
    }
}

impl From<Bytes> for Document {
    fn from(bytes: Bytes) -> Self {
        Self::from_bytes(bytes)
    }
}

/// How much of a file is read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// A reader that fails once it has given `left` bytes and there is more.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed is asked for, to tell "exactly the limit" from "more".
        let most = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..most])?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "the file grew past its size limit while read"));
        }
        self.left -= n as u64;
        Ok(n)
    }
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
