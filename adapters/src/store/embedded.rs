//! The embedded store: a data directory, no database.
//!
//! Layout, one directory per source:
//! ```text
//! {dataDir}/sources/{source}/status.json         {"status": SyncStatus, "entriesFile": "entries-N.json"}
//! {dataDir}/sources/{source}/entries-N.json      [Entry, …], one entry per line
//! ```
//! Every file is written to a temporary name, fsynced, then renamed into place, and the directory
//! is fsynced; a directory the store creates (the data directory, `sources/`, a source's own) is
//! made durable the same way, by fsyncing its parent. `status.json` is the commit point of a replace: new entries are written to a new
//! `entries-N.json` first, and only the rename of `status.json` that points at it makes them
//! current. A crash at any moment leaves the old or the new state, never a mix; files left over
//! by a crash are removed at the next replace.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thv_domain::{Entry, Revision, ServerName, SourceName, SyncPhase, SyncStatus};
use thv_ports::{ChangeFeed, EntryStore, NameWrite, SourceLease, SourceState, StoreError};

const STATUS_FILE: &str = "status.json";

/// A data directory holding each source's last good entries and status.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    root: PathBuf,
    /// The entries of each managed source as last written, held by a managed write from its read
    /// to its commit (so two writes never interleave, and a write does not re-read the whole
    /// source from disk).
    managed: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<SourceName, Vec<Entry>>>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StatusFile {
    status: SyncStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entries_file: Option<String>,
}

fn unavailable(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
}

impl EmbeddedStore {
    /// Opens (creating if needed) a data directory.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let sources = root.join("sources");
        create_dir_durable(&sources).map_err(|e| unavailable("create data directory", &sources, &e))?;
        Ok(Self { root, managed: std::sync::Arc::default() })
    }

    fn dir(&self, source: &SourceName) -> PathBuf {
        self.root.join("sources").join(source.as_str())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Self) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    fn read_status_file(dir: &Path) -> Result<Option<StatusFile>, StoreError> {
        let path = dir.join(STATUS_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("open", &path, &e)),
        };
        serde_json::from_reader(BufReader::new(file))
            .map(Some)
            .map_err(|e| StoreError::Corrupt { source_name: dir_name(dir), detail: format!("{}: {e}", path.display()) })
    }

    fn load_sync(&self, source: &SourceName) -> Result<Option<SourceState>, StoreError> {
        let dir = self.dir(source);
        let Some(status_file) = Self::read_status_file(&dir)? else {
            return Ok(None);
        };
        let entries = match &status_file.entries_file {
            None => Vec::new(),
            Some(name) => {
                let path = dir.join(name);
                let corrupt = |detail: String| StoreError::Corrupt {
                    source_name: source.to_string(),
                    detail: format!("{}: {detail}", path.display()),
                };
                let file = File::open(&path).map_err(|e| corrupt(format!("cannot read: {e}")))?;
                let mut entries = read_entries(BufReader::with_capacity(256 * 1024, file)).map_err(corrupt)?;
                // One shared name for the source's entries rather than a copy per entry.
                for e in entries.iter_mut().filter(|e| e.source == *source) {
                    e.source = source.clone();
                }
                entries
            }
        };
        Ok(Some(SourceState { source: source.clone(), entries, status: status_file.status }))
    }

    fn replace_sync(&self, source: &SourceName, entries: &[Entry], status: &SyncStatus) -> Result<(), StoreError> {
        let dir = self.dir(source);
        create_dir_durable(&dir).map_err(|e| unavailable("create", &dir, &e))?;
        let previous = Self::read_status_file(&dir).ok().flatten().and_then(|s| s.entries_file);
        let next = next_entries_name(previous.as_deref());
        write_atomic(&dir, &next, |w| write_entries(w, entries))?;
        let status_file = StatusFile { status: status.clone(), entries_file: Some(next.clone()) };
        write_atomic(&dir, STATUS_FILE, |w| {
            serde_json::to_writer_pretty(w, &status_file).map_err(std::io::Error::other)
        })?;
        remove_stale(&dir, &next);
        Ok(())
    }

    /// A managed write: the source's entries with the name's versions replaced, committed like a
    /// replace (so a crash leaves the old or the new entries).
    fn write_name_sync(
        &self,
        source: &SourceName,
        name: &ServerName,
        expected: &[Entry],
        expected_revision: Option<&Revision>,
        next: &[Entry],
        status: &SyncStatus,
    ) -> Result<(), StoreError> {
        let mut managed = self.managed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The revision as on disk (a status written on its own may have changed it).
        let revision = Self::read_status_file(&self.dir(source))?.and_then(|f| f.status.revision);
        let mut entries = match managed.remove(source) {
            Some(entries) => entries,
            None => self.load_sync(source)?.map(|s| s.entries).unwrap_or_default(),
        };
        let write = NameWrite { source, name, expected, expected_revision, next, status };
        let before = entries.clone();
        let applied = super::apply_name_write(&mut entries, revision.as_ref(), &write)
            .and_then(|()| self.replace_sync(source, &entries, status));
        // What is on disk now: the new entries, or the old ones when the write failed.
        managed.insert(source.clone(), if applied.is_ok() { entries } else { before });
        applied
    }

    fn write_status_sync(&self, source: &SourceName, status: &SyncStatus) -> Result<(), StoreError> {
        let dir = self.dir(source);
        create_dir_durable(&dir).map_err(|e| unavailable("create", &dir, &e))?;
        let entries_file = match Self::read_status_file(&dir) {
            Ok(found) => found.and_then(|s| s.entries_file),
            // A corrupt status file loses its pointer; the entries are re-synced.
            Err(StoreError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        let status_file = StatusFile { status: status.clone(), entries_file };
        write_atomic(&dir, STATUS_FILE, |w| {
            serde_json::to_writer_pretty(w, &status_file).map_err(std::io::Error::other)
        })
    }
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Writes entries as a JSON array with one entry per line, so that they can be read back a line
/// at a time (a JSON text holds no raw newline outside its whitespace).
fn write_entries(w: &mut impl Write, entries: &[Entry]) -> std::io::Result<()> {
    w.write_all(b"[")?;
    for (i, entry) in entries.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, entry).map_err(std::io::Error::other)?;
    }
    w.write_all(b"\n]\n")
}

