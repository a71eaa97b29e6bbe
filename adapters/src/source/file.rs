//! A source that reads a catalogue from a local file.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use thv_domain::Revision;
use thv_ports::{Document, Fetched, Source, SourceError};

/// Default upper bound on a file's size: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Reads one local file; its revision is the SHA-256 of its bytes, so an unchanged file is a
/// cheap no-op for the sync. The file is handed over open, and parsed as it is read.
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
        let (path, max_bytes, since) = (self.path.clone(), self.max_bytes, since.cloned());
        tokio::task::spawn_blocking(move || fetch_file(&path, max_bytes, since.as_ref()))
            .await
            .unwrap_or_else(|e| Err(SourceError::Internal(format!("reading the file stopped: {e}"))))
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Opens the file, hashes it a chunk at a time and, when it changed, hands over the open file:
/// it is parsed as it is read again, so a large file is never held in memory whole. Hash and
/// parse read the same open file (a file replaced by a rename in between is not mixed in).
fn fetch_file(path: &Path, max_bytes: u64, since: Option<&Revision>) -> Result<Fetched, SourceError> {
    let shown = path.display();
    let unreadable = |e: std::io::Error| SourceError::Unavailable(format!("cannot read file {shown}: {e}"));
    let mut file = File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => SourceError::NotFound(format!("file {shown} does not exist")),
        _ => unreadable(e),
    })?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(SourceError::NotFound(format!("{shown} is not a regular file")));
    }
    if meta.len() > max_bytes {
        return Err(SourceError::TooLarge(format!(
            "file {shown} is {} bytes, more than the limit of {max_bytes} bytes",
            meta.len()
        )));
    }
    let revision = digest_of(&mut file).map_err(unreadable)?;
    if since == Some(&revision) {
        return Ok(Fetched::Unchanged);
    }
    Ok(Fetched::Documents { revision, documents: vec![Document::from_file(file, max_bytes)], complete: true })
}

/// A file's revision: `sha256:` and the hex digest of its bytes.
fn revision_of(digest: impl AsRef<[u8]>) -> Revision {
    Revision(format!("sha256:{}", hex::encode(digest)))
}

/// The revision of what `reader` gives, read in chunks.
fn digest_of(reader: &mut impl Read) -> std::io::Result<Revision> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; 256 * 1024];
    loop {
        match reader.read(&mut chunk) {
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
        assert_eq!(contents(documents), vec![b"[]".to_vec()]);
        assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));
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
        assert_eq!(digest_of(&mut File::open(&path).unwrap()).unwrap(), revision);
        assert_eq!(revision, revision_of(Sha256::digest(&body)));
        assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));
        let mut changed = body.clone();
        changed[699_999] = b'x';
        std::fs::write(&path, &changed).unwrap();
        let Fetched::Documents { revision: next, documents, .. } = src.fetch(Some(&revision)).await.unwrap() else {
            panic!("expected data")
        };
        assert_ne!(next, revision);
        assert_eq!(contents(documents), vec![changed]);
    }

    fn contents(documents: Vec<Document>) -> Vec<Vec<u8>> {
        documents.into_iter().map(|d| d.into_bytes().unwrap().to_vec()).collect()
    }

    #[tokio::test]
    async fn a_handed_over_file_reads_from_its_start_each_time_and_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"[1, 2]").unwrap();
        let Fetched::Documents { mut documents, .. } =
            FileSource::new(&path).with_max_bytes(6).fetch(None).await.unwrap()
        else {
            panic!("expected data")
        };
        let doc = documents.remove(0);
        assert!(doc.in_memory().is_none());
        for _ in 0..2 {
            let mut text = String::new();
            doc.reader().unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, "[1, 2]");
        }
        // Grown past the limit after the fetch: reading it fails rather than reading on.
        std::fs::write(&path, b"[1, 2, 3]").unwrap();
        let err = doc.into_bytes().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FileTooLarge, "{err}");
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
