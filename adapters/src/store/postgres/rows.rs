//! Rows and domain values: what a `SELECT` returns decoded into sync statuses and entries
//! (unreadable data reported as [`StoreError::Corrupt`]), and entries laid out as the columns of
//! one bulk insert.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use thv_domain::{Entry, OfficialMeta, ServerJson, SourceName, SyncPhase, SyncStatus};
use thv_ports::{SourceState, StoreError};

use super::error::encode_error;

/// A source row: (name, status JSON text).
pub(super) type SourceRow = (String, String);
/// An entry row: (source, name, version, server.json text, official metadata JSON text).
pub(super) type EntryRow = (String, String, String, String, String);

fn corrupt(source: &str, detail: String) -> StoreError {
    StoreError::Corrupt { source_name: source.to_owned(), detail }
}

pub(super) fn decode_status(source: &str, raw: &str) -> Result<SyncStatus, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(source, format!("sync status: {e}")))
}

fn decode_entry(source: &SourceName, row: &EntryRow) -> Result<Entry, StoreError> {
    let (_, name, version, server, official) = row;
    let at = || format!("entry {name}@{version}");
    let server: ServerJson =
        serde_json::from_str(server).map_err(|e| corrupt(source.as_str(), format!("{}: server.json: {e}", at())))?;
    if server.name().as_str() != name || server.version().as_str() != version {
        return Err(corrupt(
            source.as_str(),
            format!("{}: its server.json is {}@{}", at(), server.name().as_str(), server.version().as_str()),
        ));
    }
    let official: OfficialMeta = serde_json::from_str(official)
        .map_err(|e| corrupt(source.as_str(), format!("{}: official metadata: {e}", at())))?;
    Ok(Entry { server: Arc::new(server), official, source: source.clone() })
}

/// Decodes entry rows of one source.
pub(super) fn decode_entries(source: &SourceName, rows: &[EntryRow]) -> Result<Vec<Entry>, StoreError> {
    rows.iter().map(|row| decode_entry(source, row)).collect()
}

/// Builds the state of one source from its rows (sorted by name, version).
pub(super) fn decode_source(source: &SourceName, status: &str, rows: &[EntryRow]) -> Result<SourceState, StoreError> {
    let status = decode_status(source.as_str(), status)?;
    let entries = decode_entries(source, rows)?;
    Ok(SourceState { source: source.clone(), entries, status })
}

/// What `load_all` returns for a source whose stored data cannot be read.
fn unreadable(source: SourceName, detail: &str) -> SourceState {
    let mut status = SyncStatus::pending();
    status.phase = SyncPhase::Failed;
    status.message = Some(format!("stored data could not be read and will be re-synced: {detail}"));
    SourceState { source, entries: Vec::new(), status }
}

/// Decodes every source (CPU work: run off the async workers).
pub(super) fn decode_all(sources: Vec<SourceRow>, rows: &[EntryRow]) -> Vec<SourceState> {
    let mut out = Vec::with_capacity(sources.len());
    let mut rest = rows;
    for (raw_name, status) in sources {
        // Rows are sorted by source, in the same byte order as the sources.
        let skip = rest.partition_point(|r| r.0.as_str() < raw_name.as_str());
        rest = &rest[skip..];
        let take = rest.partition_point(|r| r.0 == raw_name);
        let (mine, after) = rest.split_at(take);
        rest = after;
        let Ok(source) = SourceName::parse(&raw_name) else {
            tracing::warn!(source = %raw_name, "ignoring a stored source whose name is not a valid source name");
            continue;
        };
        match decode_source(&source, &status, mine) {
            Ok(state) => out.push(state),
            Err(e) => {
                let detail = match e {
                    StoreError::Corrupt { detail, .. } => detail,
                    other => other.to_string(),
                };
                tracing::warn!(source = %source, %detail, "stored data of a source is unreadable");
                out.push(unreadable(source, &detail));
            }
        }
    }
    out
}

/// The columns of one insert statement.
#[derive(Default)]
pub(super) struct Columns<'a> {
    pub(super) name: Vec<&'a str>,
    pub(super) version: Vec<&'a str>,
    pub(super) server_json: Vec<&'a str>,
    pub(super) official: Vec<String>,
    pub(super) content_hash: Vec<String>,
    pub(super) status: Vec<&'static str>,
    pub(super) published_at: Vec<DateTime<Utc>>,
    pub(super) updated_at: Vec<DateTime<Utc>>,
    pub(super) is_latest: Vec<bool>,
}

impl<'a> Columns<'a> {
    pub(super) fn of(entries: &'a [Entry]) -> Result<Self, StoreError> {
        let mut c = Self::default();
        for e in entries {
            c.name.push(e.server.name().as_str());
            c.version.push(e.server.version().as_str());
            c.server_json.push(e.server.json());
            c.official.push(serde_json::to_string(&e.official).map_err(|err| encode_error("official metadata", &err))?);
            c.content_hash.push(e.server.content_hash().to_hex());
            c.status.push(e.official.status.as_str());
            c.published_at.push(e.official.published_at);
            c.updated_at.push(e.official.updated_at);
            c.is_latest.push(e.official.is_latest);
        }
        Ok(c)
    }
}

pub(super) fn phase_name(status: &SyncStatus) -> Result<String, StoreError> {
    match serde_json::to_value(status.phase).map_err(|e| encode_error("sync phase", &e))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Internal(format!("sync phase encodes as {other}, not a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_their_rows_are_matched_up() {
        let row = |s: &str| (s.to_owned(), "n".to_owned(), "v".to_owned(), "{}".to_owned(), "{}".to_owned());
        let status = serde_json::to_string(&SyncStatus::pending()).unwrap();
        // Sorted byte-wise, as the query returns them.
        let sources = vec![
            ("Not A Label".to_owned(), status.clone()),
            ("a".to_owned(), status.clone()),
            ("b".to_owned(), status.clone()),
            ("c".to_owned(), "{garbage".to_owned()),
        ];
        // Rows of "b" are corrupt; "a" has none; an orphan row of "aa" is skipped.
        let rows = vec![row("aa"), row("b"), row("b")];
        let all = decode_all(sources, &rows);
        let names: Vec<&str> = all.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(all[0].status, SyncStatus::pending());
        assert_eq!(all[1].status.phase, SyncPhase::Failed);
        assert!(all[1].status.message.as_deref().unwrap().contains("entry n@v: server.json"), "{:?}", all[1].status);
        assert_eq!(all[2].status.phase, SyncPhase::Failed);
    }
}