/// Reads what [`write_entries`] wrote, a line at a time: the peak is one entry's text, not the
/// file's. A file of one line (as written before entries went one per line) is read whole.
fn read_entries(mut reader: impl BufRead) -> Result<Vec<Entry>, String> {
    let unreadable = |e: std::io::Error| format!("cannot read: {e}");
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).map_err(unreadable)?;
    if line != b"[\n" {
        reader.read_to_end(&mut line).map_err(unreadable)?;
        return serde_json::from_slice(&line).map_err(|e| e.to_string());
    }
    let mut entries = Vec::new();
    for number in 2.. {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
            return Err("the file ends before the closing `]` of its entries".to_owned());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text == b"]" {
            break;
        }
        let text = text.strip_suffix(b",").unwrap_or(text);
        entries.push(serde_json::from_slice(text).map_err(|e| format!("line {number}: {e}"))?);
    }
    line.clear();
    reader.read_to_end(&mut line).map_err(unreadable)?;
    if !line.iter().all(u8::is_ascii_whitespace) {
        return Err("text after the closing `]` of its entries".to_owned());
    }
    Ok(entries)
}

/// `entries-N.json` with N one more than the previous file's.
fn next_entries_name(previous: Option<&str>) -> String {
    let n = previous.and_then(|p| p.strip_prefix("entries-")?.strip_suffix(".json")?.parse::<u64>().ok()).unwrap_or(0);
    format!("entries-{}.json", n + 1)
}

