//! The immutable, pre-rendered read model of one registry, and its queries.
//!
//! Rows are sorted by (name, version) byte-wise, which gives keyset pagination and an O(log n)
//! name lookup. Each row's `ServerResponse` JSON is rendered once when the snapshot is built, so
//! answering a request is mostly copying bytes.

use std::cmp::Ordering;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::entry::{Entry, response_len, write_response};

/// One row: an entry and its official metadata pre-rendered. The response body of a row is put
/// together from the server's stored JSON and the metadata when asked for (a copy of two
/// slices), so the document is held once, not twice; `search` looks in the server's own
/// search text ([`crate::ServerJson::search_text`]).
#[derive(Debug, Clone)]
pub struct Row {
    pub entry: Entry,
    /// The official `_meta` object's JSON.
    meta: Box<[u8]>,
}

impl Row {
    /// Length of [`Row::write_json`]'s output.
    pub fn json_len(&self) -> usize {
        response_len(self.entry.server.json(), &self.meta)
    }

    /// Appends the `ServerResponse` JSON of this row (see [`write_response`]).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_response(out, self.entry.server.json(), &self.meta);
    }

    /// The `ServerResponse` JSON of this row.
    pub fn json(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.json_len());
        self.write_json(&mut out);
        Bytes::from(out)
    }

    fn name(&self) -> &str {
        self.entry.server.name().as_str()
    }

    fn search_text(&self) -> &str {
        self.entry.server.search_text()
    }

    fn version(&self) -> &str {
        self.entry.server.version().as_str()
    }
}

/// The immutable read model of one registry.
#[derive(Debug, Default)]
pub struct Snapshot {
    generation: u64,
    rows: Vec<Row>,
    /// Indices of the rows flagged latest, in row order.
    latest: Vec<usize>,
    /// Rows by trigram of their search text (see [`search`]).
    index: search::TrigramIndex,
}

/// Which versions a list query wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Exact(String),
}

/// A validated list query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Start strictly after this (name, version).
    pub after: Option<(String, String)>,
    pub limit: usize,
    /// Case-insensitive substring of name, title or description.
    pub search: Option<String>,
    /// Only rows updated strictly after this instant (deleted rows included).
    pub updated_since: Option<DateTime<Utc>>,
    pub version: Option<VersionSelector>,
    pub include_deleted: bool,
}

/// One page of a list query.
#[derive(Debug)]
pub struct Page<'a> {
    pub rows: Vec<&'a Row>,
    /// Opaque cursor of the next page, when more rows may follow.
    pub next_cursor: Option<String>,
}

