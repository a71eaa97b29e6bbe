//! A source that reads a catalogue from a local file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use thv_domain::Revision;
use thv_ports::{Fetched, Source, SourceError};

/// Default upper bound on a file's size: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Reads one local file; its revision is the SHA-256 of its bytes, so an unchanged file is a
/// cheap no-op for the sync.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    max_bytes: u64,
}

impl FileSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), max_bytes: DEFAULT_MAX_BYTES }
    }

    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Source for FileSource {
    async fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError> {
        let shown = self.path.display();
        let meta = tokio::fs::metadata(&self.path).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => SourceError::NotFound(format!("file {shown} does not exist")),
            _ => SourceError::Unavailable(format!("cannot read file {shown}: {e}")),
        })?;
        if !meta.is_file() {
            return Err(SourceError::NotFound(format!("{shown} is not a regular file")));
        }
        if meta.len() > self.max_bytes {
            return Err(SourceError::TooLarge(format!(
                "file {shown} is {} bytes, more than the limit of {} bytes",
                meta.len(),
                self.max_bytes
            )));
        }
        let unreadable = |e: std::io::Error| SourceError::Unavailable(format!("cannot read file {shown}: {e}"));
        // With a revision to compare with, the file is hashed as it is read, a chunk at a time:
        // an unchanged file (every periodic sync of a file that did not move) is never held
        // in memory whole.
        if let Some(since) = since {
            let path = self.path.clone();
            let streamed = tokio::task::spawn_blocking(move || digest_of_file(&path))
                .await
                .map_err(std::io::Error::other)
                .flatten()
                .map_err(unreadable)?;
            if streamed == *since {
                return Ok(Fetched::Unchanged);
            }
        }
        let bytes = tokio::fs::read(&self.path).await.map_err(unreadable)?;
        // The revision of the bytes read, even if the file changed again since it was hashed.
        let revision = revision_of(Sha256::digest(&bytes));
        if since == Some(&revision) {
            return Ok(Fetched::Unchanged);
        }
        Ok(Fetched::Documents { revision, documents: vec![Bytes::from(bytes)], complete: true })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// A file's revision: `sha256:` and the hex digest of its bytes.
fn revision_of(digest: impl AsRef<[u8]>) -> Revision {
    Revision(format!("sha256:{}", hex::encode(digest)))
}

/// The revision of a file, read in chunks.
fn digest_of_file(path: &Path) -> std::io::Result<Revision> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; 256 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(revision_of(hasher.finalize())),
            Ok(n) => hasher.update(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unchanged_file_is_a_no_op_and_changes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"[]").unwrap();
        let src = FileSource::new(&path);
        let Fetched::Documents { revision, documents, .. } = src.fetch(None).await.unwrap() else {
            panic!("expected data")
        };
        assert_eq!(documents, vec![Bytes::from_static(b"[]")]);
        assert_eq!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged);
        std::fs::write(&path, b"[ ]").unwrap();
        assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Documents { .. }));
    }

    #[tokio::test]
    async fn a_file_hashed_in_chunks_has_the_revision_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        // Several chunks and a partial one.
        let body: Vec<u8> = (0..700_000u32).map(|i| b"[ ]"[(i % 3) as usize]).collect();
        std::fs::write(&path, &body).unwrap();
        let src = FileSource::new(&path);
        let Fetched::Documents { revision, .. } = src.fetch(None).await.unwrap() else { panic!("expected data") };
        assert_eq!(digest_of_file(&path).unwrap(), revision);
        assert_eq!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged);
        let mut changed = body.clone();
        changed[699_999] = b'x';
        std::fs::write(&path, &changed).unwrap();
        let Fetched::Documents { revision: next, documents, .. } = src.fetch(Some(&revision)).await.unwrap() else {
            panic!("expected data")
        };
        assert_ne!(next, revision);
        assert_eq!(documents, vec![Bytes::from(changed)]);
    }

    #[tokio::test]
    async fn missing_directory_and_oversized_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileSource::new(dir.path().join("nope.json")).fetch(None).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::NotFound(m) if m.contains("nope.json") && m.contains("does not exist")),
            "{err}"
        );
        let err = FileSource::new(dir.path()).fetch(None).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound(m) if m.contains("not a regular file")));
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; 100]).unwrap();
        let err = FileSource::new(&path).with_max_bytes(10).fetch(None).await.unwrap_err();
        assert!(matches!(err, SourceError::TooLarge(_)));
    }
}