/// Removes entries files other than `keep` and temporary files left by a crash.
fn remove_stale(dir: &Path, keep: &str) {
    let Ok(items) = fs::read_dir(dir) else { return };
    for item in items.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        let stale = (name.starts_with("entries-") && name != keep)
            || (name.starts_with('.') && Path::new(&name).extension().is_some_and(|e| e == "tmp"));
        if stale && let Err(e) = fs::remove_file(item.path()) {
            tracing::warn!(path = %item.path().display(), error = %e, "cannot remove stale store file");
        }
    }
}

/// Creates `dir` and its missing ancestors, and fsyncs the parent of each directory it created,
/// so that a crash cannot lose the new directory entries (and with them the files written into
/// them). Returns the created directories, outermost first; none when `dir` existed.
fn create_dir_durable(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(candidate) = next.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        missing.push(candidate);
        next = candidate.parent();
    }
    let mut created = Vec::with_capacity(missing.len());
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {}
            // Made by someone else meanwhile: theirs to make durable.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => continue,
            Err(e) => return Err(e),
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
        created.push(dir.to_owned());
    }
    Ok(created)
}

/// Writes `name` in `dir` atomically: temp file, fsync, rename, fsync of the directory.
fn write_atomic(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        unavailable("write", &target, &e)
    })
}

#[async_trait]
impl EntryStore for EmbeddedStore {
    async fn load_all(&self) -> Result<Vec<SourceState>, StoreError> {
        self.blocking(|this| {
            let root = this.root.join("sources");
            let items = fs::read_dir(&root).map_err(|e| unavailable("read", &root, &e))?;
            let mut out = Vec::new();
            for item in items.flatten() {
                let raw = item.file_name().to_string_lossy().into_owned();
                let Ok(source) = SourceName::parse(&raw) else { continue };
                match this.load_sync(&source) {
                    Ok(Some(state)) => out.push(state),
                    Ok(None) => {}
                    Err(StoreError::Corrupt { detail, .. }) => {
                        let mut status = SyncStatus::pending();
                        status.phase = SyncPhase::Failed;
                        status.message = Some(format!("stored data could not be read and will be re-synced: {detail}"));
                        out.push(SourceState { source, entries: Vec::new(), status });
                    }
                    Err(e) => return Err(e),
                }
            }
            out.sort_by(|a, b| a.source.cmp(&b.source));
            Ok(out)
        })
        .await
    }

    async fn load(&self, source: &SourceName) -> Result<Option<SourceState>, StoreError> {
        let source = source.clone();
        self.blocking(move |this| this.load_sync(&source)).await
    }

    async fn load_status(&self, source: &SourceName) -> Result<Option<SyncStatus>, StoreError> {
        let dir = self.dir(source);
        self.blocking(move |_| Ok(Self::read_status_file(&dir)?.map(|f| f.status))).await
    }

    async fn replace(
        &self,
        source: &SourceName,
        entries: &Arc<Vec<Entry>>,
        status: &SyncStatus,
    ) -> Result<(), StoreError> {
        let (source, entries, status) = (source.clone(), Arc::clone(entries), status.clone());
        self.blocking(move |this| {
            // A replace is not a managed write: forget what managed writes remembered.
            this.managed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&source);
            this.replace_sync(&source, &entries, &status)
        })
        .await
    }

    async fn write_status(&self, source: &SourceName, status: &SyncStatus) -> Result<(), StoreError> {
        let (source, status) = (source.clone(), status.clone());
        self.blocking(move |this| this.write_status_sync(&source, &status)).await
    }

    async fn write_name(&self, write: NameWrite<'_>) -> Result<(), StoreError> {
        let (source, name) = (write.source.clone(), write.name.clone());
        let (expected, next, status) = (write.expected.to_vec(), write.next.to_vec(), write.status.clone());
        let revision = write.expected_revision.cloned();
        self.blocking(move |this| this.write_name_sync(&source, &name, &expected, revision.as_ref(), &next, &status))
            .await
    }

    /// One process owns a data directory, and it serialises syncs of a source itself: the lease
    /// is always granted.
    async fn try_lease(&self, _source: &SourceName) -> Result<Option<Box<dyn SourceLease>>, StoreError> {
        Ok(Some(Box::new(LocalLease)))
    }

    /// Nobody else writes this data directory: the feed never yields.
    async fn subscribe(&self) -> Result<Box<dyn ChangeFeed>, StoreError> {
        Ok(Box::new(NoChanges))
    }
}

