//! The immutable read model of one registry, and its queries.
//!
//! Rows are sorted by (name, version) byte-wise, which gives keyset pagination and an O(log n)
//! name lookup. A row's `ServerResponse` JSON is its server's stored text and its official
//! metadata written around it, so rendering a page is mostly copying bytes (and a rendered page
//! is kept by the page cache).

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::entry::{Entry, Stamps};

fn name_of(e: &Entry) -> &str {
    e.server.name().as_str()
}

fn version_of(e: &Entry) -> &str {
    e.server.version().as_str()
}

fn search_text_of(e: &Entry) -> &str {
    e.server.search_text()
}

/// The immutable read model of one registry.
#[derive(Debug, Default)]
pub struct Snapshot {
    generation: u64,
    rows: Arc<Vec<Entry>>,
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
    pub rows: Vec<&'a Entry>,
    /// Opaque cursor of the next page, when more rows may follow.
    pub next_cursor: Option<String>,
}

impl Snapshot {
    /// Builds a snapshot of entries (sorted by (name, version) here unless they are already, as
    /// [`crate::registry::merge`] returns them). Shared entries (a source's own list) are held,
    /// not copied, unless they need sorting.
    pub fn new(generation: u64, entries: impl Into<Arc<Vec<Entry>>>) -> Self {
        let mut rows = entries.into();
        if !rows.is_sorted_by(|a, b| key_cmp(a, b) != Ordering::Greater) {
            Arc::make_mut(&mut rows).sort_by(key_cmp);
        }
        let latest = rows.iter().enumerate().filter(|(_, r)| r.official.is_latest).map(|(i, _)| i).collect();
        let index = search::TrigramIndex::build(rows.iter().map(search_text_of));
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

    pub fn rows(&self) -> &[Entry] {
        &self.rows
    }

    /// Runs a list query: rows in (name, version) order after the cursor, at most `limit`.
    pub fn list<'a>(&'a self, q: &ListQuery) -> Page<'a> {
        let include_deleted = q.include_deleted || q.updated_since.is_some();
        let needle = q.search.as_ref().map(|s| s.to_lowercase());
        let matches = |r: &Entry| {
            (include_deleted || !r.is_deleted())
                && q.updated_since.is_none_or(|t| r.official.updated_at > t)
                && match &q.version {
                    None => true,
                    Some(VersionSelector::Latest) => r.official.is_latest,
                    Some(VersionSelector::Exact(v)) => version_of(r) == v,
                }
                && needle.as_ref().is_none_or(|n| search_text_of(r).contains(n.as_str()))
        };
        let after = |r: &Entry| match &q.after {
            None => true,
            Some((n, v)) => (name_of(r), version_of(r)) > (n.as_str(), v.as_str()),
        };
        let limit = q.limit.max(1);
        let mut rows = Vec::with_capacity(limit.min(128));
        let mut more = false;
        let mut take = |r: &'a Entry| -> bool {
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
        let candidates = needle.as_deref().and_then(|n| self.index.candidates(n));
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
        let next_cursor = if more { rows.last().map(|r| encode_cursor(name_of(r), version_of(r))) } else { None };
        Page { rows, next_cursor }
    }

    fn name_range(&self, name: &str) -> Range<usize> {
        let start = self.rows.partition_point(|r| name_of(r) < name);
        let end = start + self.rows[start..].partition_point(|r| name_of(r) == name);
        start..end
    }

    /// All visible versions of a server, newest `publishedAt` first; `None` when there is none.
    pub fn versions(&self, name: &str, include_deleted: bool) -> Option<Vec<&Entry>> {
        let mut rows: Vec<&Entry> =
            self.rows[self.name_range(name)].iter().filter(|r| include_deleted || !r.is_deleted()).collect();
        if rows.is_empty() {
            return None;
        }
        rows.sort_by(|a, b| {
            b.official.published_at.cmp(&a.official.published_at).then_with(|| version_of(b).cmp(version_of(a)))
        });
        Some(rows)
    }

    /// One version of a server (`latest` selects the version flagged latest).
    pub fn version(&self, name: &str, version: &VersionSelector, include_deleted: bool) -> Option<&Entry> {
        let range = self.name_range(name);
        let group = &self.rows[range];
        let row = match version {
            VersionSelector::Latest => group.iter().find(|r| r.official.is_latest),
            VersionSelector::Exact(v) => {
                group.binary_search_by(|r| version_of(r).cmp(v.as_str())).ok().map(|i| &group[i])
            }
        }?;
        (include_deleted || !row.is_deleted()).then_some(row)
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
pub fn render_list(rows: &[&Entry], next_cursor: Option<&str>) -> Vec<u8> {
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
    let mut stamps = Stamps::default();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        r.write_json(&mut out, &mut stamps);
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