impl Snapshot {
    /// Builds a snapshot from entries sorted by (name, version) (as [`crate::registry::merge`]
    /// returns them).
    pub fn new(generation: u64, mut entries: Vec<Entry>) -> Self {
        entries.sort_by(key_cmp);
        let rows: Vec<Row> = entries
            .into_iter()
            .map(|entry| {
                let meta = serde_json::to_vec(&entry.official).unwrap_or_default().into_boxed_slice();
                Row { entry, meta }
            })
            .collect();
        let latest = rows.iter().enumerate().filter(|(_, r)| r.entry.official.is_latest).map(|(i, _)| i).collect();
        let index = search::TrigramIndex::build(rows.iter().map(Row::search_text));
        Self { generation, rows, latest, index }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Number of distinct server names.
    pub fn server_count(&self) -> usize {
        self.latest.len()
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Runs a list query: rows in (name, version) order after the cursor, at most `limit`.
    pub fn list<'a>(&'a self, q: &ListQuery) -> Page<'a> {
        let include_deleted = q.include_deleted || q.updated_since.is_some();
        let needle = q.search.as_ref().map(|s| s.to_lowercase());
        let matches = |r: &Row| {
            (include_deleted || !r.entry.is_deleted())
                && q.updated_since.is_none_or(|t| r.entry.official.updated_at > t)
                && match &q.version {
                    None => true,
                    Some(VersionSelector::Latest) => r.entry.official.is_latest,
                    Some(VersionSelector::Exact(v)) => r.version() == v,
                }
                && needle.as_ref().is_none_or(|n| r.search_text().contains(n.as_str()))
        };
        let after = |r: &Row| match &q.after {
            None => true,
            Some((n, v)) => (r.name(), r.version()) > (n.as_str(), v.as_str()),
        };
        let limit = q.limit.max(1);
        let mut rows = Vec::with_capacity(limit.min(128));
        let mut more = false;
        let mut take = |r: &'a Row| -> bool {
            if !matches(r) {
                return true;
            }
            if rows.len() == limit {
                more = true;
                return false;
            }
            rows.push(r);
            true
        };
        let candidates = needle.as_deref().and_then(|n| self.index.candidates(n, self.rows.len()));
        if let Some(candidates) = candidates {
            // Only rows holding the needle's rarest trigram can match; `matches` checks each.
            let start = self.rows.partition_point(|r| !after(r));
            for i in candidates.skip_while(|&i| i < start) {
                if !take(&self.rows[i]) {
                    break;
                }
            }
        } else if matches!(q.version, Some(VersionSelector::Latest)) {
            let start = self.latest.partition_point(|&i| !after(&self.rows[i]));
            for &i in &self.latest[start..] {
                if !take(&self.rows[i]) {
                    break;
                }
            }
        } else {
            let start = self.rows.partition_point(|r| !after(r));
            for r in &self.rows[start..] {
                if !take(r) {
                    break;
                }
            }
        }
        let next_cursor = if more { rows.last().map(|r| encode_cursor(r.name(), r.version())) } else { None };
        Page { rows, next_cursor }
    }

    fn name_range(&self, name: &str) -> Range<usize> {
        let start = self.rows.partition_point(|r| r.name() < name);
        let end = start + self.rows[start..].partition_point(|r| r.name() == name);
        start..end
    }

    /// All visible versions of a server, newest `publishedAt` first; `None` when there is none.
    pub fn versions(&self, name: &str, include_deleted: bool) -> Option<Vec<&Row>> {
        let mut rows: Vec<&Row> =
            self.rows[self.name_range(name)].iter().filter(|r| include_deleted || !r.entry.is_deleted()).collect();
        if rows.is_empty() {
            return None;
        }
        rows.sort_by(|a, b| {
            b.entry.official.published_at.cmp(&a.entry.official.published_at).then_with(|| b.version().cmp(a.version()))
        });
        Some(rows)
    }

    /// One version of a server (`latest` selects the version flagged latest).
    pub fn version(&self, name: &str, version: &VersionSelector, include_deleted: bool) -> Option<&Row> {
        let range = self.name_range(name);
        let group = &self.rows[range];
        let row = match version {
            VersionSelector::Latest => group.iter().find(|r| r.entry.official.is_latest),
            VersionSelector::Exact(v) => {
                group.binary_search_by(|r| r.version().cmp(v.as_str())).ok().map(|i| &group[i])
            }
        }?;
        (include_deleted || !row.entry.is_deleted()).then_some(row)
    }

    /// Whether a server name exists at all (any version, deleted included).
    pub fn has_server(&self, name: &str) -> bool {
        !self.name_range(name).is_empty()
    }
}

fn key_cmp(a: &Entry, b: &Entry) -> Ordering {
    (a.server.name().as_str(), a.server.version().as_str())
        .cmp(&(b.server.name().as_str(), b.server.version().as_str()))
}

/// Renders a `ServerList` body: `{"servers":[…],"metadata":{"nextCursor"?,"count"}}`.
///
/// The buffer is sized exactly before anything is written: pages are kept in the page cache,
/// where a buffer that had to grow would hold up to twice its length (the cache weighs pages by
/// their length).
pub fn render_list(rows: &[&Row], next_cursor: Option<&str>) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"servers\":[";
    let mut tail = String::from("],\"metadata\":{");
    if let Some(c) = next_cursor {
        tail.push_str("\"nextCursor\":");
        tail.push_str(&serde_json::to_string(c).unwrap_or_default());
        tail.push(',');
    }
    tail.push_str("\"count\":");
    tail.push_str(&rows.len().to_string());
    tail.push_str("}}");
    let size =
        HEAD.len() + rows.iter().map(|r| r.json_len()).sum::<usize>() + rows.len().saturating_sub(1) + tail.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(HEAD);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        r.write_json(&mut out);
    }
    out.extend_from_slice(tail.as_bytes());
    debug_assert_eq!(out.len(), size, "render_list sized its buffer wrongly");
    out
}

/// Why a cursor was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: use the exact `metadata.nextCursor` value of the previous page")]
pub struct CursorError;

/// Encodes a position as an opaque, URL-safe cursor.
pub fn encode_cursor(name: &str, version: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{name}:{version}"))
}

/// Decodes a cursor made by [`encode_cursor`]; the official registry's plain `name:version` form
/// is accepted too (it always contains a `/`, which our cursors never do).
///
/// # Errors
/// [`CursorError`] when the cursor is neither.
pub fn decode_cursor(cursor: &str) -> Result<(String, String), CursorError> {
    let plain = if cursor.contains('/') {
        cursor.to_owned()
    } else {
        let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).map_err(|_| CursorError)?;
        String::from_utf8(bytes).map_err(|_| CursorError)?
    };
    let (name, version) = plain.split_once(':').ok_or(CursorError)?;
    if name.is_empty() || version.is_empty() || !name.contains('/') {
        return Err(CursorError);
    }
    Ok((name.to_owned(), version.to_owned()))
}

mod search;
#[cfg(test)]
mod tests;