/// The lease of a single-process store.
#[derive(Debug)]
pub(crate) struct LocalLease;

#[async_trait]
impl SourceLease for LocalLease {
    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The change feed of a single-process store: nothing ever arrives.
#[derive(Debug)]
pub(crate) struct NoChanges;

#[async_trait]
impl ChangeFeed for NoChanges {
    async fn next(&mut self) -> Result<SourceName, StoreError> {
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_directories_are_created_with_their_missing_ancestors() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let source = data.join("sources").join("one");
        assert_eq!(create_dir_durable(&source).unwrap(), [data.clone(), data.join("sources"), source.clone()]);
        assert!(source.is_dir());
        assert_eq!(create_dir_durable(&source).unwrap(), Vec::<PathBuf>::new(), "nothing to create");
        let other = data.join("sources").join("two");
        assert_eq!(create_dir_durable(&other).unwrap(), std::slice::from_ref(&other), "only the new source directory");
    }

    #[test]
    fn a_file_in_the_way_is_an_error_not_a_directory() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(create_dir_durable(&file.join("sources")).is_err());
        assert!(create_dir_durable(&file).is_err());
    }

    #[test]
    fn opening_a_new_data_directory_creates_it_durably() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("new").join("data");
        EmbeddedStore::open(&data).unwrap();
        assert!(data.join("sources").is_dir());
    }

    #[test]
    fn entries_file_names_count_up() {
        assert_eq!(next_entries_name(None), "entries-1.json");
        assert_eq!(next_entries_name(Some("entries-41.json")), "entries-42.json");
        assert_eq!(next_entries_name(Some("garbage")), "entries-1.json");
    }

    #[test]
    fn entries_are_written_a_line_each_and_read_back_a_line_at_a_time() {
        use thv_testkit::contract::store::entry;
        let entries = vec![entry("s", "io.x/a", "1.0.0"), entry("s", "io.x/a", "2.0.0"), entry("s", "io.x/b", "1")];
        for list in [&entries[..], &entries[..1], &[]] {
            let mut text = Vec::new();
            write_entries(&mut text, list).unwrap();
            // Still one JSON array, for anything that reads it whole.
            assert_eq!(serde_json::from_slice::<Vec<Entry>>(&text).unwrap(), list);
            assert_eq!(text.split(|&b| b == b'\n').count() - 1, list.len() + 2);
            // Read through a tiny buffer: lines longer than the buffer are whole.
            assert_eq!(read_entries(BufReader::with_capacity(5, &text[..])).unwrap(), list);
        }
        // The single-line array written before.
        let legacy = serde_json::to_vec(&entries).unwrap();
        assert_eq!(read_entries(&legacy[..]).unwrap(), entries);
        assert_eq!(read_entries(&b" [ ] "[..]).unwrap(), Vec::<Entry>::new());
    }

    #[test]
    fn a_damaged_entries_file_is_an_error_naming_the_line() {
        use thv_testkit::contract::store::entry;
        let mut text = Vec::new();
        write_entries(&mut text, &[entry("s", "io.x/a", "1"), entry("s", "io.x/b", "1")]).unwrap();
        let cut = text.len() - 10;
        assert!(read_entries(&text[..cut]).unwrap_err().contains("line 3"));
        let end = text.iter().rposition(|&b| b == b']').unwrap();
        assert!(read_entries(&text[..end]).unwrap_err().contains("before the closing"));
        let mut trailing = text.clone();
        trailing.extend_from_slice(b"{}\n");
        assert!(read_entries(&trailing[..]).unwrap_err().contains("after the closing"));
        let mut bad = text.clone();
        bad[5] = b'#';
        assert!(read_entries(&bad[..]).unwrap_err().starts_with("line 2: "));
        assert!(read_entries(&b"[{"[..]).is_err());
    }
}
